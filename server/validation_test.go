package server_test

import (
	"strings"
	"testing"
	"time"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// TestValidation sends one bad request per rule family to every service and
// expects InvalidArgument naming the field in a buf.validate.Violations detail.
func TestValidation(t *testing.T) {
	e := newEnv(t, databases()[0])
	tid := e.tenant(t)
	uid := e.user(t, tid, "ada@example.com").GetId()
	gid := e.group(t, tid, "eng").GetId()
	long := string(make([]byte, 300))

	tests := []struct {
		name      string
		call      func() error
		wantField string
	}{
		{"tenant empty name", func() error {
			_, err := e.tenants.CreateTenant(e.ctx, &identityv1.CreateTenantRequest{})
			return err
		}, "display_name"},
		{"tenant id not uuid", func() error {
			_, err := e.tenants.GetTenant(e.ctx, &identityv1.GetTenantRequest{TenantId: "../etc"})
			return err
		}, "tenant_id"},
		{"tenant page size too big", func() error {
			_, err := e.tenants.ListTenants(e.ctx, &identityv1.ListTenantsRequest{PageSize: 1001})
			return err
		}, "page_size"},
		{"tenant update mask unknown path", func() error {
			_, err := e.tenants.UpdateTenant(e.ctx, &identityv1.UpdateTenantRequest{
				Tenant: &identityv1.Tenant{Id: tid, DisplayName: "x"}, UpdateMask: maskOf("version"),
			})
			return err
		}, "update_mask"},
		{"tenant update without mask", func() error {
			_, err := e.tenants.UpdateTenant(e.ctx, &identityv1.UpdateTenantRequest{Tenant: &identityv1.Tenant{Id: tid, DisplayName: "x"}})
			return err
		}, "update_mask"},
		{"user without user_name", func() error {
			_, err := e.users.CreateUser(e.ctx, &identityv1.CreateUserRequest{TenantId: tid, User: &identityv1.User{DisplayName: "x"}})
			return err
		}, "user"},
		{"user bad email", func() error {
			_, err := e.users.CreateUser(e.ctx, &identityv1.CreateUserRequest{TenantId: tid, User: &identityv1.User{
				UserName: "b", Emails: []*identityv1.Email{{Value: "not an email"}},
			}})
			return err
		}, "user.emails[0].value"},
		{"user name too long", func() error {
			_, err := e.users.CreateUser(e.ctx, &identityv1.CreateUserRequest{TenantId: tid, User: &identityv1.User{UserName: long}})
			return err
		}, "user.user_name"},
		{"user bad custom attribute key", func() error {
			_, err := e.users.CreateUser(e.ctx, &identityv1.CreateUserRequest{TenantId: tid, User: &identityv1.User{
				UserName: "c", CustomAttributes: map[string]string{"1 bad": "x"},
			}})
			return err
		}, "user.custom_attributes"},
		{"user filter empty prefix", func() error {
			_, err := e.users.ListUsers(e.ctx, &identityv1.ListUsersRequest{TenantId: tid, Filter: &identityv1.UserFilter{
				UserName: &identityv1.StringFilter{Condition: &identityv1.StringFilter_StartsWith{}},
			}})
			return err
		}, "filter.user_name.starts_with"},
		{"user update empties user_name", func() error {
			_, err := e.users.UpdateUser(e.ctx, &identityv1.UpdateUserRequest{
				User: &identityv1.User{TenantId: tid, Id: uid}, UpdateMask: maskOf("user_name"),
			})
			return err
		}, ""},
		{"user update mask unknown path", func() error {
			_, err := e.users.UpdateUser(e.ctx, &identityv1.UpdateUserRequest{
				User: &identityv1.User{TenantId: tid, Id: uid}, UpdateMask: maskOf("create_time"),
			})
			return err
		}, "update_mask"},
		{"group without name", func() error {
			_, err := e.groups.CreateGroup(e.ctx, &identityv1.CreateGroupRequest{TenantId: tid, Group: &identityv1.Group{}})
			return err
		}, "group"},
		{"group members not uuids", func() error {
			_, err := e.groups.AddGroupMembers(e.ctx, &identityv1.AddGroupMembersRequest{TenantId: tid, GroupId: gid, UserIds: []string{"x"}})
			return err
		}, "user_ids[0]"},
		{"group members empty", func() error {
			_, err := e.groups.AddGroupMembers(e.ctx, &identityv1.AddGroupMembersRequest{TenantId: tid, GroupId: gid})
			return err
		}, "user_ids"},
		{"group members repeated", func() error {
			_, err := e.groups.RemoveGroupMembers(e.ctx, &identityv1.RemoveGroupMembersRequest{TenantId: tid, GroupId: gid, UserIds: []string{uid, uid}})
			return err
		}, "user_ids"},
		{"role bad permission", func() error {
			_, err := e.roles.CreateRole(e.ctx, &identityv1.CreateRoleRequest{TenantId: tid, Role: &identityv1.Role{Name: "r", Permissions: []string{"has space"}}})
			return err
		}, "role.permissions[0]"},
		{"role assign without roles", func() error {
			_, err := e.roles.AssignRoles(e.ctx, &identityv1.AssignRolesRequest{TenantId: tid, UserId: uid})
			return err
		}, "role_ids"},
		{"project update empty name", func() error {
			_, err := e.projects.UpdateProject(e.ctx, &identityv1.UpdateProjectRequest{Project: &identityv1.Project{Id: newUUID()}, UpdateMask: maskOf("display_name")})
			return err
		}, "project.display_name"},
		{"tenant delete bad id", func() error {
			_, err := e.tenants.DeleteTenant(e.ctx, &identityv1.DeleteTenantRequest{TenantId: "x"})
			return err
		}, "tenant_id"},
		{"user get without id", func() error {
			_, err := e.users.GetUser(e.ctx, &identityv1.GetUserRequest{TenantId: tid})
			return err
		}, "user_id"},
		{"user delete bad id", func() error {
			_, err := e.users.DeleteUser(e.ctx, &identityv1.DeleteUserRequest{TenantId: tid, UserId: "1"})
			return err
		}, "user_id"},
		{"group get bad id", func() error {
			_, err := e.groups.GetGroup(e.ctx, &identityv1.GetGroupRequest{TenantId: tid, GroupId: "g"})
			return err
		}, "group_id"},
		{"group list bad member filter", func() error {
			_, err := e.groups.ListGroups(e.ctx, &identityv1.ListGroupsRequest{TenantId: tid, Filter: &identityv1.GroupFilter{MemberUserId: "u"}})
			return err
		}, "filter.member_user_id"},
		{"group update empties name", func() error {
			_, err := e.groups.UpdateGroup(e.ctx, &identityv1.UpdateGroupRequest{Group: &identityv1.Group{TenantId: tid, Id: gid}, UpdateMask: maskOf("*")})
			return err
		}, ""},
		{"group delete without tenant", func() error {
			_, err := e.groups.DeleteGroup(e.ctx, &identityv1.DeleteGroupRequest{GroupId: gid})
			return err
		}, "tenant_id"},
		{"group members page size negative", func() error {
			_, err := e.groups.ListGroupMembers(e.ctx, &identityv1.ListGroupMembersRequest{TenantId: tid, GroupId: gid, PageSize: -1})
			return err
		}, "page_size"},
		{"role get bad id", func() error {
			_, err := e.roles.GetRole(e.ctx, &identityv1.GetRoleRequest{TenantId: tid, RoleId: "r"})
			return err
		}, "role_id"},
		{"role list filter without condition", func() error {
			_, err := e.roles.ListRoles(e.ctx, &identityv1.ListRolesRequest{TenantId: tid, Filter: &identityv1.RoleFilter{Name: &identityv1.StringFilter{}}})
			return err
		}, "filter.name.condition"},
		{"role update bad ids", func() error {
			_, err := e.roles.UpdateRole(e.ctx, &identityv1.UpdateRoleRequest{Role: &identityv1.Role{TenantId: tid, Id: "x", Name: "n"}, UpdateMask: maskOf("name")})
			return err
		}, "role"},
		{"role delete without id", func() error {
			_, err := e.roles.DeleteRole(e.ctx, &identityv1.DeleteRoleRequest{TenantId: tid})
			return err
		}, "role_id"},
		{"role unassign too many", func() error {
			ids := make([]string, 101)
			for i := range ids {
				ids[i] = newUUID()
			}
			_, err := e.roles.UnassignRoles(e.ctx, &identityv1.UnassignRolesRequest{TenantId: tid, UserId: uid, RoleIds: ids})
			return err
		}, "role_ids"},
		{"role list assigned bad user", func() error {
			_, err := e.roles.ListAssignedRoles(e.ctx, &identityv1.ListAssignedRolesRequest{TenantId: tid, UserId: "u"})
			return err
		}, "user_id"},
		{"access key without name", func() error {
			_, err := e.keys.CreateAccessKey(e.ctx, &identityv1.CreateAccessKeyRequest{RoleBindings: []*identityv1.RoleBinding{{Role: "Project Admin"}}})
			return err
		}, "name"},
		{"access key bad id", func() error {
			_, err := e.keys.GetAccessKey(e.ctx, &identityv1.GetAccessKeyRequest{AccessKeyId: "ZZ"})
			return err
		}, "access_key_id"},
		{"access key list page too big", func() error {
			_, err := e.keys.ListAccessKeys(e.ctx, &identityv1.ListAccessKeysRequest{PageSize: 5000})
			return err
		}, "page_size"},
		{"access key update drops every binding", func() error {
			_, err := e.keys.UpdateAccessKey(e.ctx, &identityv1.UpdateAccessKeyRequest{
				AccessKey: &identityv1.AccessKey{Id: strings.Repeat("a", 32)}, UpdateMask: maskOf("role_bindings"),
			})
			return err
		}, ""},
		{"access key revoke bad id", func() error {
			_, err := e.keys.RevokeAccessKey(e.ctx, &identityv1.RevokeAccessKeyRequest{AccessKeyId: "x"})
			return err
		}, "access_key_id"},
		{"access key delete bad id", func() error {
			_, err := e.keys.DeleteAccessKey(e.ctx, &identityv1.DeleteAccessKeyRequest{})
			return err
		}, "access_key_id"},
		{"saml get bad tenant", func() error {
			_, err := e.sso.GetSamlConfig(e.ctx, &identityv1.GetSamlConfigRequest{TenantId: "t"})
			return err
		}, "tenant_id"},
		{"saml set without metadata", func() error {
			_, err := e.sso.SetSamlConfig(e.ctx, &identityv1.SetSamlConfigRequest{TenantId: tid})
			return err
		}, "metadata"},
		{"saml delete bad tenant", func() error {
			_, err := e.sso.DeleteSamlConfig(e.ctx, &identityv1.DeleteSamlConfigRequest{})
			return err
		}, "tenant_id"},
		{"sp metadata bad tenant", func() error {
			_, err := e.sso.GetServiceProviderMetadata(e.ctx, &identityv1.GetServiceProviderMetadataRequest{TenantId: "t"})
			return err
		}, "tenant_id"},
		{"scim status bad tenant", func() error {
			_, err := e.scim.GetScimStatus(e.ctx, &identityv1.GetScimStatusRequest{TenantId: "t"})
			return err
		}, "tenant_id"},
		{"scim enable bad tenant", func() error {
			_, err := e.scim.EnableScim(e.ctx, &identityv1.EnableScimRequest{TenantId: "t"})
			return err
		}, "tenant_id"},
		{"scim disable bad tenant", func() error {
			_, err := e.scim.DisableScim(e.ctx, &identityv1.DisableScimRequest{TenantId: "t"})
			return err
		}, "tenant_id"},
		{"scim rotate grace too long", func() error {
			_, err := e.scim.RotateScimToken(e.ctx, &identityv1.RotateScimTokenRequest{TenantId: tid, GracePeriod: durationpb.New(31 * 24 * time.Hour)})
			return err
		}, "grace_period"},
		{"map roles to group bad role id", func() error {
			_, err := e.groups.MapGroupRoles(e.ctx, &identityv1.MapGroupRolesRequest{TenantId: tid, GroupId: gid, RoleIds: []string{"r"}})
			return err
		}, "role_ids[0]"},
		{"unmap nothing", func() error {
			_, err := e.groups.UnmapGroupRoles(e.ctx, &identityv1.UnmapGroupRolesRequest{TenantId: tid, GroupId: gid})
			return err
		}, "role_ids"},
		{"group roles bad group", func() error {
			_, err := e.groups.ListGroupRoles(e.ctx, &identityv1.ListGroupRolesRequest{TenantId: tid, GroupId: "g"})
			return err
		}, "group_id"},
		{"check role without user", func() error {
			_, err := e.authz().CheckRole(e.ctx, &identityv1.CheckRoleRequest{TenantId: tid, Role: "r"})
			return err
		}, "user"},
		{"check role without role", func() error {
			_, err := e.authz().CheckRole(e.ctx, &identityv1.CheckRoleRequest{TenantId: tid, User: byID(uid)})
			return err
		}, "role"},
		{"check permission bad user id", func() error {
			_, err := e.authz().CheckPermission(e.ctx, &identityv1.CheckPermissionRequest{TenantId: tid, User: byID("u"), Permission: "p"})
			return err
		}, "user.user_id"},
		{"batch check empty", func() error {
			_, err := e.authz().BatchCheck(e.ctx, &identityv1.BatchCheckRequest{TenantId: tid})
			return err
		}, ""},
		{"batch check in both shapes", func() error {
			_, err := e.authz().BatchCheck(e.ctx, &identityv1.BatchCheckRequest{TenantId: tid,
				Checks:  []*identityv1.Check{{User: byID(uid), What: &identityv1.Check_Role{Role: "r"}}},
				Columns: &identityv1.CheckColumns{UserIds: []string{uid}, Roles: []string{"r"}}})
			return err
		}, ""},
		{"batch check columns of two lengths", func() error {
			_, err := e.authz().BatchCheck(e.ctx, &identityv1.BatchCheckRequest{TenantId: tid,
				Columns: &identityv1.CheckColumns{UserIds: []string{uid, uid}, Roles: []string{"r"}}})
			return err
		}, ""},
		{"batch check columns with users by id and by name", func() error {
			_, err := e.authz().BatchCheck(e.ctx, &identityv1.BatchCheckRequest{TenantId: tid,
				Columns: &identityv1.CheckColumns{UserIds: []string{uid}, UserNames: []string{"a"}, Roles: []string{"r", "s"}}})
			return err
		}, ""},

		{"batch check neither role nor permission", func() error {
			_, err := e.authz().BatchCheck(e.ctx, &identityv1.BatchCheckRequest{TenantId: tid, Checks: []*identityv1.Check{{User: byID(uid)}}})
			return err
		}, ""},
		{"user roles negative revision", func() error {
			_, err := e.authz().ListUserRoles(e.ctx, &identityv1.ListUserRolesRequest{TenantId: tid, User: byID(uid), AtLeastRevision: -1})
			return err
		}, "at_least_revision"},
		{"role members bad role", func() error {
			_, err := e.authz().ListRoleMembers(e.ctx, &identityv1.ListRoleMembersRequest{TenantId: tid, RoleId: "r"})
			return err
		}, "role_id"},
		{"watch bad tenant", func() error {
			s, err := e.authz().WatchRoleChanges(e.ctx, &identityv1.WatchRoleChangesRequest{TenantId: "t"})
			if err == nil {
				_, err = s.Recv()
			}
			return err
		}, "tenant_id"},
		{"project id not uuid", func() error {
			_, err := e.projects.GetProject(e.ctx, &identityv1.GetProjectRequest{ProjectId: "p"})
			return err
		}, "project_id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			wantCode(t, err, codes.InvalidArgument)
			var violations *validate.Violations
			for _, d := range status.Convert(err).Details() {
				if v, ok := d.(*validate.Violations); ok {
					violations = v
				}
			}
			if violations == nil || len(violations.GetViolations()) == 0 {
				t.Fatalf("no field violations in %v", err)
			}
			if tc.wantField == "" {
				return
			}
			for _, v := range violations.GetViolations() {
				if fieldPath(v) == tc.wantField {
					return
				}
			}
			t.Fatalf("no violation of %s in %v", tc.wantField, violations)
		})
	}
}

// fieldPath renders a violation's field path as "a.b[0].c".
func fieldPath(v *validate.Violation) string {
	var out string
	for i, el := range v.GetField().GetElements() {
		if i > 0 {
			out += "."
		}
		out += el.GetFieldName()
		if s, ok := el.GetSubscript().(*validate.FieldPathElement_Index); ok {
			out += "[" + itoa(s.Index) + "]"
		}
	}
	return out
}

func itoa(i uint64) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
