package roleindex

import "slices"

// Every mutation returns the effective-role changes it caused. It snapshots
// the effective roles of the users it can affect, mutates, and compares, so
// indirect effects (a group rename moving its members from one role to
// another, say) are reported like direct ones.

func (t *Tenant) track(affected []*user, mutate func()) []Change {
	type held struct{ id, name string }
	before := make([]map[*role]held, len(affected))
	for i, u := range affected {
		before[i] = map[*role]held{}
		for _, r := range t.effective(u) {
			before[i][r] = held{r.ID, r.Name}
		}
	}
	mutate()
	var out []Change
	for i, u := range affected {
		var now []*role
		if t.users[u.ID] == u {
			now = t.effective(u)
		}
		for _, r := range now {
			if _, ok := before[i][r]; !ok {
				out = append(out, Change{UserID: u.ID, RoleID: r.ID, RoleName: r.Name, Gained: true})
			}
			delete(before[i], r)
		}
		for _, h := range before[i] {
			out = append(out, Change{UserID: u.ID, RoleID: h.id, RoleName: h.name})
		}
	}
	slices.SortFunc(out, func(a, b Change) int {
		if a.UserID != b.UserID {
			return compare(a.UserID, b.UserID)
		}
		return compare(a.RoleID, b.RoleID)
	})
	return out
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func members(g *group) []*user {
	out := make([]*user, 0, len(g.members))
	for u := range g.members {
		out = append(out, u)
	}
	return out
}

// PutUser adds a user or updates its name and active flag.
func (t *Tenant) PutUser(in User) []Change {
	u := t.users[in.ID]
	if u == nil {
		u = &user{User: in}
		t.users[in.ID] = u
		t.usersByName[in.NameKey] = u
		return t.track([]*user{u}, func() {})
	}
	return t.track([]*user{u}, func() {
		if t.usersByName[u.NameKey] == u {
			delete(t.usersByName, u.NameKey)
		}
		u.User = in
		t.usersByName[in.NameKey] = u
	})
}

// DeleteUser removes a user with its memberships and assignments.
func (t *Tenant) DeleteUser(id string) []Change {
	u := t.users[id]
	if u == nil {
		return nil
	}
	return t.track([]*user{u}, func() {
		for _, g := range u.groups {
			delete(g.members, u)
		}
		for _, r := range u.direct {
			delete(r.holders, u)
		}
		delete(t.users, id)
		if t.usersByName[u.NameKey] == u {
			delete(t.usersByName, u.NameKey)
		}
	})
}

// PutRole adds a role or updates its name and permissions.
func (t *Tenant) PutRole(in Role) []Change {
	r := t.roles[in.ID]
	perms := make(map[string]bool, len(in.Permissions))
	for _, p := range in.Permissions {
		perms[p] = true
	}
	if r == nil {
		r = &role{Role: in, perms: perms, holders: map[*user]struct{}{}, mappers: map[*group]struct{}{}}
		// A new role can be granted at once by the group of its name.
		var affected []*user
		if g := t.groupByName[in.NameKey]; g != nil {
			affected = members(g)
		}
		return t.track(affected, func() {
			t.roles[in.ID] = r
			t.rolesByName[in.NameKey] = r
		})
	}
	affected := t.holders(r)
	if g := t.groupByName[in.NameKey]; g != nil {
		affected = append(affected, members(g)...)
	}
	return t.track(dedupe(affected), func() {
		if t.rolesByName[r.NameKey] == r {
			delete(t.rolesByName, r.NameKey)
		}
		r.Role, r.perms = in, perms
		t.rolesByName[in.NameKey] = r
	})
}

func dedupe(us []*user) []*user {
	seen := map[*user]bool{}
	return slices.DeleteFunc(us, func(u *user) bool {
		if seen[u] {
			return true
		}
		seen[u] = true
		return false
	})
}

// DeleteRole removes a role from everyone holding it.
func (t *Tenant) DeleteRole(id string) []Change {
	r := t.roles[id]
	if r == nil {
		return nil
	}
	return t.track(t.holders(r), func() {
		for u := range r.holders {
			u.direct = slices.DeleteFunc(u.direct, func(x *role) bool { return x == r })
		}
		for g := range r.mappers {
			g.mapped = slices.DeleteFunc(g.mapped, func(x *role) bool { return x == r })
		}
		delete(t.roles, id)
		if t.rolesByName[r.NameKey] == r {
			delete(t.rolesByName, r.NameKey)
		}
	})
}

// PutGroup adds a group or renames it.
func (t *Tenant) PutGroup(in Group) []Change {
	g := t.groups[in.ID]
	if g == nil {
		g = &group{Group: in, members: map[*user]struct{}{}}
		t.groups[in.ID] = g
		t.groupByName[in.NameKey] = g
		return nil
	}
	return t.track(members(g), func() {
		if t.groupByName[g.NameKey] == g {
			delete(t.groupByName, g.NameKey)
		}
		g.Group = in
		t.groupByName[in.NameKey] = g
	})
}

// DeleteGroup removes a group; its members lose what it granted.
func (t *Tenant) DeleteGroup(id string) []Change {
	g := t.groups[id]
	if g == nil {
		return nil
	}
	return t.track(members(g), func() {
		for u := range g.members {
			u.groups = slices.DeleteFunc(u.groups, func(x *group) bool { return x == g })
		}
		for _, r := range g.mapped {
			delete(r.mappers, g)
		}
		delete(t.groups, id)
		if t.groupByName[g.NameKey] == g {
			delete(t.groupByName, g.NameKey)
		}
	})
}

// AddMember puts a user in a group; unknown ids change nothing.
func (t *Tenant) AddMember(groupID, userID string) []Change {
	g, u := t.groups[groupID], t.users[userID]
	if g == nil || u == nil {
		return nil
	}
	if _, ok := g.members[u]; ok {
		return nil
	}
	return t.track([]*user{u}, func() {
		g.members[u] = struct{}{}
		u.groups = append(u.groups, g)
	})
}

// RemoveMember takes a user out of a group.
func (t *Tenant) RemoveMember(groupID, userID string) []Change {
	g, u := t.groups[groupID], t.users[userID]
	if g == nil || u == nil {
		return nil
	}
	if _, ok := g.members[u]; !ok {
		return nil
	}
	return t.track([]*user{u}, func() {
		delete(g.members, u)
		u.groups = slices.DeleteFunc(u.groups, func(x *group) bool { return x == g })
	})
}

// Assign assigns a role to a user directly.
func (t *Tenant) Assign(userID, roleID string) []Change {
	u, r := t.users[userID], t.roles[roleID]
	if u == nil || r == nil || slices.Contains(u.direct, r) {
		return nil
	}
	return t.track([]*user{u}, func() {
		u.direct = append(u.direct, r)
		r.holders[u] = struct{}{}
	})
}

// Unassign takes a directly assigned role from a user.
func (t *Tenant) Unassign(userID, roleID string) []Change {
	u, r := t.users[userID], t.roles[roleID]
	if u == nil || r == nil || !slices.Contains(u.direct, r) {
		return nil
	}
	return t.track([]*user{u}, func() {
		u.direct = slices.DeleteFunc(u.direct, func(x *role) bool { return x == r })
		delete(r.holders, u)
	})
}

// Map maps a role to a group.
func (t *Tenant) Map(groupID, roleID string) []Change {
	g, r := t.groups[groupID], t.roles[roleID]
	if g == nil || r == nil || slices.Contains(g.mapped, r) {
		return nil
	}
	return t.track(members(g), func() {
		g.mapped = append(g.mapped, r)
		r.mappers[g] = struct{}{}
	})
}

// Unmap removes a role mapping of a group.
func (t *Tenant) Unmap(groupID, roleID string) []Change {
	g, r := t.groups[groupID], t.roles[roleID]
	if g == nil || r == nil || !slices.Contains(g.mapped, r) {
		return nil
	}
	return t.track(members(g), func() {
		g.mapped = slices.DeleteFunc(g.mapped, func(x *role) bool { return x == r })
		delete(r.mappers, g)
	})
}
