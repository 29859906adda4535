package server

import (
	"context"
	"fmt"
	"slices"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/change"
	"github.com/acme/identity/ent/predicate"
	"github.com/acme/identity/ent/role"
	"github.com/acme/identity/ent/roleassignment"
	"github.com/acme/identity/ent/tenant"
	"github.com/acme/identity/ent/user"
	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// RoleService implements identityv1.RoleServiceServer.
type RoleService struct{ *Server }

var _ identityv1.RoleServiceServer = (*RoleService)(nil)

// CreateRole creates a role; a taken name (ignoring case) is AlreadyExists.
func (s *RoleService) CreateRole(ctx context.Context, req *identityv1.CreateRoleRequest) (*identityv1.CreateRoleResponse, error) {
	p := principalFrom(ctx)
	in := req.GetRole()
	var out *ent.Role
	rev, err := s.write(ctx, p.ProjectID, func(ctx context.Context, cs *changeSet) error {
		if err := requireTenant(ctx, cs.tx.Tenant, p.ProjectID, req.GetTenantId()); err != nil {
			return err
		}
		var err error
		out, err = cs.tx.Role.Create().
			SetID(newID()).
			SetTenantID(req.GetTenantId()).
			SetName(in.GetName()).
			SetNameKey(fold(in.GetName())).
			SetDescription(in.GetDescription()).
			SetPermissions(in.GetPermissions()).
			SetCreateTime(cs.now).
			SetUpdateTime(cs.now).
			SetVersion(cs.revision).
			Save(ctx)
		if ent.IsConstraintError(err) {
			return alreadyExists("role", "name", in.GetName())
		}
		if err != nil {
			return fmt.Errorf("create role: %w", err)
		}
		cs.add(req.GetTenantId(), change.KindRole, change.OperationCreate, out.ID, "")
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.CreateRoleResponse{Role: roleToProto(out), Revision: rev}, nil
}

// GetRole returns a role of a tenant of the caller's project.
func (s *RoleService) GetRole(ctx context.Context, req *identityv1.GetRoleRequest) (*identityv1.GetRoleResponse, error) {
	p := principalFrom(ctx)
	r, err := s.db.Role.Query().
		Where(role.ID(req.GetRoleId()), role.TenantID(req.GetTenantId()), role.HasTenantWith(tenant.ProjectID(p.ProjectID))).
		Only(ctx)
	if ent.IsNotFound(err) {
		return nil, notFound("role", req.GetRoleId())
	}
	if err != nil {
		return nil, fmt.Errorf("get role: %w", err)
	}
	return &identityv1.GetRoleResponse{Role: roleToProto(r)}, nil
}

// ListRoles pages through the roles of a tenant in id order.
func (s *RoleService) ListRoles(ctx context.Context, req *identityv1.ListRolesRequest) (*identityv1.ListRolesResponse, error) {
	p := principalFrom(ctx)
	pg, err := readPage(req.GetPageSize(), req.GetPageToken(), req.GetTenantId(), req.GetFilter())
	if err != nil {
		return nil, err
	}
	if err := requireTenant(ctx, s.db.Tenant, p.ProjectID, req.GetTenantId()); err != nil {
		return nil, err
	}
	where := []predicate.Role{role.TenantID(req.GetTenantId())}
	f := req.GetFilter()
	if c, ok := stringCondition(f.GetName(),
		func(v string) predicate.Role { return role.NameKey(fold(v)) },
		func(v string) predicate.Role { return role.NameKeyHasPrefix(fold(v)) },
		func() predicate.Role { return role.NameKeyNEQ("") },
		func() predicate.Role { return role.NameKey("") }); ok {
		where = append(where, c)
	}
	if f.GetUpdatedAfter() != nil {
		where = append(where, role.UpdateTimeGT(f.GetUpdatedAfter().AsTime()))
	}
	total, err := s.db.Role.Query().Where(where...).Count(ctx)
	if err != nil {
		return nil, fmt.Errorf("count roles: %w", err)
	}
	q := s.db.Role.Query().Where(where...)
	if pg.after != "" {
		q = q.Where(role.IDGT(pg.after))
	}
	rows, err := q.Order(ent.Asc(role.FieldID)).Limit(pg.size + 1).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	rows, next := trimPage(pg, rows, func(r *ent.Role) string { return r.ID })
	out := &identityv1.ListRolesResponse{NextPageToken: next, TotalSize: int32(total)}
	for _, r := range rows {
		out.Roles = append(out.Roles, roleToProto(r))
	}
	return out, nil
}

// UpdateRole applies the fields named in update_mask.
func (s *RoleService) UpdateRole(ctx context.Context, req *identityv1.UpdateRoleRequest) (*identityv1.UpdateRoleResponse, error) {
	p := principalFrom(ctx)
	in := req.GetRole()
	paths := req.GetUpdateMask().GetPaths()
	has := func(path string) bool { return slices.Contains(paths, "*") || slices.Contains(paths, path) }
	var out *ent.Role
	rev, err := s.write(ctx, p.ProjectID, func(ctx context.Context, cs *changeSet) error {
		if err := requireTenant(ctx, cs.tx.Tenant, p.ProjectID, in.GetTenantId()); err != nil {
			return err
		}
		upd := cs.tx.Role.UpdateOneID(in.GetId()).
			Where(role.TenantID(in.GetTenantId())).
			SetUpdateTime(cs.now).
			SetVersion(cs.revision)
		if has("name") {
			upd.SetName(in.GetName()).SetNameKey(fold(in.GetName()))
		}
		if has("description") {
			upd.SetDescription(in.GetDescription())
		}
		if has("permissions") {
			upd.SetPermissions(in.GetPermissions())
		}
		var err error
		out, err = upd.Save(ctx)
		switch {
		case ent.IsNotFound(err):
			return notFound("role", in.GetId())
		case ent.IsConstraintError(err):
			return alreadyExists("role", "name", in.GetName())
		case err != nil:
			return fmt.Errorf("update role: %w", err)
		}
		cs.add(in.GetTenantId(), change.KindRole, change.OperationUpdate, in.GetId(), "")
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.UpdateRoleResponse{Role: roleToProto(out), Revision: rev}, nil
}

// DeleteRole deletes a role; its assignments go with it by cascading foreign
// keys.
func (s *RoleService) DeleteRole(ctx context.Context, req *identityv1.DeleteRoleRequest) (*identityv1.DeleteRoleResponse, error) {
	rev, err := s.deleteInTenant(ctx, req.GetTenantId(), change.KindRole, req.GetRoleId(), func(ctx context.Context, tx *ent.Tx) (int, error) {
		return tx.Role.Delete().Where(role.ID(req.GetRoleId()), role.TenantID(req.GetTenantId())).Exec(ctx)
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.DeleteRoleResponse{Revision: rev}, nil
}

// requireUser fails with NotFound unless the user is in the tenant and the
// tenant in the project.
func requireUser(ctx context.Context, tx *ent.Tx, projectID, tenantID, userID string) error {
	if err := requireTenant(ctx, tx.Tenant, projectID, tenantID); err != nil {
		return err
	}
	ok, err := tx.User.Query().Where(user.ID(userID), user.TenantID(tenantID)).Exist(ctx)
	if err != nil {
		return fmt.Errorf("find user: %w", err)
	}
	if !ok {
		return notFound("user", userID)
	}
	return nil
}

// AssignRoles assigns roles to a user with set semantics, touching only the
// rows of the named roles.
func (s *RoleService) AssignRoles(ctx context.Context, req *identityv1.AssignRolesRequest) (*identityv1.AssignRolesResponse, error) {
	p := principalFrom(ctx)
	tenantID, userID := req.GetTenantId(), req.GetUserId()
	var assigned int
	rev, err := s.write(ctx, p.ProjectID, func(ctx context.Context, cs *changeSet) error {
		if err := requireUser(ctx, cs.tx, p.ProjectID, tenantID, userID); err != nil {
			return err
		}
		found, err := cs.tx.Role.Query().Where(role.IDIn(req.GetRoleIds()...), role.TenantID(tenantID)).IDs(ctx)
		if err != nil {
			return fmt.Errorf("find roles: %w", err)
		}
		if missing := firstMissing(req.GetRoleIds(), found); missing != "" {
			return notFound("role", missing)
		}
		existing, err := cs.tx.RoleAssignment.Query().
			Where(roleassignment.UserID(userID), roleassignment.RoleIDIn(req.GetRoleIds()...)).
			Select(roleassignment.FieldRoleID).
			Strings(ctx)
		if err != nil {
			return fmt.Errorf("find assignments: %w", err)
		}
		held := setOf(existing)
		var creates []*ent.RoleAssignmentCreate
		for _, rid := range req.GetRoleIds() {
			if held[rid] {
				continue
			}
			creates = append(creates, cs.tx.RoleAssignment.Create().
				SetTenantID(tenantID).SetUserID(userID).SetRoleID(rid).SetCreateTime(cs.now))
			cs.add(tenantID, change.KindRoleAssignment, change.OperationAdd, rid, userID)
		}
		assigned = len(creates)
		if assigned == 0 {
			return nil
		}
		if err := cs.tx.RoleAssignment.CreateBulk(creates...).Exec(ctx); err != nil {
			return fmt.Errorf("assign roles: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.AssignRolesResponse{AssignedCount: int32(assigned), Revision: rev}, nil
}

// UnassignRoles takes directly assigned roles from a user with set semantics.
func (s *RoleService) UnassignRoles(ctx context.Context, req *identityv1.UnassignRolesRequest) (*identityv1.UnassignRolesResponse, error) {
	p := principalFrom(ctx)
	tenantID, userID := req.GetTenantId(), req.GetUserId()
	var removed []string
	rev, err := s.write(ctx, p.ProjectID, func(ctx context.Context, cs *changeSet) error {
		if err := requireUser(ctx, cs.tx, p.ProjectID, tenantID, userID); err != nil {
			return err
		}
		held := roleassignment.And(roleassignment.UserID(userID), roleassignment.RoleIDIn(req.GetRoleIds()...))
		var err error
		removed, err = cs.tx.RoleAssignment.Query().Where(held).Select(roleassignment.FieldRoleID).Strings(ctx)
		if err != nil {
			return fmt.Errorf("find assignments: %w", err)
		}
		if len(removed) == 0 {
			return nil
		}
		if _, err := cs.tx.RoleAssignment.Delete().Where(held).Exec(ctx); err != nil {
			return fmt.Errorf("unassign roles: %w", err)
		}
		for _, rid := range removed {
			cs.add(tenantID, change.KindRoleAssignment, change.OperationRemove, rid, userID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.UnassignRolesResponse{UnassignedCount: int32(len(removed)), Revision: rev}, nil
}

// ListAssignedRoles pages through the roles assigned directly to a user.
func (s *RoleService) ListAssignedRoles(ctx context.Context, req *identityv1.ListAssignedRolesRequest) (*identityv1.ListAssignedRolesResponse, error) {
	p := principalFrom(ctx)
	pg, err := readPage(req.GetPageSize(), req.GetPageToken(), req.GetTenantId()+"/"+req.GetUserId(), nil)
	if err != nil {
		return nil, err
	}
	ok, err := s.db.User.Query().
		Where(user.ID(req.GetUserId()), user.TenantID(req.GetTenantId()), user.HasTenantWith(tenant.ProjectID(p.ProjectID))).
		Exist(ctx)
	if err != nil {
		return nil, fmt.Errorf("find user: %w", err)
	}
	if !ok {
		return nil, notFound("user", req.GetUserId())
	}
	q := s.db.Role.Query().Where(role.HasAssignmentsWith(roleassignment.UserID(req.GetUserId())))
	if pg.after != "" {
		q = q.Where(role.IDGT(pg.after))
	}
	rows, err := q.Order(ent.Asc(role.FieldID)).Limit(pg.size + 1).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list assigned roles: %w", err)
	}
	rows, next := trimPage(pg, rows, func(r *ent.Role) string { return r.ID })
	out := &identityv1.ListAssignedRolesResponse{NextPageToken: next}
	for _, r := range rows {
		out.Roles = append(out.Roles, roleToProto(r))
	}
	return out, nil
}
