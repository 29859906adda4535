package server_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/acme/identity/ent/change"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/store/scope"
)

// TestModifyGroupIsAllOrNothing applies lists of group changes: one that
// fails anywhere changes nothing (no rename kept, no revision used); one
// that succeeds is one revision holding all of its events.
func TestModifyGroupIsAllOrNothing(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		e := newEnv(t, db)
		tid := e.tenant(t)
		ada, grace := e.user(t, tid, "ada"), e.user(t, tid, "grace")
		g := e.group(t, tid, "Engineering", ada.GetId())
		rename := func(name string) *identityv1.GroupChange {
			return &identityv1.GroupChange{Change: &identityv1.GroupChange_DisplayName{DisplayName: name}}
		}
		add := func(ids ...string) *identityv1.GroupChange {
			return &identityv1.GroupChange{Change: &identityv1.GroupChange_AddMembers{AddMembers: &identityv1.GroupMemberIds{UserIds: ids}}}
		}
		remove := func(ids ...string) *identityv1.GroupChange {
			return &identityv1.GroupChange{Change: &identityv1.GroupChange_RemoveMembers{RemoveMembers: &identityv1.GroupMemberIds{UserIds: ids}}}
		}
		modify := func(expected int64, changes ...*identityv1.GroupChange) (*identityv1.ModifyGroupResponse, error) {
			return e.groups.ModifyGroup(e.ctx, &identityv1.ModifyGroupRequest{TenantId: tid, GroupId: g.GetId(), Changes: changes, ExpectedVersion: expected})
		}
		state := func() (string, int64, int) {
			got, err := e.groups.GetGroup(e.ctx, &identityv1.GetGroupRequest{TenantId: tid, GroupId: g.GetId()})
			if err != nil {
				t.Fatal(err)
			}
			members, err := e.groups.ListGroupMembers(e.ctx, &identityv1.ListGroupMembersRequest{TenantId: tid, GroupId: g.GetId()})
			if err != nil {
				t.Fatal(err)
			}
			return got.GetGroup().GetDisplayName(), got.GetGroup().GetVersion(), len(members.GetMembers())
		}
		name0, version0, members0 := state()

		failures := []struct {
			name    string
			changes []*identityv1.GroupChange
			version int64
			want    codes.Code
		}{
			{"rename, then an unknown user", []*identityv1.GroupChange{rename("Platform"), add(newUUID())}, 0, codes.NotFound},
			{"add, then a rename onto another group", []*identityv1.GroupChange{add(grace.GetId()), rename("Taken")}, 0, codes.AlreadyExists},
			{"a version it is not at", []*identityv1.GroupChange{rename("Platform")}, version0 + 5, codes.FailedPrecondition},
		}
		e.group(t, tid, "Taken")
		_, version0, _ = state()
		for _, f := range failures {
			t.Run(f.name, func(t *testing.T) {
				_, err := modify(f.version, f.changes...)
				wantCode(t, err, f.want)
				if name, version, members := state(); name != name0 || version != version0 || members != members0 {
					t.Fatalf("a failed modification changed the group: %q v%d %d members", name, version, members)
				}
			})
		}

		resp, err := modify(version0, rename("Platform"), add(grace.GetId()), remove(ada.GetId()))
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetGroup().GetDisplayName() != "Platform" || resp.GetGroup().GetVersion() != version0+1 ||
			resp.GetAddedCount() != 1 || resp.GetRemovedCount() != 1 {
			t.Fatalf("modified: %v", resp)
		}
		entries := e.db.Change.Query().Where(change.Revision(resp.GetRevision())).AllX(scope.System(context.Background()))
		kinds := map[change.Kind]int{}
		for _, c := range entries {
			kinds[c.Kind]++
		}
		// The rename, the role of the new name, one member in and one out:
		// one revision.
		if kinds[change.KindGroup] != 1 || kinds[change.KindRole] != 1 || kinds[change.KindGroupMember] != 2 {
			t.Fatalf("revision %d holds %v", resp.GetRevision(), kinds)
		}
	})
}

// TestRolesFollowTheirGroup: the role created for a pushed group follows the
// group's rename and deletion, unless it is also assigned directly or
// mapped, or was created through the API, on SQLite and PostgreSQL.
func TestRolesFollowTheirGroup(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		e := newEnv(t, db)
		tid := e.tenant(t)
		ada := e.user(t, tid, "ada@example.com")
		roleID := func(name string) string {
			t.Helper()
			resp, err := e.roles.ListRoles(e.ctx, &identityv1.ListRolesRequest{TenantId: tid,
				Filter: &identityv1.RoleFilter{Name: &identityv1.StringFilter{Condition: &identityv1.StringFilter_Equals{Equals: name}}}})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.GetRoles()) == 0 {
				return ""
			}
			return resp.GetRoles()[0].GetId()
		}
		rename := func(g *identityv1.Group, name string) {
			t.Helper()
			if _, err := e.groups.UpdateGroup(e.ctx, &identityv1.UpdateGroupRequest{Group: &identityv1.Group{TenantId: tid, Id: g.GetId(), DisplayName: name},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}}); err != nil {
				t.Fatal(err)
			}
		}
		del := func(g *identityv1.Group) {
			t.Helper()
			if _, err := e.groups.DeleteGroup(e.ctx, &identityv1.DeleteGroupRequest{TenantId: tid, GroupId: g.GetId()}); err != nil {
				t.Fatal(err)
			}
		}

		eng := e.group(t, tid, "Eng", ada.GetId())
		engRole := roleID("Eng")
		rename(eng, "Engineering")
		if roleID("Eng") != "" || roleID("Engineering") != engRole {
			t.Fatalf("the group's role did not follow the rename: Eng %q, Engineering %q (was %q)", roleID("Eng"), roleID("Engineering"), engRole)
		}
		del(eng)
		if roleID("Engineering") != "" {
			t.Fatal("the group's role outlived the group")
		}

		ops := e.group(t, tid, "Ops", ada.GetId())
		opsRole := roleID("Ops")
		if _, err := e.roles.AssignRoles(e.ctx, &identityv1.AssignRolesRequest{TenantId: tid, UserId: ada.GetId(), RoleIds: []string{opsRole}}); err != nil {
			t.Fatal(err)
		}
		rename(ops, "Operations")
		if roleID("Ops") != opsRole || roleID("Operations") == "" {
			t.Fatal("a role also assigned directly must stay, and the new name get its role")
		}
		del(ops)
		if roleID("Ops") != opsRole || roleID("Operations") != "" {
			t.Fatalf("after the group's deletion: Ops %q (want %q), Operations %q (want none)", roleID("Ops"), opsRole, roleID("Operations"))
		}

		// an access key bound to the group's role by name keeps it
		qa := e.group(t, tid, "QA")
		e.createKey(t, "qa key", nil, &identityv1.RoleBinding{Role: "QA", TenantId: tid})
		rename(qa, "Quality")
		if roleID("QA") == "" {
			t.Fatal("a role an access key is bound to was renamed or deleted with its group")
		}
		// a group's role given permissions outlives the group
		docs := e.group(t, tid, "Docs")
		docsRole := roleID("Docs")
		if _, err := e.roles.UpdateRole(e.ctx, &identityv1.UpdateRoleRequest{Role: &identityv1.Role{TenantId: tid, Id: docsRole, Permissions: []string{"docs:write"}},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"permissions"}}}); err != nil {
			t.Fatal(err)
		}
		del(docs)
		if roleID("Docs") != docsRole {
			t.Fatal("a group's role with permissions went with the group")
		}

		sales := e.role(t, tid, "Sales")
		g := e.group(t, tid, "Sales")
		del(g)
		if roleID("Sales") != sales.GetId() {
			t.Fatal("a role created through the API went with a group of its name")
		}
	})
}
