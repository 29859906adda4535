package server_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/acme/identity/ent/group"
	"github.com/acme/identity/ent/groupmembership"
	"github.com/acme/identity/ent/grouprole"
	"github.com/acme/identity/ent/role"
	"github.com/acme/identity/ent/roleassignment"
	"github.com/acme/identity/ent/user"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/store/scope"
)

func byID(id string) *identityv1.UserRef {
	return &identityv1.UserRef{Ref: &identityv1.UserRef_UserId{UserId: id}}
}

func byName(name string) *identityv1.UserRef {
	return &identityv1.UserRef{Ref: &identityv1.UserRef_UserName{UserName: name}}
}

// TestRoleChecks covers the semantics: direct roles, roles through a group's
// name and through mappings, explanations, deactivation, renames, deletions.
func TestRoleChecks(t *testing.T) {
	e := newEnv(t, databases()[0])
	tid := e.tenant(t)
	ada := e.user(t, tid, "Ada@Example.com")
	eng := e.group(t, tid, "Engineering", ada.GetId())
	billing := e.role(t, tid, "billing")
	check := func(ref *identityv1.UserRef, role string) *identityv1.CheckRoleResponse {
		t.Helper()
		resp, err := e.authz().CheckRole(e.ctx, &identityv1.CheckRoleRequest{TenantId: tid, User: ref, Role: role, Explain: true})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	// Read-after-write without at_least_revision: the group's role, created
	// with the group, is held at once.
	if r := check(byName("ada@example.COM"), "engineering"); !r.GetAllowed() || r.GetGrants()[0].GetGroupId() != eng.GetId() {
		t.Fatalf("role through the group's name: %v", r)
	}
	if r := check(byID(ada.GetId()), "billing"); r.GetAllowed() {
		t.Fatal("billing held before it is granted")
	}
	if _, err := e.groups.MapGroupRoles(e.ctx, &identityv1.MapGroupRolesRequest{TenantId: tid, GroupId: eng.GetId(), RoleIds: []string{billing.GetId()}}); err != nil {
		t.Fatal(err)
	}
	assign, err := e.roles.AssignRoles(e.ctx, &identityv1.AssignRolesRequest{TenantId: tid, UserId: ada.GetId(), RoleIds: []string{billing.GetId()}})
	if err != nil {
		t.Fatal(err)
	}
	if r := check(byID(ada.GetId()), "Billing"); !r.GetAllowed() || len(r.GetGrants()) != 2 || r.GetRevision() < assign.GetRevision() {
		t.Fatalf("billing directly and through the mapping: %v", r)
	}
	perm, err := e.authz().CheckPermission(e.ctx, &identityv1.CheckPermissionRequest{TenantId: tid, User: byID(ada.GetId()), Permission: "x:read", Explain: true})
	if err != nil || !perm.GetAllowed() || len(perm.GetRoles()) != 1 || perm.GetRoles()[0].GetRoleName() != "billing" {
		t.Fatalf("permission: %v %v", perm, err)
	}

	// Rename: the members move to the role of the new name.
	if _, err := e.groups.UpdateGroup(e.ctx, &identityv1.UpdateGroupRequest{
		Group: &identityv1.Group{TenantId: tid, Id: eng.GetId(), DisplayName: "Platform"}, UpdateMask: maskOf("display_name"),
	}); err != nil {
		t.Fatal(err)
	}
	if check(byID(ada.GetId()), "Engineering").GetAllowed() || !check(byID(ada.GetId()), "platform").GetAllowed() {
		t.Fatal("rename did not move the role")
	}
	// Deactivation takes every role; reactivation gives them back.
	setActive := func(active bool) {
		if _, err := e.users.UpdateUser(e.ctx, &identityv1.UpdateUserRequest{
			User: &identityv1.User{TenantId: tid, Id: ada.GetId(), Active: proto.Bool(active)}, UpdateMask: maskOf("active"),
		}); err != nil {
			t.Fatal(err)
		}
	}
	setActive(false)
	roles, err := e.authz().ListUserRoles(e.ctx, &identityv1.ListUserRolesRequest{TenantId: tid, User: byID(ada.GetId())})
	if err != nil || roles.GetActive() || len(roles.GetRoles()) != 0 || check(byID(ada.GetId()), "billing").GetAllowed() {
		t.Fatalf("deactivated user holds %v %v", roles, err)
	}
	setActive(true)
	batch, err := e.authz().BatchCheck(e.ctx, &identityv1.BatchCheckRequest{TenantId: tid, Checks: []*identityv1.Check{
		{User: byID(ada.GetId()), What: &identityv1.Check_Role{Role: "billing"}},
		{User: byName("nobody"), What: &identityv1.Check_Role{Role: "billing"}},
		{User: byID(ada.GetId()), What: &identityv1.Check_Permission{Permission: "x:read"}},
		{User: byID(ada.GetId()), What: &identityv1.Check_Role{Role: "no such role"}},
	}})
	if err != nil || !slices.Equal(batch.GetAllowed(), []bool{true, false, true, false}) {
		t.Fatalf("batch %v %v", batch, err)
	}
	// The same checks as columns.
	for _, c := range []struct {
		cols *identityv1.CheckColumns
		want []bool
	}{
		{&identityv1.CheckColumns{UserIds: []string{ada.GetId(), ada.GetId()}, Roles: []string{"BILLING", "no such role"}}, []bool{true, false}},
		{&identityv1.CheckColumns{UserNames: []string{"nobody", "ADA@example.com"}, Permissions: []string{"x:read", "x:read"}}, []bool{false, true}},
	} {
		batch, err := e.authz().BatchCheck(e.ctx, &identityv1.BatchCheckRequest{TenantId: tid, Columns: c.cols})
		if err != nil || !slices.Equal(batch.GetAllowed(), c.want) {
			t.Fatalf("columns %v: %v %v", c.cols, batch, err)
		}
	}
	// A bad item is refused by its index.
	for _, c := range []struct {
		cols  *identityv1.CheckColumns
		field string
	}{
		{&identityv1.CheckColumns{UserIds: []string{ada.GetId(), "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"}, Roles: []string{"billing", "billing"}}, "columns.user_ids[1]"},
		{&identityv1.CheckColumns{UserIds: []string{"ada"}, Roles: []string{"billing"}}, "columns.user_ids[0]"},
		{&identityv1.CheckColumns{UserIds: []string{ada.GetId(), ada.GetId()}, Roles: []string{"billing", ""}}, "columns.roles[1]"},
		{&identityv1.CheckColumns{UserNames: []string{strings.Repeat("é", 257)}, Roles: []string{"billing"}}, "columns.user_names[0]"},
		{&identityv1.CheckColumns{UserIds: []string{ada.GetId()}, Permissions: []string{strings.Repeat("p", 129)}}, "columns.permissions[0]"},
	} {
		_, err = e.authz().BatchCheck(e.ctx, &identityv1.BatchCheckRequest{TenantId: tid, Columns: c.cols})
		wantCode(t, err, codes.InvalidArgument)
		if field := violatedField(err); field != c.field {
			t.Fatalf("violation names %q, want %s (%v)", field, c.field, err)
		}
	}
	members, err := e.authz().ListRoleMembers(e.ctx, &identityv1.ListRoleMembersRequest{TenantId: tid, RoleId: billing.GetId()})
	if err != nil || len(members.GetMembers()) != 1 || members.GetMembers()[0].GetUserName() != "Ada@Example.com" {
		t.Fatalf("members %v %v", members, err)
	}
	// Deleting the group, the role and the user each take effect at once.
	if _, err := e.groups.DeleteGroup(e.ctx, &identityv1.DeleteGroupRequest{TenantId: tid, GroupId: eng.GetId()}); err != nil {
		t.Fatal(err)
	}
	if r := check(byID(ada.GetId()), "billing"); len(r.GetGrants()) != 1 || !r.GetGrants()[0].GetDirect() {
		t.Fatalf("after group deletion: %v", r)
	}
	if _, err := e.roles.DeleteRole(e.ctx, &identityv1.DeleteRoleRequest{TenantId: tid, RoleId: billing.GetId()}); err != nil {
		t.Fatal(err)
	}
	if check(byID(ada.GetId()), "billing").GetAllowed() {
		t.Fatal("a deleted role is held")
	}
	if _, err := e.users.DeleteUser(e.ctx, &identityv1.DeleteUserRequest{TenantId: tid, UserId: ada.GetId()}); err != nil {
		t.Fatal(err)
	}
	_, err = e.authz().ListUserRoles(e.ctx, &identityv1.ListUserRolesRequest{TenantId: tid, User: byID(ada.GetId())})
	wantCode(t, err, codes.NotFound)
	_, err = e.authz().CheckRole(e.ctx, &identityv1.CheckRoleRequest{TenantId: newUUID(), User: byID(ada.GetId()), Role: "x"})
	wantCode(t, err, codes.NotFound)
}

// model is a test's own idea of effective roles: user id -> role id set.
type model map[string]map[string]bool

// fromDatabase recomputes every user's effective roles with plain queries
// (as the system: the test reads the database directly).
func fromDatabase(t *testing.T, e *env, tenantID string) model {
	t.Helper()
	ctx := scope.System(context.Background())
	m := model{}
	roleByKey := map[string]string{}
	for _, r := range e.db.Role.Query().Where(role.TenantID(tenantID)).AllX(ctx) {
		roleByKey[r.NameKey] = r.ID
	}
	for _, u := range e.db.User.Query().Where(user.TenantID(tenantID)).AllX(ctx) {
		held := map[string]bool{}
		if u.Active {
			for _, a := range e.db.RoleAssignment.Query().Where(roleassignment.UserID(u.ID)).AllX(ctx) {
				held[a.RoleID] = true
			}
			for _, g := range e.db.Group.Query().Where(group.HasMembershipsWith(groupmembership.UserID(u.ID))).AllX(ctx) {
				if id, ok := roleByKey[g.DisplayNameKey]; ok {
					held[id] = true
				}
				for _, gr := range e.db.GroupRole.Query().Where(grouprole.GroupID(g.ID)).AllX(ctx) {
					held[gr.RoleID] = true
				}
			}
		}
		m[u.ID] = held
	}
	return m
}

// fromIndex asks ListUserRoles for every user of want, at revision rev.
func fromIndex(t *testing.T, e *env, tenantID string, users []string, rev int64) model {
	t.Helper()
	m := model{}
	for _, id := range users {
		resp, err := e.authz().ListUserRoles(e.ctx, &identityv1.ListUserRolesRequest{TenantId: tenantID, User: byID(id), AtLeastRevision: rev})
		if status.Code(err) == codes.NotFound {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		held := map[string]bool{}
		for _, r := range resp.GetRoles() {
			held[r.GetRoleId()] = true
		}
		m[id] = held
	}
	return m
}

func (m model) String() string {
	var lines []string
	for u, roles := range m {
		if len(roles) == 0 {
			continue // a user holding nothing is the same as no user
		}
		var rs []string
		for r := range roles {
			rs = append(rs, r[len(r)-4:])
		}
		sort.Strings(rs)
		lines = append(lines, u[len(u)-4:]+":"+strings.Join(rs, ","))
	}
	sort.Strings(lines)
	return strings.Join(lines, " ")
}

// TestRoleIndexProperty applies random sequences of writes and compares the
// index with a recomputation from the database after every step, and the
// watch stream's changes with the difference between the first and last
// state.
func TestRoleIndexProperty(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		e := newEnv(t, db)
		seed := uint64(time.Now().UnixNano())
		rng := rand.New(rand.NewPCG(seed, 7))
		t.Logf("seed %d", seed)
		tid := e.tenant(t)
		var users, groups, roles []string
		for i := range 6 {
			users = append(users, e.user(t, tid, fmt.Sprintf("u%d", i)).GetId())
		}
		names := []string{"alpha", "beta", "gamma", "delta"}
		for _, n := range names[:3] {
			roles = append(roles, e.role(t, tid, n).GetId())
		}
		for _, n := range []string{"beta", "ops", "dev"} {
			groups = append(groups, e.group(t, tid, n).GetId())
		}
		start, err := e.authz().ListUserRoles(e.ctx, &identityv1.ListUserRolesRequest{TenantId: tid, User: byID(users[0])})
		if err != nil {
			t.Fatal(err)
		}
		initial := fromDatabase(t, e, tid)
		watchCtx, stopWatch := context.WithCancel(e.ctx)
		defer stopWatch()
		stream, err := e.authz().WatchRoleChanges(watchCtx, &identityv1.WatchRoleChangesRequest{TenantId: tid, FromRevision: start.GetRevision()})
		if err != nil {
			t.Fatal(err)
		}

		pick := func(ids []string) string { return ids[rng.IntN(len(ids))] }
		ops := []func() (int64, error){
			func() (int64, error) {
				r, err := e.roles.AssignRoles(e.ctx, &identityv1.AssignRolesRequest{TenantId: tid, UserId: pick(users), RoleIds: []string{pick(roles)}})
				return r.GetRevision(), err
			},
			func() (int64, error) {
				r, err := e.roles.UnassignRoles(e.ctx, &identityv1.UnassignRolesRequest{TenantId: tid, UserId: pick(users), RoleIds: []string{pick(roles)}})
				return r.GetRevision(), err
			},
			func() (int64, error) {
				r, err := e.groups.AddGroupMembers(e.ctx, &identityv1.AddGroupMembersRequest{TenantId: tid, GroupId: pick(groups), UserIds: []string{pick(users)}})
				return r.GetRevision(), err
			},
			func() (int64, error) {
				r, err := e.groups.RemoveGroupMembers(e.ctx, &identityv1.RemoveGroupMembersRequest{TenantId: tid, GroupId: pick(groups), UserIds: []string{pick(users)}})
				return r.GetRevision(), err
			},
			func() (int64, error) {
				r, err := e.groups.MapGroupRoles(e.ctx, &identityv1.MapGroupRolesRequest{TenantId: tid, GroupId: pick(groups), RoleIds: []string{pick(roles)}})
				return r.GetRevision(), err
			},
			func() (int64, error) {
				r, err := e.groups.UnmapGroupRoles(e.ctx, &identityv1.UnmapGroupRolesRequest{TenantId: tid, GroupId: pick(groups), RoleIds: []string{pick(roles)}})
				return r.GetRevision(), err
			},
			func() (int64, error) { // rename, possibly onto a role's name
				r, err := e.groups.UpdateGroup(e.ctx, &identityv1.UpdateGroupRequest{
					Group:      &identityv1.Group{TenantId: tid, Id: pick(groups), DisplayName: fmt.Sprintf("%s-%d", pick(names), rng.IntN(2))},
					UpdateMask: maskOf("display_name"),
				})
				return r.GetRevision(), err
			},
			func() (int64, error) { // rename a role
				r, err := e.roles.UpdateRole(e.ctx, &identityv1.UpdateRoleRequest{
					Role:       &identityv1.Role{TenantId: tid, Id: pick(roles), Name: fmt.Sprintf("%s-%d", pick(names), rng.IntN(2))},
					UpdateMask: maskOf("name"),
				})
				return r.GetRevision(), err
			},
			func() (int64, error) {
				r, err := e.users.UpdateUser(e.ctx, &identityv1.UpdateUserRequest{
					User: &identityv1.User{TenantId: tid, Id: pick(users), Active: proto.Bool(rng.IntN(2) == 0)}, UpdateMask: maskOf("active"),
				})
				return r.GetRevision(), err
			},
			func() (int64, error) { // delete a group, then create a new one
				id := pick(groups)
				r, err := e.groups.DeleteGroup(e.ctx, &identityv1.DeleteGroupRequest{TenantId: tid, GroupId: id})
				if err != nil {
					return 0, err
				}
				g, err := e.groups.CreateGroup(e.ctx, &identityv1.CreateGroupRequest{TenantId: tid,
					Group: &identityv1.Group{DisplayName: fmt.Sprintf("g%d", r.GetRevision())}, MemberUserIds: []string{pick(users)}})
				groups[slices.Index(groups, id)] = g.GetGroup().GetId()
				return g.GetRevision(), err
			},
			func() (int64, error) { // delete a user, then create a new one
				id := pick(users)
				if _, err := e.users.DeleteUser(e.ctx, &identityv1.DeleteUserRequest{TenantId: tid, UserId: id}); err != nil {
					return 0, err
				}
				u, err := e.users.CreateUser(e.ctx, &identityv1.CreateUserRequest{TenantId: tid, User: &identityv1.User{UserName: newUUID()}})
				users[slices.Index(users, id)] = u.GetUser().GetId()
				return u.GetRevision(), err
			},
			func() (int64, error) { // delete a role, then create a new one
				id := pick(roles)
				if _, err := e.roles.DeleteRole(e.ctx, &identityv1.DeleteRoleRequest{TenantId: tid, RoleId: id}); err != nil {
					return 0, err
				}
				r, err := e.roles.CreateRole(e.ctx, &identityv1.CreateRoleRequest{TenantId: tid, Role: &identityv1.Role{Name: pick(names) + "-" + newUUID()[:4]}})
				roles[slices.Index(roles, id)] = r.GetRole().GetId()
				return r.GetRevision(), err
			},
		}
		var last int64
		for step := range 120 {
			rev, err := ops[rng.IntN(len(ops))]()
			if status.Code(err) == codes.AlreadyExists {
				continue // a rename onto a taken name is refused; nothing changed
			}
			if err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			last = max(last, rev)
			want := fromDatabase(t, e, tid)
			var ids []string
			for id := range want {
				ids = append(ids, id)
			}
			if got := fromIndex(t, e, tid, ids, rev); got.String() != want.String() {
				t.Fatalf("step %d (seed %d): index\n%v\ndatabase\n%v", step, seed, got, want)
			}
		}

		// A last write with a known effect marks the end of the stream.
		if _, err := e.users.UpdateUser(e.ctx, &identityv1.UpdateUserRequest{
			User: &identityv1.User{TenantId: tid, Id: users[0], Active: proto.Bool(true)}, UpdateMask: maskOf("active"),
		}); err != nil {
			t.Fatal(err)
		}
		sentinel := e.role(t, tid, "sentinel")
		end, err := e.roles.AssignRoles(e.ctx, &identityv1.AssignRolesRequest{TenantId: tid, UserId: users[0], RoleIds: []string{sentinel.GetId()}})
		if err != nil {
			t.Fatal(err)
		}
		last = end.GetRevision()

		// Fold the watched changes into the initial state: it must reach the
		// final state, gaining only what was not held and losing only what was.
		final := fromDatabase(t, e, tid)
		state := initial
		for seen := int64(0); seen < last; {
			msg, err := stream.Recv()
			if err == io.EOF || err != nil {
				t.Fatalf("watch ended at %d of %d: %v", seen, last, err)
			}
			if msg.GetRevision() <= seen {
				t.Fatalf("revision %d after %d", msg.GetRevision(), seen)
			}
			seen = msg.GetRevision()
			for _, c := range msg.GetChanges() {
				if state[c.GetUserId()] == nil {
					state[c.GetUserId()] = map[string]bool{}
				}
				if state[c.GetUserId()][c.GetRoleId()] == c.GetGained() {
					t.Fatalf("revision %d: %v repeats the current state", seen, c)
				}
				if c.GetGained() {
					state[c.GetUserId()][c.GetRoleId()] = true
				} else {
					delete(state[c.GetUserId()], c.GetRoleId())
				}
			}
		}
		if state.String() != final.String() {
			t.Fatalf("watched\n%v\nfinal\n%v", state, final)
		}
	})
}

func TestWatchResumeAndTooOld(t *testing.T) {
	e := newEnv(t, databases()[0])
	tid := e.tenant(t)
	u := e.user(t, tid, "ada")
	start, err := e.authz().ListUserRoles(e.ctx, &identityv1.ListUserRolesRequest{TenantId: tid, User: byID(u.GetId())})
	if err != nil {
		t.Fatal(err)
	}
	g1 := e.group(t, tid, "one", u.GetId())
	e.group(t, tid, "two", u.GetId())
	recv := func(from int64) *identityv1.WatchRoleChangesResponse {
		t.Helper()
		ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
		defer cancel()
		s, err := e.authz().WatchRoleChanges(ctx, &identityv1.WatchRoleChangesRequest{TenantId: tid, FromRevision: from})
		if err != nil {
			t.Fatal(err)
		}
		msg, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	first := recv(start.GetRevision())
	if len(first.GetChanges()) != 1 || first.GetChanges()[0].GetRoleName() != "one" || !first.GetChanges()[0].GetGained() {
		t.Fatalf("first %v", first)
	}
	second := recv(first.GetRevision())
	if second.GetRevision() <= first.GetRevision() || second.GetChanges()[0].GetRoleName() != "two" {
		t.Fatalf("resumed %v after %v", second, first)
	}
	_ = g1
	// An instance started now retains nothing before its start.
	later := e.secondInstance(t)
	s, err := later.authz().WatchRoleChanges(e.ctx, &identityv1.WatchRoleChangesRequest{TenantId: tid, FromRevision: start.GetRevision()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Recv()
	wantCode(t, err, codes.FailedPrecondition)
	if !strings.Contains(status.Convert(err).Message(), "ListUserRoles") {
		t.Fatalf("message %q", status.Convert(err).Message())
	}
	// Another tenant's watch is NotFound, like everything of other tenants.
	other, _ := e.createKey(t, "other", nil, tenantAdmin(e.tenant(t)))
	s, err = e.authz().WatchRoleChanges(withCredential(context.Background(), other), &identityv1.WatchRoleChangesRequest{TenantId: tid, FromRevision: second.GetRevision()})
	if err == nil {
		_, err = s.Recv()
	}
	wantCode(t, err, codes.NotFound)
}

// TestInstancesConverge writes through one instance and reads through
// another on the same database: with at_least_revision the second answers
// from the first's writes, and its whole index matches the database.
func TestInstancesConverge(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		a := newEnv(t, db)
		b := a.secondInstance(t)
		tid := a.tenant(t)
		u := a.user(t, tid, "ada")
		g := a.group(t, tid, "eng", u.GetId())
		r := a.role(t, tid, "billing")
		assign, err := a.roles.AssignRoles(a.ctx, &identityv1.AssignRolesRequest{TenantId: tid, UserId: u.GetId(), RoleIds: []string{r.GetId()}})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := b.authz().CheckRole(b.ctx, &identityv1.CheckRoleRequest{TenantId: tid, User: byName("ADA"), Role: "billing", AtLeastRevision: assign.GetRevision()})
		if err != nil || !resp.GetAllowed() || resp.GetRevision() < assign.GetRevision() {
			t.Fatalf("instance b: %v %v", resp, err)
		}
		// Writes through both instances, then both indexes against the database.
		var last int64
		for i := range 10 {
			x := b.user(t, tid, fmt.Sprintf("u%d", i))
			add, err := a.groups.AddGroupMembers(a.ctx, &identityv1.AddGroupMembersRequest{TenantId: tid, GroupId: g.GetId(), UserIds: []string{x.GetId()}})
			if err != nil {
				t.Fatal(err)
			}
			last = add.GetRevision()
		}
		rm, err := b.groups.RemoveGroupMembers(b.ctx, &identityv1.RemoveGroupMembersRequest{TenantId: tid, GroupId: g.GetId(), UserIds: []string{u.GetId()}})
		if err != nil {
			t.Fatal(err)
		}
		last = max(last, rm.GetRevision())
		want := fromDatabase(t, a, tid)
		var ids []string
		for id := range want {
			ids = append(ids, id)
		}
		for name, e := range map[string]*env{"a": a, "b": b} {
			if got := fromIndex(t, e, tid, ids, last); got.String() != want.String() {
				t.Fatalf("instance %s:\n%v\nwant\n%v", name, got, want)
			}
		}
		// A key revoked through one instance stops working on the other.
		key, keyID := a.createKey(t, "k", nil, tenantAdmin(tid))
		if _, err := b.users.ListUsers(withCredential(context.Background(), key), &identityv1.ListUsersRequest{TenantId: tid}); err != nil {
			t.Fatal(err)
		}
		rev, err := a.keys.RevokeAccessKey(a.ctx, &identityv1.RevokeAccessKeyRequest{AccessKeyId: keyID})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.authz().CheckRole(b.ctx, &identityv1.CheckRoleRequest{TenantId: tid, User: byName("ada"), Role: "x", AtLeastRevision: rev.GetRevision()}); err != nil {
			t.Fatal(err)
		}
		_, err = b.users.ListUsers(withCredential(context.Background(), key), &identityv1.ListUsersRequest{TenantId: tid})
		wantCode(t, err, codes.Unauthenticated)
	})
}

// TestAtLeastRevisionBeyondCommitted asks for a revision no write has
// answered: the call is refused at once with OUT_OF_RANGE instead of holding
// the caller for its whole deadline; the latest committed revision is served.
func TestAtLeastRevisionBeyondCommitted(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		e := newEnv(t, db)
		tid := e.tenant(t)
		u := e.user(t, tid, "ada")
		latest, err := e.authz().CheckRole(e.ctx, &identityv1.CheckRoleRequest{TenantId: tid, User: byID(u.GetId()), Role: "x"})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
		defer cancel()
		_, err = e.authz().CheckRole(ctx, &identityv1.CheckRoleRequest{TenantId: tid, User: byID(u.GetId()), Role: "x",
			AtLeastRevision: latest.GetRevision() + 1000})
		wantCode(t, err, codes.OutOfRange)
		if ctx.Err() != nil {
			t.Fatal("the refusal waited for the deadline")
		}
		if _, err := e.authz().CheckRole(e.ctx, &identityv1.CheckRoleRequest{TenantId: tid, User: byID(u.GetId()), Role: "x",
			AtLeastRevision: latest.GetRevision()}); err != nil {
			t.Fatalf("the latest revision: %v", err)
		}
	})
}

// TestDenials: explain on a denied check says why.
func TestDenials(t *testing.T) {
	e := newEnv(t, databases()[0])
	tid := e.tenant(t)
	ada := e.user(t, tid, "ada@example.com")
	bob := e.user(t, tid, "bob@example.com")
	e.role(t, tid, "billing")
	active := false
	if _, err := e.users.UpdateUser(e.ctx, &identityv1.UpdateUserRequest{User: &identityv1.User{TenantId: tid, Id: bob.GetId(), Active: &active},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"active"}}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name       string
		user       *identityv1.UserRef
		role, perm string
		want       identityv1.Denial
	}{
		{"no such user", byName("nobody@example.com"), "billing", "", identityv1.Denial_DENIAL_USER_NOT_FOUND},
		{"inactive user", byID(bob.GetId()), "billing", "", identityv1.Denial_DENIAL_USER_INACTIVE},
		{"no such role", byID(ada.GetId()), "nosuch", "", identityv1.Denial_DENIAL_ROLE_NOT_FOUND},
		{"not granted", byID(ada.GetId()), "billing", "", identityv1.Denial_DENIAL_NOT_GRANTED},
		{"permission, inactive user", byID(bob.GetId()), "", "x:read", identityv1.Denial_DENIAL_USER_INACTIVE},
		{"permission not granted", byID(ada.GetId()), "", "x:read", identityv1.Denial_DENIAL_NOT_GRANTED},
	} {
		var got identityv1.Denial
		if c.role != "" {
			r, err := e.authz().CheckRole(e.ctx, &identityv1.CheckRoleRequest{TenantId: tid, User: c.user, Role: c.role, Explain: true})
			if err != nil || r.GetAllowed() {
				t.Fatalf("%s: %v %v", c.name, r, err)
			}
			got = r.GetDenial()
		} else {
			r, err := e.authz().CheckPermission(e.ctx, &identityv1.CheckPermissionRequest{TenantId: tid, User: c.user, Permission: c.perm, Explain: true})
			if err != nil || r.GetAllowed() {
				t.Fatalf("%s: %v %v", c.name, r, err)
			}
			got = r.GetDenial()
		}
		if got != c.want {
			t.Errorf("%s: denial %v, want %v", c.name, got, c.want)
		}
	}
}
