package roleindex

import (
	"context"
	"sort"
	"sync"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/server/apierr"
	"github.com/acme/identity/server/changelog"
)

// WatchRetention is how many revisions with role changes a tenant keeps for
// watchers; older ones are refused (REVISION_TOO_OLD).
const WatchRetention = 10000

// Index keeps every tenant's effective roles in memory and follows the change
// log (it is a changelog.Loader) to stay current: role checks answer from
// memory, never from the database.
type Index struct {
	db *ent.Client

	mu      sync.RWMutex
	tenants map[string]*TenantState
}

// Batch is the effective-role changes of one revision in one tenant.
type Batch struct {
	Revision int64
	Changes  []Change
}

// TenantState is one tenant's index and its recent changes.
type TenantState struct {
	projectID string
	mu        sync.RWMutex
	idx       *Tenant
	// floor: the batches of every revision after floor are retained.
	floor   int64
	batches []Batch
	notify  chan struct{} // closed and replaced when a batch is appended or the tenant is deleted
	deleted bool
}

func newTenantState(projectID string) *TenantState {
	return &TenantState{projectID: projectID, idx: New(), notify: make(chan struct{})}
}

// NewIndex returns an empty index over db; the change-log follower loads it.
func NewIndex(db *ent.Client) *Index {
	return &Index{db: db, tenants: map[string]*TenantState{}}
}

// Tenant returns a tenant's state; NotFound unless the tenant exists in the
// project.
func (ix *Index) Tenant(projectID, tenantID string) (*TenantState, error) {
	ix.mu.RLock()
	ts := ix.tenants[tenantID]
	ix.mu.RUnlock()
	if ts == nil || ts.projectID != projectID {
		return nil, apierr.NotFound("tenant", tenantID)
	}
	return ts, nil
}

// Read runs fn on the tenant's index under its read lock.
func (ts *TenantState) Read(fn func(*Tenant)) {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	fn(ts.idx)
}

// Since returns the retained batches after revision from, the revision the
// retained ones start after, whether the tenant was deleted, and a channel
// closed when any of that changes.
func (ts *TenantState) Since(from int64) (pending []Batch, floor int64, deleted bool, changed <-chan struct{}) {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	i := sort.Search(len(ts.batches), func(i int) bool { return ts.batches[i].Revision > from })
	return ts.batches[i:], ts.floor, ts.deleted, ts.notify
}

// Loaded starts the watch buffers: what happened before the index existed is
// not retained.
func (ix *Index) Loaded(revision func(projectID string) int64) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for _, ts := range ix.tenants {
		ts.mu.Lock()
		ts.floor, ts.batches = revision(ts.projectID), nil
		ts.mu.Unlock()
	}
}

// Apply applies a project's records, revision by revision, and appends each
// tenant's effective-role changes to its watch buffer.
func (ix *Index) Apply(ctx context.Context, projectID string, records []changelog.Record) error {
	current, err := ix.readRows(ctx, records)
	if err != nil {
		return err
	}
	for i := 0; i < len(records); {
		rev := records[i].Revision
		changed := map[*TenantState][]Change{}
		for ; i < len(records) && records[i].Revision == rev; i++ {
			ts, changes := ix.apply(projectID, records[i].Event, current)
			if ts != nil && len(changes) > 0 {
				changed[ts] = append(changed[ts], changes...)
			}
		}
		for ts, changes := range changed {
			ts.publish(rev, changes)
		}
	}
	return nil
}

// apply applies one event. Creates and updates put the row as it is now
// (read in bulk by readRows); a row deleted since is absent and its delete
// event follows.
func (ix *Index) apply(projectID string, e changelog.Event, current rows) (*TenantState, []Change) {
	switch e := e.(type) {
	case changelog.TenantCreated:
		ix.mu.Lock()
		defer ix.mu.Unlock()
		if ix.tenants[string(e.Tenant)] == nil {
			ix.tenants[string(e.Tenant)] = newTenantState(projectID)
		}
		return nil, nil
	case changelog.TenantDeleted:
		ix.mu.Lock()
		defer ix.mu.Unlock()
		if ts := ix.tenants[string(e.Tenant)]; ts != nil {
			ts.mu.Lock()
			ts.deleted = true
			close(ts.notify)
			ts.mu.Unlock()
			delete(ix.tenants, string(e.Tenant))
		}
		return nil, nil
	}
	ix.mu.RLock()
	ts := ix.tenants[string(changelog.Tenant(e))]
	ix.mu.RUnlock()
	if ts == nil {
		return nil, nil
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t := ts.idx
	switch e := e.(type) {
	case changelog.UserCreated, changelog.UserUpdated, changelog.UserDeactivated, changelog.UserReactivated:
		if u := current.users[userOf(e)]; u != nil {
			return ts, t.PutUser(indexUser(u))
		}
	case changelog.UserDeleted:
		return ts, t.DeleteUser(string(e.User))
	case changelog.RoleCreated:
		return ts, ix.putRole(t, current, e.Role)
	case changelog.RoleUpdated:
		return ts, ix.putRole(t, current, e.Role)
	case changelog.RoleDeleted:
		return ts, t.DeleteRole(string(e.Role))
	case changelog.GroupCreated:
		return ts, ix.putGroup(t, current, e.Group)
	case changelog.GroupUpdated:
		return ts, ix.putGroup(t, current, e.Group)
	case changelog.GroupDeleted:
		return ts, t.DeleteGroup(string(e.Group))
	case changelog.MemberAdded:
		return ts, t.AddMember(string(e.Group), string(e.User))
	case changelog.MemberRemoved:
		return ts, t.RemoveMember(string(e.Group), string(e.User))
	case changelog.RoleAssigned:
		return ts, t.Assign(string(e.User), string(e.Role))
	case changelog.RoleUnassigned:
		return ts, t.Unassign(string(e.User), string(e.Role))
	case changelog.RoleMapped:
		return ts, t.Map(string(e.Group), string(e.Role))
	case changelog.RoleUnmapped:
		return ts, t.Unmap(string(e.Group), string(e.Role))
	case changelog.SessionRevoked:
		// Not a role change, but watchers of the tenant drop the session's
		// access tokens on it.
		return ts, []Change{{UserID: string(e.User), SessionID: string(e.Session)}}
	}
	return ts, nil
}

func (ix *Index) putRole(t *Tenant, current rows, id changelog.RoleID) []Change {
	if r := current.roles[string(id)]; r != nil {
		return t.PutRole(indexRole(r))
	}
	return nil
}

func (ix *Index) putGroup(t *Tenant, current rows, id changelog.GroupID) []Change {
	if g := current.groups[string(id)]; g != nil {
		return t.PutGroup(indexGroup(g))
	}
	return nil
}

// publish appends a revision's changes to the watch buffer. It is called
// without ts.mu held.
func (ts *TenantState) publish(rev int64, changes []Change) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	// A revision applied again (the follower retries after an error) is
	// published once.
	if ts.deleted || rev <= ts.floor || (len(ts.batches) > 0 && ts.batches[len(ts.batches)-1].Revision >= rev) {
		return
	}
	ts.batches = append(ts.batches, Batch{Revision: rev, Changes: changes})
	if n := len(ts.batches) - WatchRetention; n > 0 {
		ts.floor = ts.batches[n-1].Revision
		ts.batches = append([]Batch(nil), ts.batches[n:]...)
	}
	close(ts.notify)
	ts.notify = make(chan struct{})
}
