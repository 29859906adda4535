package server_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// TestConcurrentTenantsWatch runs writers of two tenants at once (writes of
// different tenants take no common lock, and are numbered after commit) and
// requires each tenant's watch to be an ordered history: revisions grow, no
// change repeats the state it starts from (a gain of a role already held
// would mean two conflicting writes were numbered out of commit order), and
// folding the changes into the first state gives the database's final state.
func TestConcurrentTenantsWatch(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		e := newEnv(t, db)
		watchCtx, stop := context.WithCancel(e.ctx)
		defer stop()
		tenants := make([]*watchedTenant, 2)
		for i := range tenants {
			tn := &watchedTenant{id: e.tenant(t)}
			for j := range 2 {
				tn.users = append(tn.users, e.user(t, tn.id, fmt.Sprintf("u%d", j)).GetId())
			}
			for j := range 2 {
				g := e.group(t, tn.id, fmt.Sprintf("g%d", j))
				r := e.role(t, tn.id, fmt.Sprintf("r%d", j))
				tn.groups, tn.roles = append(tn.groups, g.GetId()), append(tn.roles, r.GetId())
				if _, err := e.groups.MapGroupRoles(e.ctx, &identityv1.MapGroupRolesRequest{TenantId: tn.id, GroupId: g.GetId(), RoleIds: []string{r.GetId()}}); err != nil {
					t.Fatal(err)
				}
			}
			start, err := e.authz().ListUserRoles(e.ctx, &identityv1.ListUserRolesRequest{TenantId: tn.id, User: byID(tn.users[0])})
			if err != nil {
				t.Fatal(err)
			}
			tn.state = fromDatabase(t, e, tn.id)
			tn.stream, err = e.authz().WatchRoleChanges(watchCtx, &identityv1.WatchRoleChangesRequest{TenantId: tn.id, FromRevision: start.GetRevision()})
			if err != nil {
				t.Fatal(err)
			}
			tenants[i] = tn
		}

		for _, tn := range tenants {
			tn.sentinel = e.role(t, tn.id, "sentinel").GetId()
		}
		// Rounds of six writers per tenant adding and removing the same few
		// memberships and assignments, so that writes of one tenant conflict
		// often; after each round, each tenant's watch must have reached the
		// database's state.
		for round := range 5 {
			var wg sync.WaitGroup
			for i, tn := range tenants {
				for w := range 6 {
					wg.Go(func() {
						rng := rand.New(rand.NewPCG(uint64(round), uint64(10*i+w)))
						pick := func(ids []string) string { return ids[rng.IntN(len(ids))] }
						for range 15 {
							var err error
							switch rng.IntN(4) {
							case 0:
								_, err = e.groups.AddGroupMembers(e.ctx, &identityv1.AddGroupMembersRequest{TenantId: tn.id, GroupId: pick(tn.groups), UserIds: []string{pick(tn.users)}})
							case 1:
								_, err = e.groups.RemoveGroupMembers(e.ctx, &identityv1.RemoveGroupMembersRequest{TenantId: tn.id, GroupId: pick(tn.groups), UserIds: []string{pick(tn.users)}})
							case 2:
								_, err = e.roles.AssignRoles(e.ctx, &identityv1.AssignRolesRequest{TenantId: tn.id, UserId: pick(tn.users), RoleIds: []string{pick(tn.roles)}})
							default:
								_, err = e.roles.UnassignRoles(e.ctx, &identityv1.UnassignRolesRequest{TenantId: tn.id, UserId: pick(tn.users), RoleIds: []string{pick(tn.roles)}})
							}
							if err != nil {
								t.Error(err)
								return
							}
						}
					})
				}
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			for _, tn := range tenants {
				tn.catchUp(t, e, round, stop)
			}
		}
	})
}

// catchUp makes a write with a known effect (the sentinel role toggled) and
// folds the watched changes up to it into the tenant's state, which must then
// be the database's.
func (tn *watchedTenant) catchUp(t *testing.T, e *env, round int, stop func()) {
	t.Helper()
	var end int64
	if round%2 == 0 {
		r, err := e.roles.AssignRoles(e.ctx, &identityv1.AssignRolesRequest{TenantId: tn.id, UserId: tn.users[0], RoleIds: []string{tn.sentinel}})
		if err != nil {
			t.Fatal(err)
		}
		end = r.GetRevision()
	} else {
		r, err := e.roles.UnassignRoles(e.ctx, &identityv1.UnassignRolesRequest{TenantId: tn.id, UserId: tn.users[0], RoleIds: []string{tn.sentinel}})
		if err != nil {
			t.Fatal(err)
		}
		end = r.GetRevision()
	}
	final := fromDatabase(t, e, tn.id)
	deadline := time.AfterFunc(10*time.Second, stop)
	defer deadline.Stop()
	for tn.seen < end {
		msg, err := tn.stream.Recv()
		if err != nil {
			t.Fatalf("watch ended at %d of %d: %v", tn.seen, end, err)
		}
		if msg.GetRevision() <= tn.seen {
			t.Fatalf("revision %d after %d", msg.GetRevision(), tn.seen)
		}
		tn.seen = msg.GetRevision()
		for _, c := range msg.GetChanges() {
			if tn.state[c.GetUserId()] == nil {
				tn.state[c.GetUserId()] = map[string]bool{}
			}
			if tn.state[c.GetUserId()][c.GetRoleId()] == c.GetGained() {
				t.Fatalf("revision %d: %v repeats the current state", tn.seen, c)
			}
			if c.GetGained() {
				tn.state[c.GetUserId()][c.GetRoleId()] = true
			} else {
				delete(tn.state[c.GetUserId()], c.GetRoleId())
			}
		}
	}
	if tn.state.String() != final.String() {
		t.Fatalf("round %d, tenant %s: watched\n%v\nfinal\n%v", round, tn.id, tn.state, final)
	}
}

type watchedTenant struct {
	id                   string
	users, groups, roles []string
	sentinel             string
	state                model
	seen                 int64
	stream               identityv1.AuthzService_WatchRoleChangesClient
}
