package server_test

import (
	"fmt"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/acme/identity/ent/tenantcount"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/store/scope"
)

// TestListTotals checks the total of unfiltered lists, which comes from the
// tenant's counters: exact after concurrent creates and deletes (creates of
// one tenant run side by side), equal to a filtered count of the same rows,
// confined to the tenant, and recounted at start for a tenant stored before
// counters existed.
func TestListTotals(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		e := newEnv(t, db)
		tid, other := e.tenant(t), e.tenant(t)
		e.user(t, other, "elsewhere")
		var wg sync.WaitGroup
		ids := make(chan string, 40)
		for w := range 8 {
			wg.Go(func() {
				for i := range 5 {
					u, err := e.users.CreateUser(e.ctx, &identityv1.CreateUserRequest{TenantId: tid, User: &identityv1.User{UserName: fmt.Sprintf("u%d-%d", w, i)}})
					if err != nil {
						t.Error(err)
						return
					}
					ids <- u.GetUser().GetId()
				}
			})
		}
		wg.Wait()
		close(ids)
		deleted := 0
		for id := range ids {
			if deleted == 10 {
				break
			}
			if _, err := e.users.DeleteUser(e.ctx, &identityv1.DeleteUserRequest{TenantId: tid, UserId: id}); err != nil {
				t.Fatal(err)
			}
			deleted++
		}
		for range 3 {
			e.group(t, tid, newUUID())
		}
		totals := func(e *env) (users, active, groups int32) {
			t.Helper()
			all, err := e.users.ListUsers(e.ctx, &identityv1.ListUsersRequest{TenantId: tid, PageSize: 1})
			if err != nil {
				t.Fatal(err)
			}
			filtered, err := e.users.ListUsers(e.ctx, &identityv1.ListUsersRequest{TenantId: tid, PageSize: 1,
				Filter: &identityv1.UserFilter{Active: proto.Bool(true)}})
			if err != nil {
				t.Fatal(err)
			}
			gs, err := e.groups.ListGroups(e.ctx, &identityv1.ListGroupsRequest{TenantId: tid, PageSize: 1})
			if err != nil {
				t.Fatal(err)
			}
			return all.GetTotalSize(), filtered.GetTotalSize(), gs.GetTotalSize()
		}
		if u, a, g := totals(e); u != 30 || a != 30 || g != 3 {
			t.Fatalf("totals: %d users (%d by a filter that counts rows), %d groups; want 30, 30, 3", u, a, g)
		}

		// A tenant stored before counters existed is counted at start.
		if _, err := e.db.TenantCount.Delete().Where(tenantcount.TenantID(tid)).Exec(scope.System(e.ctx)); err != nil {
			t.Fatal(err)
		}
		if u, a, g := totals(e.secondInstance(t)); u != 30 || a != 30 || g != 3 {
			t.Fatalf("after a recount: %d users (%d by a filter), %d groups; want 30, 30, 3", u, a, g)
		}
	})
}
