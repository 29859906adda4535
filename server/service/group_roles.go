package service

import (
	"context"
	"fmt"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/accesskey"
	"github.com/acme/identity/ent/grouprole"
	"github.com/acme/identity/ent/role"
	"github.com/acme/identity/ent/roleassignment"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/store"
	"github.com/acme/identity/server/store/scope"
)

// A group grants the tenant's role of its own name (compared without regard
// to case) and the roles mapped to it. This is how groups pushed by an IdP
// become roles used for access control.

// ensureRole creates the role a group of this name grants, when the tenant
// has none, in the group's transaction; the group owns a role it created.
func ensureRole(ctx context.Context, tx *store.Tx, tenantID changelog.TenantID, groupID, name string) error {
	ok, err := tx.Role.Query().Where(role.NameKey(store.NameLookup(name))).Exist(ctx)
	if err != nil {
		return fmt.Errorf("find role of group: %w", err)
	}
	if ok {
		return nil
	}
	id := store.NewID()
	if err := tx.Role.Create().
		SetID(id).
		SetTenantID(string(tenantID)).
		SetName(name).
		SetNameKey(store.NameLookup(name)).
		SetDescription("Held by the members of the group " + name).
		SetOwnerGroupID(groupID).
		SetCreateTime(tx.Now).
		SetUpdateTime(tx.Now).
		SetVersion(1).
		Exec(ctx); err != nil {
		return fmt.Errorf("create role of group: %w", err)
	}
	tx.Record(changelog.RoleCreated{Tenant: tenantID, Role: changelog.RoleID(id)})
	return nil
}

// ownedRole is the role a group owns under the name key, if any, and
// whether nothing but the group holds it: no assignment, no mapping, and no
// access key bound to it (keys bind tenant roles by name, so a rename or a
// deletion would silently take their grants).
func ownedRole(ctx context.Context, tx *store.Tx, groupID, nameKey string) (r *ent.Role, free bool, err error) {
	r, err = tx.Role.Query().Where(role.OwnerGroupID(groupID), role.NameKey(nameKey)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("find the group's role: %w", err)
	}
	assigned, err := tx.RoleAssignment.Query().Where(roleassignment.RoleID(r.ID)).Exist(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("read role assignments: %w", err)
	}
	mapped, err := tx.GroupRole.Query().Where(grouprole.RoleID(r.ID)).Exist(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("read role mappings: %w", err)
	}
	// A tenant's scope sees no access key (they are the project's); the
	// bindings are read in the system scope, confined here to the project.
	keys, err := tx.AccessKey.Query().Where(accesskey.ProjectID(tx.ProjectID)).Select(accesskey.FieldRoleBindings).All(scope.System(ctx))
	if err != nil {
		return nil, false, fmt.Errorf("read access keys: %w", err)
	}
	for _, k := range keys {
		for _, b := range k.RoleBindings {
			if b.TenantID == r.TenantID && store.NameLookup(b.Role) == r.NameKey {
				return r, false, nil
			}
		}
	}
	return r, !assigned && !mapped, nil
}

// groupRenamed lets the role a group owns follow its rename: renamed with
// it, or deleted when the new name's role already exists; a role something
// else holds too stays as it is, released. The group then grants the role
// of its new name, created if need be.
func groupRenamed(ctx context.Context, tx *store.Tx, t changelog.TenantID, groupID, oldName, newName string) error {
	r, free, err := ownedRole(ctx, tx, groupID, store.NameLookup(oldName))
	if err != nil {
		return err
	}
	newKey := store.NameLookup(newName)
	switch {
	case r == nil || r.NameKey == newKey && r.Name == newName:
	case !free:
		if err := r.Update().SetOwnerGroupID("").Exec(ctx); err != nil {
			return fmt.Errorf("release role: %w", err)
		}
	default:
		taken, err := tx.Role.Query().Where(role.NameKey(newKey), role.IDNEQ(r.ID)).Exist(ctx)
		if err != nil {
			return fmt.Errorf("find role: %w", err)
		}
		if taken {
			if err := tx.Role.DeleteOne(r).Exec(ctx); err != nil {
				return fmt.Errorf("delete the group's role: %w", err)
			}
			tx.Record(changelog.RoleDeleted{Tenant: t, Role: changelog.RoleID(r.ID)})
			break
		}
		if err := r.Update().SetName(newName).SetNameKey(newKey).SetDescription("Held by the members of the group " + newName).
			SetUpdateTime(tx.Now).AddVersion(1).Exec(ctx); err != nil {
			return fmt.Errorf("rename the group's role: %w", err)
		}
		tx.Record(changelog.RoleUpdated{Tenant: t, Role: changelog.RoleID(r.ID)})
	}
	return ensureRole(ctx, tx, t, groupID, newName)
}

// groupDeleted deletes the role a group owns when nothing else holds it,
// and releases it otherwise, or when an administrator gave it permissions
// (deleting it would lose them).
func groupDeleted(ctx context.Context, tx *store.Tx, t changelog.TenantID, groupID, name string) error {
	r, free, err := ownedRole(ctx, tx, groupID, store.NameLookup(name))
	switch {
	case err != nil || r == nil:
		return err
	case !free || len(r.Permissions) > 0:
		return r.Update().SetOwnerGroupID("").Exec(ctx)
	}
	if err := tx.Role.DeleteOne(r).Exec(ctx); err != nil {
		return fmt.Errorf("delete the group's role: %w", err)
	}
	tx.Record(changelog.RoleDeleted{Tenant: t, Role: changelog.RoleID(r.ID)})
	return nil
}

// mappings are a group's role mappings as links from the group to roles.
func mappings(tenantID changelog.TenantID, groupID string) links {
	g := changelog.GroupID(groupID)
	return links{
		kind: "role",
		exist: func(ctx context.Context, tx *store.Tx, ids []string) ([]string, error) {
			return tx.Role.Query().Where(role.IDIn(ids...)).IDs(ctx)
		},
		linked: func(ctx context.Context, tx *store.Tx, ids []string) ([]string, error) {
			return tx.GroupRole.Query().Where(grouprole.GroupID(groupID), grouprole.RoleIDIn(ids...)).
				Select(grouprole.FieldRoleID).Strings(ctx)
		},
		insert: func(ctx context.Context, tx *store.Tx, ids []string) error {
			creates := make([]*ent.GroupRoleCreate, len(ids))
			for i, id := range ids {
				creates[i] = tx.GroupRole.Create().
					SetTenantID(string(tenantID)).SetGroupID(groupID).SetRoleID(id).SetCreateTime(tx.Now)
			}
			return tx.GroupRole.CreateBulk(creates...).Exec(ctx)
		},
		unlink: func(ctx context.Context, tx *store.Tx, ids []string) error {
			_, err := tx.GroupRole.Delete().Where(grouprole.GroupID(groupID), grouprole.RoleIDIn(ids...)).Exec(ctx)
			return err
		},
		added: func(id string) changelog.Event {
			return changelog.RoleMapped{Tenant: tenantID, Group: g, Role: changelog.RoleID(id)}
		},
		removed: func(id string) changelog.Event {
			return changelog.RoleUnmapped{Tenant: tenantID, Group: g, Role: changelog.RoleID(id)}
		},
	}
}

// MapGroupRoles maps roles to a group with set semantics.
func (s *GroupService) MapGroupRoles(ctx context.Context, req *identityv1.MapGroupRolesRequest) (*identityv1.MapGroupRolesResponse, error) {
	var mapped int
	rev, err := s.w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		if err := requireGroup(ctx, tx, req.GetGroupId(), 0); err != nil {
			return err
		}
		var err error
		mapped, err = mappings(changelog.TenantID(req.GetTenantId()), req.GetGroupId()).add(ctx, tx, req.GetRoleIds())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.MapGroupRolesResponse{MappedCount: int32(mapped), Revision: rev}, nil
}

// UnmapGroupRoles removes role mappings of a group with set semantics.
func (s *GroupService) UnmapGroupRoles(ctx context.Context, req *identityv1.UnmapGroupRolesRequest) (*identityv1.UnmapGroupRolesResponse, error) {
	var removed []string
	rev, err := s.w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		if err := requireGroup(ctx, tx, req.GetGroupId(), 0); err != nil {
			return err
		}
		var err error
		removed, err = mappings(changelog.TenantID(req.GetTenantId()), req.GetGroupId()).remove(ctx, tx, req.GetRoleIds())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.UnmapGroupRolesResponse{UnmappedCount: int32(len(removed)), Revision: rev}, nil
}

// ListGroupRoles returns the roles a group grants.
func (s *GroupService) ListGroupRoles(ctx context.Context, req *identityv1.ListGroupRolesRequest) (*identityv1.ListGroupRolesResponse, error) {
	g, err := s.getGroup(ctx, req.GetGroupId())
	if err != nil {
		return nil, err
	}
	out := &identityv1.ListGroupRolesResponse{}
	byName, err := s.db.Role.Query().Where(role.NameKey(g.DisplayNameKey)).Only(ctx)
	switch {
	case err == nil:
		out.ByName = roleToProto(byName)
	case !ent.IsNotFound(err):
		return nil, fmt.Errorf("find role of group: %w", err)
	}
	mapped, err := s.db.Role.Query().
		Where(role.HasGroupMappingsWith(grouprole.GroupID(g.ID))).
		Order(ent.Asc(role.FieldID)).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list mapped roles: %w", err)
	}
	for _, r := range mapped {
		out.Mapped = append(out.Mapped, roleToProto(r))
	}
	return out, nil
}
