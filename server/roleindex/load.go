package roleindex

import (
	"context"
	"fmt"
	"slices"

	"github.com/acme/identity/ent"
	entgroup "github.com/acme/identity/ent/group"
	"github.com/acme/identity/ent/groupmembership"
	"github.com/acme/identity/ent/grouprole"
	entrole "github.com/acme/identity/ent/role"
	"github.com/acme/identity/ent/roleassignment"
	"github.com/acme/identity/ent/tenant"
	entuser "github.com/acme/identity/ent/user"
	"github.com/acme/identity/server/changelog"
)

// Load reads every tenant from the database. ctx is the follower's (it sees
// every project). Rows are read outside one snapshot; the follower then
// replays the change log from the revisions it read first, which is harmless
// (every change applies idempotently from current rows) and repairs whatever
// changed while loading.
func (ix *Index) Load(ctx context.Context) error {
	db := ix.db
	tenants, err := db.Tenant.Query().Select(tenant.FieldID, tenant.FieldProjectID).All(ctx)
	if err != nil {
		return fmt.Errorf("read tenants: %w", err)
	}
	ix.mu.Lock()
	for _, t := range tenants {
		ix.tenants[t.ID] = newTenantState(t.ProjectID)
	}
	ix.mu.Unlock()

	users, err := db.User.Query().Select(entuser.FieldID, entuser.FieldTenantID, entuser.FieldUserName, entuser.FieldUserNameKey, entuser.FieldActive).All(ctx)
	if err != nil {
		return fmt.Errorf("read users: %w", err)
	}
	for _, u := range users {
		ix.load(u.TenantID, func(t *Tenant) { t.PutUser(indexUser(u)) })
	}
	roles, err := db.Role.Query().Select(entrole.FieldID, entrole.FieldTenantID, entrole.FieldName, entrole.FieldNameKey, entrole.FieldPermissions).All(ctx)
	if err != nil {
		return fmt.Errorf("read roles: %w", err)
	}
	for _, r := range roles {
		ix.load(r.TenantID, func(t *Tenant) { t.PutRole(indexRole(r)) })
	}
	groups, err := db.Group.Query().Select(entgroup.FieldID, entgroup.FieldTenantID, entgroup.FieldDisplayNameKey).All(ctx)
	if err != nil {
		return fmt.Errorf("read groups: %w", err)
	}
	for _, g := range groups {
		ix.load(g.TenantID, func(t *Tenant) { t.PutGroup(indexGroup(g)) })
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
		ix.load(m.TenantID, func(t *Tenant) { t.AddMember(m.GroupID, m.UserID) })
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
		ix.load(a.TenantID, func(t *Tenant) { t.Assign(a.UserID, a.RoleID) })
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
		ix.load(m.TenantID, func(t *Tenant) { t.Map(m.GroupID, m.RoleID) })
	}
	return nil
}

// load runs a mutation on a tenant's index, discarding its changes (nobody
// watches yet).
func (ix *Index) load(tenantID string, fn func(*Tenant)) {
	ix.mu.RLock()
	ts := ix.tenants[tenantID]
	ix.mu.RUnlock()
	if ts != nil {
		ts.mu.Lock()
		fn(ts.idx)
		ts.mu.Unlock()
	}
}

func indexUser(u *ent.User) User {
	return User{ID: u.ID, UserName: u.UserName, NameKey: u.UserNameKey, Active: u.Active}
}

func indexRole(r *ent.Role) Role {
	return Role{ID: r.ID, Name: r.Name, NameKey: r.NameKey, Permissions: r.Permissions}
}

func indexGroup(g *ent.Group) Group {
	return Group{ID: g.ID, NameKey: g.DisplayNameKey}
}

// rows are the current rows of what a batch of events created or updated,
// read in bulk; a row deleted since is simply absent (its delete event
// follows).
type rows struct {
	users  map[string]*ent.User
	roles  map[string]*ent.Role
	groups map[string]*ent.Group
}

// userOf returns the user of a user create or update event.
func userOf(e changelog.Event) string {
	switch e := e.(type) {
	case changelog.UserCreated:
		return string(e.User)
	case changelog.UserUpdated:
		return string(e.User)
	case changelog.UserDeactivated:
		return string(e.User)
	case changelog.UserReactivated:
		return string(e.User)
	}
	return ""
}

func (ix *Index) readRows(ctx context.Context, records []changelog.Record) (rows, error) {
	var userIDs, roleIDs, groupIDs []string
	for _, r := range records {
		switch e := r.Event.(type) {
		case changelog.RoleCreated:
			roleIDs = append(roleIDs, string(e.Role))
		case changelog.RoleUpdated:
			roleIDs = append(roleIDs, string(e.Role))
		case changelog.GroupCreated:
			groupIDs = append(groupIDs, string(e.Group))
		case changelog.GroupUpdated:
			groupIDs = append(groupIDs, string(e.Group))
		default:
			if id := userOf(e); id != "" {
				userIDs = append(userIDs, id)
			}
		}
	}
	out := rows{users: map[string]*ent.User{}, roles: map[string]*ent.Role{}, groups: map[string]*ent.Group{}}
	db := ix.db
	// Chunks keep each IN list well inside every database's parameter limit.
	for chunk := range slices.Chunk(userIDs, 500) {
		us, err := db.User.Query().Where(entuser.IDIn(chunk...)).
			Select(entuser.FieldID, entuser.FieldTenantID, entuser.FieldUserName, entuser.FieldUserNameKey, entuser.FieldActive).All(ctx)
		if err != nil {
			return out, fmt.Errorf("read users: %w", err)
		}
		for _, u := range us {
			out.users[u.ID] = u
		}
	}
	for chunk := range slices.Chunk(roleIDs, 500) {
		rs, err := db.Role.Query().Where(entrole.IDIn(chunk...)).
			Select(entrole.FieldID, entrole.FieldTenantID, entrole.FieldName, entrole.FieldNameKey, entrole.FieldPermissions).All(ctx)
		if err != nil {
			return out, fmt.Errorf("read roles: %w", err)
		}
		for _, r := range rs {
			out.roles[r.ID] = r
		}
	}
	for chunk := range slices.Chunk(groupIDs, 500) {
		gs, err := db.Group.Query().Where(entgroup.IDIn(chunk...)).
			Select(entgroup.FieldID, entgroup.FieldTenantID, entgroup.FieldDisplayNameKey).All(ctx)
		if err != nil {
			return out, fmt.Errorf("read groups: %w", err)
		}
		for _, g := range gs {
			out.groups[g.ID] = g
		}
	}
	return out, nil
}
