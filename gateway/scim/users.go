package scim

import (
	"context"
	"net/http"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/acme/identity/gateway/scim/patch"
	"github.com/acme/identity/gateway/scim/resource"
	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// scimUserMask names what a SCIM user carries: PUT and PATCH replace these
// and leave the API's custom attributes alone.
var scimUserMask = &fieldmaskpb.FieldMask{Paths: []string{
	"user_name", "external_id", "name", "display_name", "emails", "phone_numbers", "active", "title",
	"nick_name", "profile_url", "user_type", "preferred_language", "locale", "timezone", "addresses", "enterprise",
	"ims", "photos", "entitlements", "roles", "x509_certificates",
}}

// users is the Users resource type over the core's UserService; a user's
// groups, returned on request, come from the GroupService.
type users struct {
	api    identityv1.UserServiceClient
	groups identityv1.GroupServiceClient
	base   string // the public SCIM base URL
}

var _ resourceType[resource.User] = users{}

func (users) endpoint() string     { return "Users" }
func (users) noun() string         { return "user" }
func (users) whitelist() whitelist { return userWhitelist }

func (users) check(u *resource.User) error {
	if err := checkSchemas(u.Schemas, resource.UserSchema, resource.EnterpriseSchema); err != nil {
		return err
	}
	if u.UserName == "" {
		return errorf(http.StatusBadRequest, "invalidValue", "userName is required")
	}
	// RFC 7643 2.4: "primary" true appears at most once per attribute.
	for name, n := range map[string]int{"emails": primaries(u.Emails, func(e resource.Email) bool { return bool(e.Primary) }),
		"phoneNumbers":     primaries(u.PhoneNumbers, func(p resource.Phone) bool { return bool(p.Primary) }),
		"addresses":        primaries(u.Addresses, func(a resource.Address) bool { return bool(a.Primary) }),
		"ims":              primaries(u.Ims, multiPrimary),
		"photos":           primaries(u.Photos, multiPrimary),
		"entitlements":     primaries(u.Entitlements, multiPrimary),
		"roles":            primaries(u.Roles, multiPrimary),
		"x509Certificates": primaries(u.X509Certificates, multiPrimary)} {
		if n > 1 {
			return errorf(http.StatusBadRequest, "invalidValue", "at most one of %s may be primary", name)
		}
	}
	return nil
}

func multiPrimary(m resource.MultiValue) bool { return bool(m.Primary) }

func primaries[T any](list []T, primary func(T) bool) int {
	n := 0
	for _, e := range list {
		if primary(e) {
			n++
		}
	}
	return n
}

// render maps a user onto SCIM, with its manager's displayName, and its
// groups when the answer returns them.
func (t users) render(ctx context.Context, u *identityv1.User, want func(string) bool) (*resource.User, error) {
	out := resource.UserFromProto(u, t.base)
	if err := t.managers(ctx, u.GetTenantId(), []*resource.User{out}); err != nil {
		return nil, err
	}
	if want("groups") {
		var err error
		if out.Groups, err = t.groupsOf(ctx, u); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// groupsOf reads a user's groups (RFC 7643 4.1.2: direct memberships; a
// group is also the role of its name).
func (t users) groupsOf(ctx context.Context, u *identityv1.User) ([]resource.GroupValue, error) {
	out := []resource.GroupValue{}
	token := ""
	for {
		resp, err := t.groups.ListGroups(ctx, &identityv1.ListGroupsRequest{
			TenantId: u.GetTenantId(), PageSize: 1000, PageToken: token, Filter: &identityv1.GroupFilter{MemberUserId: u.GetId()},
		})
		if err != nil {
			return nil, err
		}
		for _, g := range resp.GetGroups() {
			out = append(out, resource.GroupValue{
				Value: g.GetId(), Ref: t.base + "/Groups/" + g.GetId(), Display: g.GetDisplayName(), Type: "direct",
			})
		}
		if token = resp.GetNextPageToken(); token == "" {
			return out, nil
		}
	}
}

// managers fills in the read-only manager.displayName of users (RFC 7643
// 4.3) from their managers in the tenant, with one list call per 200
// managers rather than one read each; a manager that is not a user of the
// tenant keeps only its value.
func (t users) managers(ctx context.Context, tenant string, us []*resource.User) error {
	byID := map[string][]*resource.Manager{}
	for _, u := range us {
		if e := u.Enterprise; e != nil && e.Manager != nil && e.Manager.Value != "" {
			byID[e.Manager.Value] = append(byID[e.Manager.Value], e.Manager)
		}
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 200)]
		ids = ids[len(chunk):]
		expr := &identityv1.FilterExpression{Nodes: []*identityv1.FilterNode{{Node: &identityv1.FilterNode_Any{Any: &identityv1.FilterOperands{}}}}}
		for _, id := range chunk {
			expr.Nodes[0].GetAny().Operands = append(expr.Nodes[0].GetAny().Operands, int32(len(expr.Nodes)))
			expr.Nodes = append(expr.Nodes, &identityv1.FilterNode{Node: &identityv1.FilterNode_Condition{Condition: &identityv1.FilterCondition{
				Attribute: "id", Operator: identityv1.FilterOperator_FILTER_OPERATOR_EQ,
				Value: &identityv1.FilterCondition_StringValue{StringValue: id},
			}}})
		}
		resp, err := t.api.ListUsers(ctx, &identityv1.ListUsersRequest{TenantId: tenant, PageSize: int32(len(chunk)), Filter: &identityv1.UserFilter{Expression: expr}})
		if err != nil {
			return err
		}
		for _, m := range resp.GetUsers() {
			for _, ref := range byID[m.GetId()] {
				ref.DisplayName = m.GetDisplayName()
			}
		}
	}
	return nil
}

func (t users) list(ctx context.Context, c listCall, want func(string) bool) (listed[resource.User], error) {
	req := &identityv1.ListUsersRequest{TenantId: c.tenant, PageSize: c.pageSize, PageToken: c.token, Skip: c.skip, OrderBy: c.order}
	if c.filter != nil {
		req.Filter = &identityv1.UserFilter{Expression: c.filter}
	}
	resp, err := t.api.ListUsers(ctx, req)
	if err != nil {
		return listed[resource.User]{}, err
	}
	page := listed[resource.User]{total: int(resp.GetTotalSize()), next: resp.GetNextPageToken()}
	for _, u := range resp.GetUsers() {
		out := resource.UserFromProto(u, t.base)
		if want("groups") {
			if out.Groups, err = t.groupsOf(ctx, u); err != nil {
				return listed[resource.User]{}, err
			}
		}
		page.items = append(page.items, out)
	}
	return page, t.managers(ctx, c.tenant, page.items)
}

func (t users) get(ctx context.Context, id string, want func(string) bool) (*resource.User, error) {
	resp, err := t.api.GetUser(ctx, &identityv1.GetUserRequest{TenantId: tenantOf(ctx), UserId: id})
	if err != nil {
		return nil, err
	}
	return t.render(ctx, resp.GetUser(), want)
}

func (t users) create(ctx context.Context, u *resource.User) (*resource.User, error) {
	resp, err := t.api.CreateUser(ctx, &identityv1.CreateUserRequest{TenantId: tenantOf(ctx), User: resource.UserToProto(u)})
	if err != nil {
		return nil, err
	}
	return t.render(ctx, resp.GetUser(), byDefault)
}

func (t users) replace(ctx context.Context, id string, u *resource.User, expected int64) (*resource.User, error) {
	in := resource.UserToProto(u)
	in.TenantId, in.Id = tenantOf(ctx), id
	resp, err := t.api.UpdateUser(ctx, &identityv1.UpdateUserRequest{User: in, UpdateMask: scimUserMask, ExpectedVersion: expected})
	if err != nil {
		return nil, err
	}
	return t.render(ctx, resp.GetUser(), byDefault)
}

// patch applies a PATCH to the current user and writes it back guarded by
// the version it read, retrying when another write came in between (unless
// the client's If-Match pinned the version).
func (t users) patch(ctx context.Context, id string, ops []patch.Operation, expected int64) (*resource.User, error) {
	for attempt := 0; ; attempt++ {
		cur, err := t.get(ctx, id, byDefault)
		if err != nil {
			return nil, err
		}
		version, _ := resource.ParseETag(cur.Meta.Version)
		if expected != 0 && version != expected {
			return nil, errorf(http.StatusPreconditionFailed, "", "the user is at version %s, not %s", cur.Meta.Version, resource.ETag(expected))
		}
		if err := patch.ApplyUser(cur, ops); err != nil {
			return nil, err
		}
		out, err := t.replace(ctx, id, cur, version)
		if st := toSCIMError(err); err != nil && st.Status == http.StatusPreconditionFailed && expected == 0 && attempt < 3 {
			continue
		}
		return out, err
	}
}

func (t users) delete(ctx context.Context, id string, expected int64) error {
	_, err := t.api.DeleteUser(ctx, &identityv1.DeleteUserRequest{TenantId: tenantOf(ctx), UserId: id, ExpectedVersion: expected})
	return err
}
