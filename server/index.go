package server

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/change"
	"github.com/acme/identity/ent/group"
	"github.com/acme/identity/ent/groupmembership"
	"github.com/acme/identity/ent/grouprole"
	"github.com/acme/identity/ent/project"
	"github.com/acme/identity/ent/role"
	"github.com/acme/identity/ent/roleassignment"
	"github.com/acme/identity/ent/tenant"
	"github.com/acme/identity/ent/user"
	"github.com/acme/identity/server/roleindex"
)

// The role index keeps every tenant's effective roles in memory and follows
// the change log to stay current: role checks answer from memory, never from
// the database.
//
// Propagation is by polling the change log (every pollInterval, and at once
// when this instance commits a write): it works the same on SQLite and
// PostgreSQL, needs no extra connection per instance, and because revisions
// are handed out in commit order (see Server.write), reading "revision > last
// applied" never skips a write. A write through another instance therefore
// reaches this one's index within pollInterval plus one apply, well under a
// second. LISTEN/NOTIFY would shave the poll wait on PostgreSQL only, at the
// cost of a held connection per instance and a second code path.
const (
	pollInterval = 100 * time.Millisecond
	// watchRetention is how many revisions with role changes a tenant keeps
	// for WatchRoleChanges; older ones answer REVISION_TOO_OLD.
	watchRetention = 10000
)

type roleIndex struct {
	srv  *Server
	poke chan struct{}

	mu       sync.RWMutex
	tenants  map[string]*tenantState
	projects map[string]*projectState
}

type projectState struct {
	applied atomic.Int64 // every change up to this revision is in the index
	// committed is the highest revision this instance committed; checks
	// without at_least_revision wait for it, which gives read-after-write on
	// this instance.
	committed atomic.Int64
	mu        sync.Mutex
	advanced  chan struct{} // closed and replaced whenever applied grows
}

// roleBatch is the effective-role changes of one revision in one tenant.
type roleBatch struct {
	revision int64
	changes  []roleindex.Change
}

type tenantState struct {
	projectID string
	mu        sync.RWMutex
	idx       *roleindex.Tenant
	// floor: the batches of every revision after floor are retained.
	floor   int64
	batches []roleBatch
	notify  chan struct{} // closed and replaced when a batch is appended or the tenant is deleted
	deleted bool
}

func newTenantState(projectID string) *tenantState {
	return &tenantState{projectID: projectID, idx: roleindex.New(), notify: make(chan struct{})}
}

func newRoleIndex(srv *Server) *roleIndex {
	return &roleIndex{
		srv:      srv,
		poke:     make(chan struct{}, 1),
		tenants:  map[string]*tenantState{},
		projects: map[string]*projectState{},
	}
}

func (ri *roleIndex) project(id string) *projectState {
	ri.mu.RLock()
	p := ri.projects[id]
	ri.mu.RUnlock()
	if p != nil {
		return p
	}
	ri.mu.Lock()
	defer ri.mu.Unlock()
	if p = ri.projects[id]; p == nil {
		p = &projectState{advanced: make(chan struct{})}
		ri.projects[id] = p
	}
	return p
}

func (ri *roleIndex) tenant(id string) *tenantState {
	ri.mu.RLock()
	defer ri.mu.RUnlock()
	return ri.tenants[id]
}

// wake asks the poller to read the change log now.
func (ri *roleIndex) wake() {
	select {
	case ri.poke <- struct{}{}:
	default:
	}
}

// committed notes a write of this instance and waits until the index holds it,
// so that a check that starts after the write returned sees it.
func (ri *roleIndex) committed(ctx context.Context, projectID string, rev int64) error {
	p := ri.project(projectID)
	for {
		cur := p.committed.Load()
		if cur >= rev || p.committed.CompareAndSwap(cur, rev) {
			break
		}
	}
	return ri.waitFor(ctx, projectID, rev)
}

// waitFor blocks until the index holds revision rev of the project.
func (ri *roleIndex) waitFor(ctx context.Context, projectID string, rev int64) error {
	p := ri.project(projectID)
	for {
		p.mu.Lock()
		advanced := p.advanced
		p.mu.Unlock()
		if p.applied.Load() >= rev {
			return nil
		}
		ri.wake()
		select {
		case <-advanced:
		case <-ctx.Done():
			return fmt.Errorf("wait for revision %d: %w", rev, ctx.Err())
		}
	}
}

func (p *projectState) advance(rev int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if rev > p.applied.Load() {
		p.applied.Store(rev)
		close(p.advanced)
		p.advanced = make(chan struct{})
	}
}

// run follows the change log until ctx ends.
func (ri *roleIndex) run(ctx context.Context) {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-ri.poke:
		}
		if err := ri.poll(ctx); err != nil && ctx.Err() == nil {
			ri.srv.log.WarnContext(ctx, "follow change log", "error", err)
		}
	}
}

// build loads every tenant from the database. Rows are read outside one
// snapshot; the change log is then replayed from the revision read first,
// which is harmless (every change applies idempotently from current rows) and
// repairs whatever changed while loading.
func (ri *roleIndex) build(ctx context.Context) error {
	db := ri.srv.db
	projects, err := db.Project.Query().Select(project.FieldID, project.FieldRevision).All(ctx)
	if err != nil {
		return fmt.Errorf("read projects: %w", err)
	}
	for _, p := range projects {
		ri.project(p.ID).applied.Store(p.Revision)
	}
	tenants, err := db.Tenant.Query().Select(tenant.FieldID, tenant.FieldProjectID).All(ctx)
	if err != nil {
		return fmt.Errorf("read tenants: %w", err)
	}
	ri.mu.Lock()
	for _, t := range tenants {
		ri.tenants[t.ID] = newTenantState(t.ProjectID)
	}
	ri.mu.Unlock()

	users, err := db.User.Query().Select(user.FieldID, user.FieldTenantID, user.FieldUserName, user.FieldUserNameKey, user.FieldActive).All(ctx)
	if err != nil {
		return fmt.Errorf("read users: %w", err)
	}
	for _, u := range users {
		ri.apply(u.TenantID, func(t *roleindex.Tenant) []roleindex.Change { return t.PutUser(indexUser(u)) })
	}
	roles, err := db.Role.Query().Select(role.FieldID, role.FieldTenantID, role.FieldName, role.FieldNameKey, role.FieldPermissions).All(ctx)
	if err != nil {
		return fmt.Errorf("read roles: %w", err)
	}
	for _, r := range roles {
		ri.apply(r.TenantID, func(t *roleindex.Tenant) []roleindex.Change { return t.PutRole(indexRole(r)) })
	}
	groups, err := db.Group.Query().Select(group.FieldID, group.FieldTenantID, group.FieldDisplayNameKey).All(ctx)
	if err != nil {
		return fmt.Errorf("read groups: %w", err)
	}
	for _, g := range groups {
		ri.apply(g.TenantID, func(t *roleindex.Tenant) []roleindex.Change { return t.PutGroup(indexGroup(g)) })
	}
	var members []struct {
		TenantID string `json:"tenant_id"`
		GroupID  string `json:"group_id"`
		UserID   string `json:"user_id"`
	}
	if err := db.GroupMembership.Query().
		Select(groupmembership.FieldTenantID, groupmembership.FieldGroupID, groupmembership.FieldUserID).
		Scan(ctx, &members); err != nil {
		return fmt.Errorf("read memberships: %w", err)
	}
	for _, m := range members {
		ri.apply(m.TenantID, func(t *roleindex.Tenant) []roleindex.Change { return t.AddMember(m.GroupID, m.UserID) })
	}
	var assignments []struct {
		TenantID string `json:"tenant_id"`
		UserID   string `json:"user_id"`
		RoleID   string `json:"role_id"`
	}
	if err := db.RoleAssignment.Query().
		Select(roleassignment.FieldTenantID, roleassignment.FieldUserID, roleassignment.FieldRoleID).
		Scan(ctx, &assignments); err != nil {
		return fmt.Errorf("read role assignments: %w", err)
	}
	for _, a := range assignments {
		ri.apply(a.TenantID, func(t *roleindex.Tenant) []roleindex.Change { return t.Assign(a.UserID, a.RoleID) })
	}
	var mappings []struct {
		TenantID string `json:"tenant_id"`
		GroupID  string `json:"group_id"`
		RoleID   string `json:"role_id"`
	}
	if err := db.GroupRole.Query().
		Select(grouprole.FieldTenantID, grouprole.FieldGroupID, grouprole.FieldRoleID).
		Scan(ctx, &mappings); err != nil {
		return fmt.Errorf("read group role mappings: %w", err)
	}
	for _, m := range mappings {
		ri.apply(m.TenantID, func(t *roleindex.Tenant) []roleindex.Change { return t.Map(m.GroupID, m.RoleID) })
	}
	if err := ri.poll(ctx); err != nil {
		return err
	}
	// Watches start here: what happened before the index existed is not
	// retained.
	ri.mu.RLock()
	defer ri.mu.RUnlock()
	for _, ts := range ri.tenants {
		ts.mu.Lock()
		ts.floor, ts.batches = ri.projects[ts.projectID].applied.Load(), nil
		ts.mu.Unlock()
	}
	return nil
}

// apply runs a mutation on a tenant's index, discarding its changes (used
// while building, when nobody watches yet).
func (ri *roleIndex) apply(tenantID string, fn func(*roleindex.Tenant) []roleindex.Change) {
	if ts := ri.tenant(tenantID); ts != nil {
		ts.mu.Lock()
		fn(ts.idx)
		ts.mu.Unlock()
	}
}

func indexUser(u *ent.User) roleindex.User {
	return roleindex.User{ID: u.ID, UserName: u.UserName, NameKey: u.UserNameKey, Active: u.Active}
}

func indexRole(r *ent.Role) roleindex.Role {
	return roleindex.Role{ID: r.ID, Name: r.Name, NameKey: r.NameKey, Permissions: r.Permissions}
}

func indexGroup(g *ent.Group) roleindex.Group {
	return roleindex.Group{ID: g.ID, NameKey: g.DisplayNameKey}
}

// poll applies every committed change the index does not hold yet.
func (ri *roleIndex) poll(ctx context.Context) error {
	projects, err := ri.srv.db.Project.Query().Select(project.FieldID, project.FieldRevision).All(ctx)
	if err != nil {
		return fmt.Errorf("read revisions: %w", err)
	}
	for _, p := range projects {
		ps := ri.project(p.ID)
		from := ps.applied.Load()
		if p.Revision <= from {
			continue
		}
		// Changes up to the revision just read are all committed: the counter
		// and the entries commit together, in revision order.
		entries, err := ri.srv.db.Change.Query().
			Where(change.ProjectID(p.ID), change.RevisionGT(from), change.RevisionLTE(p.Revision)).
			Order(ent.Asc(change.FieldRevision), ent.Asc(change.FieldID)).
			All(ctx)
		if err != nil {
			return fmt.Errorf("read change log: %w", err)
		}
		if err := ri.applyEntries(ctx, p.ID, entries); err != nil {
			return err
		}
		ps.advance(p.Revision)
	}
	return nil
}

// rows are the current rows of what a batch of entries created or updated,
// read in bulk; a row deleted since is simply absent (its delete entry follows).
type rows struct {
	users  map[string]*ent.User
	roles  map[string]*ent.Role
	groups map[string]*ent.Group
}

func (ri *roleIndex) readRows(ctx context.Context, entries []*ent.Change) (rows, error) {
	var userIDs, roleIDs, groupIDs []string
	for _, e := range entries {
		if e.Operation != change.OperationCreate && e.Operation != change.OperationUpdate {
			continue
		}
		switch e.Kind {
		case change.KindUser:
			userIDs = append(userIDs, e.ResourceID)
		case change.KindRole:
			roleIDs = append(roleIDs, e.ResourceID)
		case change.KindGroup:
			groupIDs = append(groupIDs, e.ResourceID)
		}
	}
	out := rows{users: map[string]*ent.User{}, roles: map[string]*ent.Role{}, groups: map[string]*ent.Group{}}
	db := ri.srv.db
	for chunk := range chunks(userIDs) {
		us, err := db.User.Query().Where(user.IDIn(chunk...)).
			Select(user.FieldID, user.FieldTenantID, user.FieldUserName, user.FieldUserNameKey, user.FieldActive).All(ctx)
		if err != nil {
			return out, fmt.Errorf("read users: %w", err)
		}
		for _, u := range us {
			out.users[u.ID] = u
		}
	}
	for chunk := range chunks(roleIDs) {
		rs, err := db.Role.Query().Where(role.IDIn(chunk...)).
			Select(role.FieldID, role.FieldTenantID, role.FieldName, role.FieldNameKey, role.FieldPermissions).All(ctx)
		if err != nil {
			return out, fmt.Errorf("read roles: %w", err)
		}
		for _, r := range rs {
			out.roles[r.ID] = r
		}
	}
	for chunk := range chunks(groupIDs) {
		gs, err := db.Group.Query().Where(group.IDIn(chunk...)).
			Select(group.FieldID, group.FieldTenantID, group.FieldDisplayNameKey).All(ctx)
		if err != nil {
			return out, fmt.Errorf("read groups: %w", err)
		}
		for _, g := range gs {
			out.groups[g.ID] = g
		}
	}
	return out, nil
}

// chunks splits ids into groups small enough for one IN list.
func chunks(ids []string) func(func([]string) bool) {
	return func(yield func([]string) bool) {
		for len(ids) > 0 {
			n := min(len(ids), 500)
			if !yield(ids[:n]) {
				return
			}
			ids = ids[n:]
		}
	}
}

// applyEntries applies change-log entries in order, revision by revision,
// and appends each tenant's effective-role changes to its watch buffer.
func (ri *roleIndex) applyEntries(ctx context.Context, projectID string, entries []*ent.Change) error {
	current, err := ri.readRows(ctx, entries)
	if err != nil {
		return err
	}
	for i := 0; i < len(entries); {
		rev := entries[i].Revision
		changed := map[*tenantState][]roleindex.Change{}
		for ; i < len(entries) && entries[i].Revision == rev; i++ {
			ts, changes := ri.applyEntry(projectID, entries[i], current)
			if ts != nil && len(changes) > 0 {
				changed[ts] = append(changed[ts], changes...)
			}
			if invalidatesCredentials(entries[i]) {
				ri.srv.creds.clear()
			}
		}
		for ts, changes := range changed {
			ts.publish(rev, changes)
		}
		ri.project(projectID).advance(rev)
	}
	return nil
}

// invalidatesCredentials says whether an entry can change what a cached
// credential may do: keys, SCIM tokens, SSO (which disables SCIM), roles
// (tenant-role bindings grant their permissions) and tenant deletion.
func invalidatesCredentials(e *ent.Change) bool {
	switch e.Kind {
	case change.KindAccessKey, change.KindScim, change.KindSamlConfig, change.KindRole:
		return true
	case change.KindTenant:
		return e.Operation == change.OperationDelete
	}
	return false
}

func (ri *roleIndex) applyEntry(projectID string, e *ent.Change, current rows) (*tenantState, []roleindex.Change) {
	if e.Kind == change.KindTenant {
		ri.mu.Lock()
		defer ri.mu.Unlock()
		switch e.Operation {
		case change.OperationCreate:
			if ri.tenants[e.TenantID] == nil {
				ri.tenants[e.TenantID] = newTenantState(projectID)
			}
		case change.OperationDelete:
			if ts := ri.tenants[e.TenantID]; ts != nil {
				ts.mu.Lock()
				ts.deleted = true
				close(ts.notify)
				ts.mu.Unlock()
				delete(ri.tenants, e.TenantID)
			}
		}
		return nil, nil
	}
	ts := ri.tenant(e.TenantID)
	if ts == nil {
		return nil, nil
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t := ts.idx
	upsert := e.Operation == change.OperationCreate || e.Operation == change.OperationUpdate
	switch e.Kind {
	case change.KindUser:
		if e.Operation == change.OperationDelete {
			return ts, t.DeleteUser(e.ResourceID)
		}
		if u := current.users[e.ResourceID]; upsert && u != nil {
			return ts, t.PutUser(indexUser(u))
		}
	case change.KindRole:
		if e.Operation == change.OperationDelete {
			return ts, t.DeleteRole(e.ResourceID)
		}
		if r := current.roles[e.ResourceID]; upsert && r != nil {
			return ts, t.PutRole(indexRole(r))
		}
	case change.KindGroup:
		if e.Operation == change.OperationDelete {
			return ts, t.DeleteGroup(e.ResourceID)
		}
		if g := current.groups[e.ResourceID]; upsert && g != nil {
			return ts, t.PutGroup(indexGroup(g))
		}
	case change.KindGroupMember:
		if e.Operation == change.OperationAdd {
			return ts, t.AddMember(e.ResourceID, e.UserID)
		}
		return ts, t.RemoveMember(e.ResourceID, e.UserID)
	case change.KindRoleAssignment:
		if e.Operation == change.OperationAdd {
			return ts, t.Assign(e.UserID, e.ResourceID)
		}
		return ts, t.Unassign(e.UserID, e.ResourceID)
	case change.KindGroupRole:
		if e.Operation == change.OperationAdd {
			return ts, t.Map(e.ResourceID, e.RoleID)
		}
		return ts, t.Unmap(e.ResourceID, e.RoleID)
	}
	return ts, nil
}

// publish appends a revision's changes to the watch buffer. It is called
// without ts.mu held.
func (ts *tenantState) publish(rev int64, changes []roleindex.Change) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.deleted {
		return
	}
	ts.batches = append(ts.batches, roleBatch{revision: rev, changes: changes})
	if n := len(ts.batches) - watchRetention; n > 0 {
		ts.floor = ts.batches[n-1].revision
		ts.batches = append([]roleBatch(nil), ts.batches[n:]...)
	}
	close(ts.notify)
	ts.notify = make(chan struct{})
}
