package service

import (
	"context"
	"fmt"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/grouprole"
	"github.com/acme/identity/ent/role"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/store"
)

// A group grants the tenant's role of its own name (compared without regard
// to case) and the roles mapped to it. This is how groups pushed by an IdP
// become roles used for access control.

// ensureRole creates the role a group of this name grants, when the tenant
// has none, in the group's transaction.
func ensureRole(ctx context.Context, tx *store.Tx, tenantID changelog.TenantID, name string) error {
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
		SetCreateTime(tx.Now).
		SetUpdateTime(tx.Now).
		SetVersion(1).
		Exec(ctx); err != nil {
		return fmt.Errorf("create role of group: %w", err)
	}
	tx.Record(changelog.RoleCreated{Tenant: tenantID, Role: changelog.RoleID(id)})
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
