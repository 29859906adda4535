package roleindex

import (
	"slices"
	"strings"
)

// User is what the index keeps of a user.
type User struct {
	ID       string
	UserName string
	NameKey  string // case-folded user name
	Active   bool
}

// Role is what the index keeps of a role.
type Role struct {
	ID          string
	Name        string
	NameKey     string // case-folded name
	Permissions []string
}

// Group is what the index keeps of a group.
type Group struct {
	ID      string
	NameKey string // case-folded display name; the group grants the role of this name
}

type user struct {
	User
	groups []*group // the user's groups: a few per user, so a slice
	direct []*role  // roles assigned directly
}

type role struct {
	Role
	perms   map[string]bool
	holders map[*user]struct{} // direct assignments
	mappers map[*group]struct{}
}

type group struct {
	Group
	members map[*user]struct{}
	mapped  []*role
}

// Tenant is the effective-role index of one tenant.
type Tenant struct {
	users       map[string]*user
	usersByName map[string]*user
	roles       map[string]*role
	rolesByName map[string]*role
	groups      map[string]*group
	groupByName map[string]*group
}

// New returns an empty index.
func New() *Tenant {
	return &Tenant{
		users:       map[string]*user{},
		usersByName: map[string]*user{},
		roles:       map[string]*role{},
		rolesByName: map[string]*role{},
		groups:      map[string]*group{},
		groupByName: map[string]*group{},
	}
}

// Grant says how a user holds a role: directly (GroupID empty) or through a
// group.
type Grant struct {
	GroupID string
}

// Change is a change of one user's effective roles.
type Change struct {
	UserID   string
	RoleID   string
	RoleName string
	Gained   bool
	// SessionID, when set, says instead that this session of the user ended.
	SessionID string
}

// LookupUser finds a user by id, or by name key when id is empty.
func (t *Tenant) LookupUser(id, nameKey string) (User, bool) {
	u := t.user(id, nameKey)
	if u == nil {
		return User{}, false
	}
	return u.User, true
}

func (t *Tenant) user(id, nameKey string) *user {
	if id != "" {
		return t.users[id]
	}
	return t.usersByName[nameKey]
}

// LookupRole finds a role by id.
func (t *Tenant) LookupRole(id string) (Role, bool) {
	r := t.roles[id]
	if r == nil {
		return Role{}, false
	}
	return r.Role, true
}

// grants returns how u holds r; empty when it does not.
func (t *Tenant) grants(u *user, r *role) []Grant {
	if u == nil || r == nil || !u.Active {
		return nil
	}
	var out []Grant
	if slices.Contains(u.direct, r) {
		out = append(out, Grant{})
	}
	for _, g := range u.groups {
		if t.grantsByGroup(g, r) {
			out = append(out, Grant{GroupID: g.ID})
		}
	}
	return out
}

// holds says whether u holds r, without allocating.
func (t *Tenant) holds(u *user, r *role) bool {
	if u == nil || r == nil || !u.Active {
		return false
	}
	if slices.Contains(u.direct, r) {
		return true
	}
	for _, g := range u.groups {
		if t.grantsByGroup(g, r) {
			return true
		}
	}
	return false
}

// HasRoleNamed says whether the tenant has a role of this name key.
func (t *Tenant) HasRoleNamed(roleNameKey string) bool {
	return t.rolesByName[roleNameKey] != nil
}

// HasRole says whether the user (by id, or by name key when id is empty)
// holds the role of this name key.
func (t *Tenant) HasRole(userID, userNameKey, roleNameKey string) bool {
	return t.holds(t.user(userID, userNameKey), t.rolesByName[roleNameKey])
}

// RoleGrants says how the user holds the role of this name key.
func (t *Tenant) RoleGrants(userID, userNameKey, roleNameKey string) []Grant {
	return t.grants(t.user(userID, userNameKey), t.rolesByName[roleNameKey])
}

// effective returns the roles u holds, each once.
func (t *Tenant) effective(u *user) []*role {
	if u == nil || !u.Active {
		return nil
	}
	out := slices.Clone(u.direct)
	add := func(r *role) {
		if r != nil && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	for _, g := range u.groups {
		add(t.rolesByName[g.NameKey])
		for _, r := range g.mapped {
			add(r)
		}
	}
	return out
}

// HasPermission says whether any effective role of the user carries perm.
func (t *Tenant) HasPermission(userID, userNameKey, perm string) bool {
	u := t.user(userID, userNameKey)
	if u == nil || !u.Active {
		return false
	}
	for _, r := range u.direct {
		if r.perms[perm] {
			return true
		}
	}
	for _, g := range u.groups {
		if r := t.rolesByName[g.NameKey]; r != nil && r.perms[perm] {
			return true
		}
		for _, r := range g.mapped {
			if r.perms[perm] {
				return true
			}
		}
	}
	return false
}

// EffectiveRole is a role a user holds, with its grants.
type EffectiveRole struct {
	Role   Role
	Grants []Grant
}

// UserRoles returns the effective roles of a user in role name order, and
// whether the user exists.
func (t *Tenant) UserRoles(userID, userNameKey string) (User, []EffectiveRole, bool) {
	u := t.user(userID, userNameKey)
	if u == nil {
		return User{}, nil, false
	}
	var out []EffectiveRole
	for _, r := range t.effective(u) {
		out = append(out, EffectiveRole{Role: r.Role, Grants: t.grants(u, r)})
	}
	slices.SortFunc(out, func(a, b EffectiveRole) int { return strings.Compare(a.Role.NameKey, b.Role.NameKey) })
	return u.User, out, true
}

// RoleNames returns the names of a user's effective roles and the union of
// their permissions (roles in name order, permissions sorted; empty, not
// nil, when none), as tokens carry them.
func (t *Tenant) RoleNames(userID string) (roles, permissions []string) {
	roles, permissions = []string{}, []string{}
	effective := t.effective(t.user(userID, ""))
	slices.SortFunc(effective, func(a, b *role) int { return strings.Compare(a.Role.NameKey, b.Role.NameKey) })
	for _, r := range effective {
		roles = append(roles, r.Role.Name)
		permissions = append(permissions, r.Role.Permissions...)
	}
	slices.Sort(permissions)
	return roles, slices.Compact(permissions)
}

// RoleMember is a user holding a role, with its grants.
type RoleMember struct {
	User   User
	Grants []Grant
}

// RoleMembers returns up to limit holders of a role with user ids after
// after, in user id order, and whether the role exists.
func (t *Tenant) RoleMembers(roleID, after string, limit int) ([]RoleMember, bool) {
	r := t.roles[roleID]
	if r == nil {
		return nil, false
	}
	var ids []string
	for _, u := range t.holders(r) {
		if u.ID > after {
			ids = append(ids, u.ID)
		}
	}
	slices.Sort(ids)
	ids = ids[:min(len(ids), limit)]
	out := make([]RoleMember, 0, len(ids))
	for _, id := range ids {
		u := t.users[id]
		out = append(out, RoleMember{User: u.User, Grants: t.grants(u, r)})
	}
	return out, true
}

// holders returns every user holding r, each once.
func (t *Tenant) holders(r *role) []*user {
	seen := map[*user]bool{}
	var out []*user
	add := func(u *user) {
		if u.Active && !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	for u := range r.holders {
		add(u)
	}
	if g := t.groupByName[r.NameKey]; g != nil {
		for u := range g.members {
			add(u)
		}
	}
	for g := range r.mappers {
		for u := range g.members {
			add(u)
		}
	}
	return out
}

// grantsByGroup says whether g grants r: r is the role of g's name, or
// mapped to g. The names are compared before the map is looked up: a check
// asks this of each of a user's groups, most of which are not named after the
// role, and comparing two strings costs less than hashing one. (The map
// decides: while events are being applied, two roles may briefly share a
// name, and the one the map holds is the one the name grants.)
func (t *Tenant) grantsByGroup(g *group, r *role) bool {
	return (g.NameKey == r.NameKey && t.rolesByName[g.NameKey] == r) || slices.Contains(g.mapped, r)
}

// GroupGrants says whether a group grants a role: the role of its name, or
// one mapped to it.
func (t *Tenant) GroupGrants(groupID, roleID string) bool {
	g, r := t.groups[groupID], t.roles[roleID]
	if g == nil || r == nil {
		return false
	}
	return t.grantsByGroup(g, r)
}
