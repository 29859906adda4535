package server_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/acme/identity/ent/change"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/store/scope"
)

func maskOf(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }

// TestUserLifecycle creates, reads, filters, updates and deletes a user.
func TestUserLifecycle(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		e := newEnv(t, db)
		tid := e.tenant(t)
		in := &identityv1.User{
			UserName:   "Ada@Example.com",
			ExternalId: "00u1",
			Name:       &identityv1.Name{GivenName: "Ada", FamilyName: "Lovelace", Formatted: "Ada Lovelace"},
			Emails: []*identityv1.Email{
				{Value: "ada@example.com", Type: "work", Primary: true},
				{Value: "ada@home.example", Type: "home"},
			},
			PhoneNumbers:     []*identityv1.PhoneNumber{{Value: "+1 555 0100", Type: "work"}},
			CustomAttributes: map[string]string{"department": "R&D"},
		}
		created, err := e.users.CreateUser(e.ctx, &identityv1.CreateUserRequest{TenantId: tid, User: in})
		if err != nil {
			t.Fatal(err)
		}
		u := created.GetUser()
		if !u.GetActive() || u.GetVersion() != 1 || created.GetRevision() < 1 || u.GetTenantId() != tid || u.GetId() == "" {
			t.Fatalf("created %v", u)
		}
		got, err := e.users.GetUser(e.ctx, &identityv1.GetUserRequest{TenantId: tid, UserId: u.GetId()})
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got.GetUser(), u) {
			t.Fatalf("get returned\n%v\nwant\n%v", got.GetUser(), u)
		}

		filters := []struct {
			name   string
			filter *identityv1.UserFilter
			want   int
		}{
			{"user_name ignores case", &identityv1.UserFilter{UserName: eq("ADA@example.COM")}, 1},
			{"user_name prefix", &identityv1.UserFilter{UserName: prefix("ada@")}, 1},
			{"email ignores case", &identityv1.UserFilter{Email: eq("ADA@HOME.example")}, 1},
			{"email absent", &identityv1.UserFilter{Email: present(false)}, 0},
			{"external_id exact", &identityv1.UserFilter{ExternalId: eq("00u1")}, 1},
			{"external_id other", &identityv1.UserFilter{ExternalId: eq("00U1")}, 0},
			{"external_id present", &identityv1.UserFilter{ExternalId: present(true)}, 1},
			{"display_name absent", &identityv1.UserFilter{DisplayName: present(false)}, 1},
			{"active", &identityv1.UserFilter{Active: proto.Bool(true)}, 1},
			{"inactive", &identityv1.UserFilter{Active: proto.Bool(false)}, 0},
			{"updated after creation", &identityv1.UserFilter{UpdatedAfter: u.GetUpdateTime()}, 0},
			{"updated after epoch", &identityv1.UserFilter{UpdatedAfter: timestamppb.New(u.GetCreateTime().AsTime().Add(-1))}, 1},
			{"and of two", &identityv1.UserFilter{UserName: eq("ada@example.com"), ExternalId: eq("nope")}, 0},
		}
		for _, f := range filters {
			t.Run(f.name, func(t *testing.T) {
				resp, err := e.users.ListUsers(e.ctx, &identityv1.ListUsersRequest{TenantId: tid, Filter: f.filter})
				if err != nil {
					t.Fatal(err)
				}
				if len(resp.GetUsers()) != f.want || int(resp.GetTotalSize()) != f.want {
					t.Fatalf("got %d users (total %d), want %d", len(resp.GetUsers()), resp.GetTotalSize(), f.want)
				}
			})
		}

		upd, err := e.users.UpdateUser(e.ctx, &identityv1.UpdateUserRequest{
			User: &identityv1.User{
				TenantId: tid, Id: u.GetId(), Active: proto.Bool(false),
				Name:   &identityv1.Name{GivenName: "Augusta"},
				Emails: []*identityv1.Email{{Value: "augusta@example.com"}},
			},
			UpdateMask: maskOf("active", "name.given_name", "emails"),
		})
		if err != nil {
			t.Fatal(err)
		}
		v := upd.GetUser()
		if v.GetActive() || v.GetName().GetGivenName() != "Augusta" || v.GetName().GetFamilyName() != "Lovelace" ||
			len(v.GetEmails()) != 1 || v.GetUserName() != "Ada@Example.com" || v.GetVersion() <= u.GetVersion() ||
			v.GetCustomAttributes()["department"] != "R&D" {
			t.Fatalf("updated %v", v)
		}
		// A deactivated user keeps its data and is still readable.
		if _, err := e.users.GetUser(e.ctx, &identityv1.GetUserRequest{TenantId: tid, UserId: u.GetId()}); err != nil {
			t.Fatal(err)
		}
		// "*" replaces every mutable field, as a SCIM PUT does.
		put, err := e.users.UpdateUser(e.ctx, &identityv1.UpdateUserRequest{
			User: &identityv1.User{TenantId: tid, Id: u.GetId(), UserName: "ada2@example.com"}, UpdateMask: maskOf("*"),
		})
		if err != nil {
			t.Fatal(err)
		}
		if p := put.GetUser(); !p.GetActive() || p.GetExternalId() != "" || len(p.GetEmails()) != 0 || len(p.GetCustomAttributes()) != 0 {
			t.Fatalf("replaced %v", p)
		}

		if _, err := e.users.DeleteUser(e.ctx, &identityv1.DeleteUserRequest{TenantId: tid, UserId: u.GetId()}); err != nil {
			t.Fatal(err)
		}
		_, err = e.users.GetUser(e.ctx, &identityv1.GetUserRequest{TenantId: tid, UserId: u.GetId()})
		wantCode(t, err, codes.NotFound)
		_, err = e.users.DeleteUser(e.ctx, &identityv1.DeleteUserRequest{TenantId: tid, UserId: u.GetId()})
		wantCode(t, err, codes.NotFound)
	})
}

func eq(v string) *identityv1.StringFilter {
	return &identityv1.StringFilter{Condition: &identityv1.StringFilter_Equals{Equals: v}}
}

func prefix(v string) *identityv1.StringFilter {
	return &identityv1.StringFilter{Condition: &identityv1.StringFilter_StartsWith{StartsWith: v}}
}

func present(v bool) *identityv1.StringFilter {
	return &identityv1.StringFilter{Condition: &identityv1.StringFilter_Present{Present: v}}
}

// TestGroupsAndRoles covers groups with members and roles with assignments,
// with set semantics for every membership change.
func TestGroupsAndRoles(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		e := newEnv(t, db)
		tid := e.tenant(t)
		a, b, c := e.user(t, tid, "a"), e.user(t, tid, "b"), e.user(t, tid, "c")
		g := e.group(t, tid, "Engineering", a.GetId())

		_, err := e.groups.CreateGroup(e.ctx, &identityv1.CreateGroupRequest{TenantId: tid, Group: &identityv1.Group{DisplayName: "ENGINEERING"}})
		wantCode(t, err, codes.AlreadyExists)
		_, err = e.groups.CreateGroup(e.ctx, &identityv1.CreateGroupRequest{TenantId: tid, Group: &identityv1.Group{DisplayName: "x"}, MemberUserIds: []string{newUUID()}})
		wantCode(t, err, codes.NotFound)

		add, err := e.groups.AddGroupMembers(e.ctx, &identityv1.AddGroupMembersRequest{TenantId: tid, GroupId: g.GetId(), UserIds: []string{a.GetId(), b.GetId()}})
		if err != nil || add.GetAddedCount() != 1 {
			t.Fatalf("add: %v %v", add, err)
		}
		again, err := e.groups.AddGroupMembers(e.ctx, &identityv1.AddGroupMembersRequest{TenantId: tid, GroupId: g.GetId(), UserIds: []string{b.GetId()}})
		if err != nil || again.GetAddedCount() != 0 || again.GetRevision() != add.GetRevision() {
			t.Fatalf("re-add changed something: %v %v (first revision %d)", again, err, add.GetRevision())
		}
		_, err = e.groups.AddGroupMembers(e.ctx, &identityv1.AddGroupMembersRequest{TenantId: tid, GroupId: g.GetId(), UserIds: []string{c.GetId(), newUUID()}})
		wantCode(t, err, codes.NotFound)
		before, err := e.groups.GetGroup(e.ctx, &identityv1.GetGroupRequest{TenantId: tid, GroupId: g.GetId()})
		if err != nil {
			t.Fatal(err)
		}
		rm, err := e.groups.RemoveGroupMembers(e.ctx, &identityv1.RemoveGroupMembersRequest{TenantId: tid, GroupId: g.GetId(), UserIds: []string{a.GetId(), c.GetId()}})
		if err != nil || rm.GetRemovedCount() != 1 {
			t.Fatalf("remove: %v %v", rm, err)
		}
		members, err := e.groups.ListGroupMembers(e.ctx, &identityv1.ListGroupMembersRequest{TenantId: tid, GroupId: g.GetId()})
		if err != nil || len(members.GetMembers()) != 1 || members.GetMembers()[0].GetUserId() != b.GetId() || members.GetMembers()[0].GetUserName() != "b" {
			t.Fatalf("members: %v %v", members, err)
		}
		inGroup, err := e.groups.ListGroups(e.ctx, &identityv1.ListGroupsRequest{TenantId: tid, Filter: &identityv1.GroupFilter{MemberUserId: b.GetId()}})
		if err != nil || len(inGroup.GetGroups()) != 1 {
			t.Fatalf("groups of b: %v %v", inGroup, err)
		}
		byName, err := e.groups.ListGroups(e.ctx, &identityv1.ListGroupsRequest{TenantId: tid, Filter: &identityv1.GroupFilter{DisplayName: eq("engineering")}})
		if err != nil || len(byName.GetGroups()) != 1 {
			t.Fatalf("group by name: %v %v", byName, err)
		}
		got, err := e.groups.GetGroup(e.ctx, &identityv1.GetGroupRequest{TenantId: tid, GroupId: g.GetId()})
		if err != nil || got.GetGroup().GetVersion() != before.GetGroup().GetVersion()+1 {
			t.Fatalf("membership change did not move the group's version: %v %v", got, err)
		}
		ren, err := e.groups.UpdateGroup(e.ctx, &identityv1.UpdateGroupRequest{
			Group: &identityv1.Group{TenantId: tid, Id: g.GetId(), DisplayName: "Platform"}, UpdateMask: maskOf("display_name"),
		})
		if err != nil || ren.GetGroup().GetDisplayName() != "Platform" {
			t.Fatalf("rename: %v %v", ren, err)
		}

		r1, r2 := e.role(t, tid, "admin"), e.role(t, tid, "viewer")
		_, err = e.roles.CreateRole(e.ctx, &identityv1.CreateRoleRequest{TenantId: tid, Role: &identityv1.Role{Name: "Admin"}})
		wantCode(t, err, codes.AlreadyExists)
		as, err := e.roles.AssignRoles(e.ctx, &identityv1.AssignRolesRequest{TenantId: tid, UserId: a.GetId(), RoleIds: []string{r1.GetId(), r2.GetId()}})
		if err != nil || as.GetAssignedCount() != 2 {
			t.Fatalf("assign: %v %v", as, err)
		}
		as, err = e.roles.AssignRoles(e.ctx, &identityv1.AssignRolesRequest{TenantId: tid, UserId: a.GetId(), RoleIds: []string{r1.GetId()}})
		if err != nil || as.GetAssignedCount() != 0 {
			t.Fatalf("re-assign: %v %v", as, err)
		}
		_, err = e.roles.AssignRoles(e.ctx, &identityv1.AssignRolesRequest{TenantId: tid, UserId: a.GetId(), RoleIds: []string{newUUID()}})
		wantCode(t, err, codes.NotFound)
		if _, err := e.roles.DeleteRole(e.ctx, &identityv1.DeleteRoleRequest{TenantId: tid, RoleId: r2.GetId()}); err != nil {
			t.Fatal(err)
		}
		held, err := e.roles.ListAssignedRoles(e.ctx, &identityv1.ListAssignedRolesRequest{TenantId: tid, UserId: a.GetId()})
		if err != nil || len(held.GetRoles()) != 1 || held.GetRoles()[0].GetId() != r1.GetId() {
			t.Fatalf("a deleted role is still held: %v %v", held, err)
		}
		un, err := e.roles.UnassignRoles(e.ctx, &identityv1.UnassignRolesRequest{TenantId: tid, UserId: a.GetId(), RoleIds: []string{r1.GetId(), r2.GetId()}})
		if err != nil || un.GetUnassignedCount() != 1 {
			t.Fatalf("unassign: %v %v", un, err)
		}
		upd, err := e.roles.UpdateRole(e.ctx, &identityv1.UpdateRoleRequest{
			Role: &identityv1.Role{TenantId: tid, Id: r1.GetId(), Permissions: []string{"a:b", "c:d"}}, UpdateMask: maskOf("permissions"),
		})
		if err != nil || len(upd.GetRole().GetPermissions()) != 2 || upd.GetRole().GetName() != "admin" {
			t.Fatalf("update role: %v %v", upd, err)
		}

		// Deleting a user takes it out of its groups.
		if _, err := e.users.DeleteUser(e.ctx, &identityv1.DeleteUserRequest{TenantId: tid, UserId: b.GetId()}); err != nil {
			t.Fatal(err)
		}
		members, err = e.groups.ListGroupMembers(e.ctx, &identityv1.ListGroupMembersRequest{TenantId: tid, GroupId: g.GetId()})
		if err != nil || len(members.GetMembers()) != 0 {
			t.Fatalf("deleted user still a member: %v %v", members, err)
		}
		if _, err := e.groups.DeleteGroup(e.ctx, &identityv1.DeleteGroupRequest{TenantId: tid, GroupId: g.GetId()}); err != nil {
			t.Fatal(err)
		}
		_, err = e.groups.ListGroupMembers(e.ctx, &identityv1.ListGroupMembersRequest{TenantId: tid, GroupId: g.GetId()})
		wantCode(t, err, codes.NotFound)

		// Deleting the tenant deletes everything in it.
		if _, err := e.tenants.DeleteTenant(e.ctx, &identityv1.DeleteTenantRequest{TenantId: tid}); err != nil {
			t.Fatal(err)
		}
		if n := e.db.User.Query().CountX(scope.System(context.Background())); n != 0 {
			t.Fatalf("%d users outlived their tenant", n)
		}
	})
}

// TestConcurrentCreateIsUnique races creates of one user_name (in different
// case) and of one group name: exactly one of each succeeds.
func TestConcurrentCreateIsUnique(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		e := newEnv(t, db)
		tid := e.tenant(t)
		const n = 8
		var wg sync.WaitGroup
		codesSeen := make(chan codes.Code, 2*n)
		for i := range n {
			wg.Add(2)
			go func() {
				defer wg.Done()
				name := "Race@Example.com"
				if i%2 == 1 {
					name = strings.ToLower(name)
				}
				_, err := e.users.CreateUser(e.ctx, &identityv1.CreateUserRequest{TenantId: tid, User: &identityv1.User{UserName: name}})
				codesSeen <- statusCode(err)
			}()
			go func() {
				defer wg.Done()
				_, err := e.groups.CreateGroup(e.ctx, &identityv1.CreateGroupRequest{TenantId: tid, Group: &identityv1.Group{DisplayName: "race"}})
				codesSeen <- statusCode(err)
			}()
		}
		wg.Wait()
		close(codesSeen)
		count := map[codes.Code]int{}
		for c := range codesSeen {
			count[c]++
		}
		if count[codes.OK] != 2 || count[codes.AlreadyExists] != 2*n-2 {
			t.Fatalf("outcomes %v, want 2 OK and %d AlreadyExists", count, 2*n-2)
		}
	})
}

// TestTenantIsolation uses ids of tenant A under tenant B: every call is
// NotFound and changes nothing.
func TestTenantIsolation(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		e := newEnv(t, db)
		a, b := e.tenant(t), e.tenant(t)
		u := e.user(t, a, "ada")
		g := e.group(t, a, "eng", u.GetId())
		r := e.role(t, a, "admin")
		bUser := e.user(t, b, "bob")
		bGroup := e.group(t, b, "ops")
		calls := []struct {
			name string
			call func() error
		}{
			{"get user", func() error {
				_, err := e.users.GetUser(e.ctx, &identityv1.GetUserRequest{TenantId: b, UserId: u.GetId()})
				return err
			}},
			{"update user", func() error {
				_, err := e.users.UpdateUser(e.ctx, &identityv1.UpdateUserRequest{User: &identityv1.User{TenantId: b, Id: u.GetId(), UserName: "x"}, UpdateMask: maskOf("user_name")})
				return err
			}},
			{"delete user", func() error {
				_, err := e.users.DeleteUser(e.ctx, &identityv1.DeleteUserRequest{TenantId: b, UserId: u.GetId()})
				return err
			}},
			{"get group", func() error {
				_, err := e.groups.GetGroup(e.ctx, &identityv1.GetGroupRequest{TenantId: b, GroupId: g.GetId()})
				return err
			}},
			{"rename group", func() error {
				_, err := e.groups.UpdateGroup(e.ctx, &identityv1.UpdateGroupRequest{Group: &identityv1.Group{TenantId: b, Id: g.GetId(), DisplayName: "x"}, UpdateMask: maskOf("display_name")})
				return err
			}},
			{"delete group", func() error {
				_, err := e.groups.DeleteGroup(e.ctx, &identityv1.DeleteGroupRequest{TenantId: b, GroupId: g.GetId()})
				return err
			}},
			{"list members", func() error {
				_, err := e.groups.ListGroupMembers(e.ctx, &identityv1.ListGroupMembersRequest{TenantId: b, GroupId: g.GetId()})
				return err
			}},
			{"add A's user to B's group", func() error {
				_, err := e.groups.AddGroupMembers(e.ctx, &identityv1.AddGroupMembersRequest{TenantId: b, GroupId: bGroup.GetId(), UserIds: []string{u.GetId()}})
				return err
			}},
			{"remove from A's group via B", func() error {
				_, err := e.groups.RemoveGroupMembers(e.ctx, &identityv1.RemoveGroupMembersRequest{TenantId: b, GroupId: g.GetId(), UserIds: []string{u.GetId()}})
				return err
			}},
			{"get role", func() error {
				_, err := e.roles.GetRole(e.ctx, &identityv1.GetRoleRequest{TenantId: b, RoleId: r.GetId()})
				return err
			}},
			{"assign A's role to B's user", func() error {
				_, err := e.roles.AssignRoles(e.ctx, &identityv1.AssignRolesRequest{TenantId: b, UserId: bUser.GetId(), RoleIds: []string{r.GetId()}})
				return err
			}},
			{"delete role", func() error {
				_, err := e.roles.DeleteRole(e.ctx, &identityv1.DeleteRoleRequest{TenantId: b, RoleId: r.GetId()})
				return err
			}},
			{"list assigned roles", func() error {
				_, err := e.roles.ListAssignedRoles(e.ctx, &identityv1.ListAssignedRolesRequest{TenantId: b, UserId: u.GetId()})
				return err
			}},
			{"unknown tenant", func() error {
				_, err := e.users.ListUsers(e.ctx, &identityv1.ListUsersRequest{TenantId: newUUID()})
				return err
			}},
		}
		before := changeCount(t, e)
		for _, c := range calls {
			t.Run(c.name, func(t *testing.T) { wantCode(t, c.call(), codes.NotFound) })
		}
		if after := changeCount(t, e); after != before {
			t.Fatalf("refused calls wrote %d change-log entries", after-before)
		}
		if list, err := e.users.ListUsers(e.ctx, &identityv1.ListUsersRequest{TenantId: b}); err != nil || len(list.GetUsers()) != 1 {
			t.Fatalf("tenant B lists %v, %v", list, err)
		}
	})
}

func changeCount(t *testing.T, e *env) int {
	t.Helper()
	n, err := e.db.Change.Query().Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPaginationUnderConcurrentWrites pages through users while other users
// are created and deleted: every user that exists throughout is seen exactly
// once, and no page repeats a user.
func TestPaginationUnderConcurrentWrites(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		e := newEnv(t, db)
		tid := e.tenant(t)
		stable := map[string]bool{}
		var churn []string
		for i := range 60 {
			stable[e.user(t, tid, fmt.Sprintf("stable-%02d", i)).GetId()] = true
			churn = append(churn, e.user(t, tid, fmt.Sprintf("churn-%02d", i)).GetId())
		}
		ctx, cancel := context.WithCancel(e.ctx)
		defer cancel()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ctx.Err() == nil; i++ {
				_, _ = e.users.CreateUser(ctx, &identityv1.CreateUserRequest{TenantId: tid, User: &identityv1.User{UserName: fmt.Sprintf("new-%d", i)}})
				if i < len(churn) {
					_, _ = e.users.DeleteUser(ctx, &identityv1.DeleteUserRequest{TenantId: tid, UserId: churn[i]})
				}
			}
		}()
		seen := map[string]int{}
		token := ""
		for {
			resp, err := e.users.ListUsers(e.ctx, &identityv1.ListUsersRequest{TenantId: tid, PageSize: 7, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range resp.GetUsers() {
				seen[u.GetId()]++
			}
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		cancel()
		<-done
		for id, n := range seen {
			if n > 1 {
				t.Errorf("user %s seen %d times", id, n)
			}
		}
		for id := range stable {
			if seen[id] != 1 {
				t.Errorf("stable user %s seen %d times", id, seen[id])
			}
		}

		// A token is refused with another filter.
		first, err := e.users.ListUsers(e.ctx, &identityv1.ListUsersRequest{TenantId: tid, PageSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.users.ListUsers(e.ctx, &identityv1.ListUsersRequest{TenantId: tid, PageSize: 1, PageToken: first.GetNextPageToken(),
			Filter: &identityv1.UserFilter{Active: proto.Bool(true)}})
		wantCode(t, err, codes.InvalidArgument)
		_, err = e.users.ListUsers(e.ctx, &identityv1.ListUsersRequest{TenantId: tid, PageToken: "garbage"})
		wantCode(t, err, codes.InvalidArgument)
	})
}

// TestChangeLog checks that every write appends its entries with the revision
// it returned, that refused writes append nothing, and that concurrent writes
// get distinct, gap-free revisions with exactly their own entries.
func TestChangeLog(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		e := newEnv(t, db)
		bg := context.Background()
		tid := e.tenant(t)
		u := e.user(t, tid, "ada")
		g := e.group(t, tid, "eng")
		add, err := e.groups.AddGroupMembers(e.ctx, &identityv1.AddGroupMembersRequest{TenantId: tid, GroupId: g.GetId(), UserIds: []string{u.GetId()}})
		if err != nil {
			t.Fatal(err)
		}
		entries := e.db.Change.Query().Where(change.Revision(add.GetRevision())).AllX(bg)
		if len(entries) != 1 || entries[0].Kind != change.KindGroupMember || entries[0].Operation != change.OperationAdd ||
			entries[0].ResourceID != g.GetId() || entries[0].UserID != u.GetId() || entries[0].TenantID != tid {
			t.Fatalf("membership entry %v", entries)
		}

		before := changeCount(t, e)
		_, err = e.users.CreateUser(e.ctx, &identityv1.CreateUserRequest{TenantId: tid, User: &identityv1.User{UserName: "ADA"}})
		wantCode(t, err, codes.AlreadyExists)
		if changeCount(t, e) != before {
			t.Fatal("a refused write appended to the change log")
		}

		const writers = 12
		var wg sync.WaitGroup
		revs := make(chan int64, writers)
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := e.roles.CreateRole(e.ctx, &identityv1.CreateRoleRequest{TenantId: tid, Role: &identityv1.Role{Name: fmt.Sprintf("r%d", i)}})
				if err != nil {
					t.Error(err)
					return
				}
				if resp.GetRole().GetVersion() != 1 {
					t.Errorf("version %d of a new role", resp.GetRole().GetVersion())
				}
				revs <- resp.GetRevision()
			}()
		}
		wg.Wait()
		close(revs)
		got := map[int64]bool{}
		for r := range revs {
			got[r] = true
		}
		proj := e.db.Project.Query().OnlyX(bg)
		for r := proj.Revision - writers + 1; r <= proj.Revision; r++ {
			if !got[r] {
				t.Fatalf("revisions %v are not the last %d of %d", got, writers, proj.Revision)
			}
			entries := e.db.Change.Query().Where(change.Revision(r)).AllX(bg)
			if len(entries) != 1 || entries[0].Kind != change.KindRole {
				t.Fatalf("revision %d has entries %v", r, entries)
			}
		}
		// Every revision up to the latest has entries: the log has no hole.
		for r := int64(1); r <= proj.Revision; r++ {
			if !e.db.Change.Query().Where(change.Revision(r)).ExistX(bg) {
				t.Fatalf("revision %d has no entries", r)
			}
		}
	})
}

// TestTypedFiltersCompareAsExpressions checks that a typed filter field and
// the FilterExpression condition on the same attribute select the same users:
// both compile through the one attribute table. display_name ignores case
// either way, as RFC 7643 declares displayName (caseExact false).
func TestTypedFiltersCompareAsExpressions(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		e := newEnv(t, db)
		tid := e.tenant(t)
		if _, err := e.users.CreateUser(e.ctx, &identityv1.CreateUserRequest{TenantId: tid,
			User: &identityv1.User{UserName: "ada@example.com", DisplayName: "Ada Lovelace"}}); err != nil {
			t.Fatal(err)
		}
		cond := func(attr, v string) *identityv1.FilterExpression {
			return &identityv1.FilterExpression{Nodes: []*identityv1.FilterNode{{Node: &identityv1.FilterNode_Condition{
				Condition: &identityv1.FilterCondition{Attribute: attr, Operator: identityv1.FilterOperator_FILTER_OPERATOR_EQ,
					Value: &identityv1.FilterCondition_StringValue{StringValue: v}}}}}}
		}
		cases := []struct {
			name  string
			typed *identityv1.UserFilter
			expr  *identityv1.FilterExpression
			want  int
		}{
			{"display_name other case", &identityv1.UserFilter{DisplayName: eq("ADA LOVELACE")}, cond("display_name", "ADA LOVELACE"), 1},
			{"display_name other name", &identityv1.UserFilter{DisplayName: eq("Ada")}, cond("display_name", "Ada"), 0},
			{"user_name other case", &identityv1.UserFilter{UserName: eq("ADA@example.com")}, cond("user_name", "ADA@example.com"), 1},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				for _, f := range []*identityv1.UserFilter{c.typed, {Expression: c.expr}} {
					resp, err := e.users.ListUsers(e.ctx, &identityv1.ListUsersRequest{TenantId: tid, Filter: f})
					if err != nil {
						t.Fatal(err)
					}
					if len(resp.GetUsers()) != c.want {
						t.Fatalf("filter %v: got %d users, want %d", f, len(resp.GetUsers()), c.want)
					}
				}
			})
		}
	})
}
