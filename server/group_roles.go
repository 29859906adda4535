package server

import (
	"context"
	"fmt"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/change"
	"github.com/acme/identity/ent/grouprole"
	"github.com/acme/identity/ent/role"
	"github.com/acme/identity/ent/tenant"
	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// A group grants the tenant's role of its own name (compared without regard
// to case) and the roles mapped to it. This is how groups pushed by an IdP
// become roles used for access control.

// ensureRole creates the role a group of this name grants, when the tenant
// has none, in the group's transaction.
func ensureRole(ctx context.Context, cs *changeSet, tenantID, name string) error {
	ok, err := cs.tx.Role.Query().Where(role.TenantID(tenantID), role.NameKey(fold(name))).Exist(ctx)
	if err != nil {
		return fmt.Errorf("find role of group: %w", err)
	}
	if ok {
		return nil
	}
	id := newID()
	if err := cs.tx.Role.Create().
		SetID(id).
		SetTenantID(tenantID).
		SetName(name).
		SetNameKey(fold(name)).
		SetDescription("Held by the members of the group " + name).
		SetCreateTime(cs.now).
		SetUpdateTime(cs.now).
		SetVersion(cs.revision).
		Exec(ctx); err != nil {
		return fmt.Errorf("create role of group: %w", err)
	}
	cs.add(tenantID, change.KindRole, change.OperationCreate, id, "")
	return nil
}

// MapGroupRoles maps roles to a group with set semantics.
func (s *GroupService) MapGroupRoles(ctx context.Context, req *identityv1.MapGroupRolesRequest) (*identityv1.MapGroupRolesResponse, error) {
	p := principalFrom(ctx)
	tenantID, groupID := req.GetTenantId(), req.GetGroupId()
	var mapped int
	rev, err := s.write(ctx, p.ProjectID, func(ctx context.Context, cs *changeSet) error {
		if err := requireGroup(ctx, cs.tx, p.ProjectID, tenantID, groupID, 0); err != nil {
			return err
		}
		found, err := cs.tx.Role.Query().Where(role.IDIn(req.GetRoleIds()...), role.TenantID(tenantID)).IDs(ctx)
		if err != nil {
			return fmt.Errorf("find roles: %w", err)
		}
		if missing := firstMissing(req.GetRoleIds(), found); missing != "" {
			return notFound("role", missing)
		}
		existing, err := cs.tx.GroupRole.Query().
			Where(grouprole.GroupID(groupID), grouprole.RoleIDIn(req.GetRoleIds()...)).
			Select(grouprole.FieldRoleID).
			Strings(ctx)
		if err != nil {
			return fmt.Errorf("find mappings: %w", err)
		}
		already := setOf(existing)
		var creates []*ent.GroupRoleCreate
		for _, rid := range req.GetRoleIds() {
			if already[rid] {
				continue
			}
			creates = append(creates, cs.tx.GroupRole.Create().
				SetTenantID(tenantID).SetGroupID(groupID).SetRoleID(rid).SetCreateTime(cs.now))
			cs.add(tenantID, change.KindGroupRole, change.OperationAdd, groupID, "").SetRoleID(rid)
		}
		if mapped = len(creates); mapped == 0 {
			return nil
		}
		if err := cs.tx.GroupRole.CreateBulk(creates...).Exec(ctx); err != nil {
			return fmt.Errorf("map roles: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.MapGroupRolesResponse{MappedCount: int32(mapped), Revision: rev}, nil
}

// UnmapGroupRoles removes role mappings of a group with set semantics.
func (s *GroupService) UnmapGroupRoles(ctx context.Context, req *identityv1.UnmapGroupRolesRequest) (*identityv1.UnmapGroupRolesResponse, error) {
	p := principalFrom(ctx)
	tenantID, groupID := req.GetTenantId(), req.GetGroupId()
	var removed []string
	rev, err := s.write(ctx, p.ProjectID, func(ctx context.Context, cs *changeSet) error {
		if err := requireGroup(ctx, cs.tx, p.ProjectID, tenantID, groupID, 0); err != nil {
			return err
		}
		mapped := grouprole.And(grouprole.GroupID(groupID), grouprole.RoleIDIn(req.GetRoleIds()...))
		var err error
		if removed, err = cs.tx.GroupRole.Query().Where(mapped).Select(grouprole.FieldRoleID).Strings(ctx); err != nil {
			return fmt.Errorf("find mappings: %w", err)
		}
		if len(removed) == 0 {
			return nil
		}
		if _, err := cs.tx.GroupRole.Delete().Where(mapped).Exec(ctx); err != nil {
			return fmt.Errorf("unmap roles: %w", err)
		}
		for _, rid := range removed {
			cs.add(tenantID, change.KindGroupRole, change.OperationRemove, groupID, "").SetRoleID(rid)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.UnmapGroupRolesResponse{UnmappedCount: int32(len(removed)), Revision: rev}, nil
}

// ListGroupRoles returns the roles a group grants.
func (s *GroupService) ListGroupRoles(ctx context.Context, req *identityv1.ListGroupRolesRequest) (*identityv1.ListGroupRolesResponse, error) {
	g, err := s.getGroup(ctx, principalFrom(ctx).ProjectID, req.GetTenantId(), req.GetGroupId())
	if err != nil {
		return nil, err
	}
	out := &identityv1.ListGroupRolesResponse{}
	byName, err := s.db.Role.Query().Where(role.TenantID(g.TenantID), role.NameKey(g.DisplayNameKey)).Only(ctx)
	switch {
	case err == nil:
		out.ByName = roleToProto(byName)
	case !ent.IsNotFound(err):
		return nil, fmt.Errorf("find role of group: %w", err)
	}
	mapped, err := s.db.Role.Query().
		Where(role.HasGroupMappingsWith(grouprole.GroupID(g.ID)), role.HasTenantWith(tenant.ID(g.TenantID))).
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
