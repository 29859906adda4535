package service

import (
	"context"
	"fmt"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/predicate"
	"github.com/acme/identity/ent/role"
	"github.com/acme/identity/ent/roleassignment"
	"github.com/acme/identity/ent/user"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/apierr"
	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/filter"
	"github.com/acme/identity/server/store"
)

// RoleService implements identityv1.RoleServiceServer.
type RoleService struct {
	db *ent.Client
	w  *store.Writer
}

var _ identityv1.RoleServiceServer = (*RoleService)(nil)

// NewRoleService returns the role service over db and w.
func NewRoleService(db *ent.Client, w *store.Writer) *RoleService {
	return &RoleService{db: db, w: w}
}

// CreateRole creates a role; a taken name (ignoring case) is AlreadyExists.
func (s *RoleService) CreateRole(ctx context.Context, req *identityv1.CreateRoleRequest) (*identityv1.CreateRoleResponse, error) {
	in := req.GetRole()
	key, err := nameKey("role.name", in.GetName())
	if err != nil {
		return nil, err
	}
	var out *ent.Role
	rev, err := s.w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		var err error
		out, err = tx.Role.Create().
			SetID(store.NewID()).
			SetTenantID(req.GetTenantId()).
			SetName(in.GetName()).
			SetNameKey(key).
			SetDescription(in.GetDescription()).
			SetPermissions(in.GetPermissions()).
			SetCreateTime(tx.Now).
			SetUpdateTime(tx.Now).
			SetVersion(1).
			Save(ctx)
		if ent.IsConstraintError(err) {
			return apierr.AlreadyExists("role", "name", in.GetName())
		}
		if err != nil {
			return fmt.Errorf("create role: %w", err)
		}
		tx.Record(changelog.RoleCreated{Tenant: changelog.TenantID(req.GetTenantId()), Role: changelog.RoleID(out.ID)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.CreateRoleResponse{Role: roleToProto(out), Revision: rev}, nil
}

// GetRole returns a role of a tenant of the caller's project.
func (s *RoleService) GetRole(ctx context.Context, req *identityv1.GetRoleRequest) (*identityv1.GetRoleResponse, error) {
	r, err := only(ctx, s.db.Role.Query().Where(role.ID(req.GetRoleId())), "role", req.GetRoleId())
	if err != nil {
		return nil, err
	}
	return &identityv1.GetRoleResponse{Role: roleToProto(r)}, nil
}

// ListRoles pages through the roles of a tenant in id order.
func (s *RoleService) ListRoles(ctx context.Context, req *identityv1.ListRolesRequest) (*identityv1.ListRolesResponse, error) {
	pg, preds, err := startTenantList(ctx, s.db, req, req.GetFilter(), nil, filter.Roles, filter.RoleConditions(req.GetFilter()))
	if err != nil {
		return nil, err
	}
	q := s.db.Role.Query().Where(where[predicate.Role](preds)...)
	rows, next, total, err := list(ctx, pg, q, role.FieldID, 0, roleID, true)
	if err != nil {
		return nil, fmt.Errorf("roles: %w", err)
	}
	out := &identityv1.ListRolesResponse{NextPageToken: next, TotalSize: total}
	for _, r := range rows {
		out.Roles = append(out.Roles, roleToProto(r))
	}
	return out, nil
}

// UpdateRole applies the fields named in update_mask.
func (s *RoleService) UpdateRole(ctx context.Context, req *identityv1.UpdateRoleRequest) (*identityv1.UpdateRoleResponse, error) {
	in := req.GetRole()
	has := masked(req.GetUpdateMask().GetPaths())
	var out *ent.Role
	rev, err := s.w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		upd := tx.Role.UpdateOneID(in.GetId()).SetUpdateTime(tx.Now).AddVersion(1)
		if has("name") {
			key, err := nameKey("role.name", in.GetName())
			if err != nil {
				return err
			}
			upd.SetName(in.GetName()).SetNameKey(key)
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
			return apierr.NotFound("role", in.GetId())
		case ent.IsConstraintError(err):
			return apierr.AlreadyExists("role", "name", in.GetName())
		case err != nil:
			return fmt.Errorf("update role: %w", err)
		}
		tx.Record(changelog.RoleUpdated{Tenant: changelog.TenantID(in.GetTenantId()), Role: changelog.RoleID(in.GetId())})
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
	id := req.GetRoleId()
	deleted := changelog.RoleDeleted{Tenant: changelog.TenantID(req.GetTenantId()), Role: changelog.RoleID(id)}
	rev, err := deleteOne(ctx, s.w, "role", id, deleted, func(ctx context.Context, tx *store.Tx) (int, error) {
		return tx.Role.Delete().Where(role.ID(id)).Exec(ctx)
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.DeleteRoleResponse{Revision: rev}, nil
}

func roleID(r *ent.Role) string { return r.ID }

// nameKey is the key of a group or role name, or InvalidArgument on field
// saying why the name is refused.
func nameKey(field, name string) (string, error) {
	key, err := store.NameKey(name)
	if err != nil {
		return "", apierr.InvalidField(field, "INVALID_NAME", fmt.Sprintf("%q: %v", name, err))
	}
	return key, nil
}

// assignments are a user's direct role assignments as links from the user
// to roles.
func assignments(tenantID changelog.TenantID, userID string) links {
	u := changelog.UserID(userID)
	return links{
		kind: "role",
		exist: func(ctx context.Context, tx *store.Tx, ids []string) ([]string, error) {
			return tx.Role.Query().Where(role.IDIn(ids...)).IDs(ctx)
		},
		linked: func(ctx context.Context, tx *store.Tx, ids []string) ([]string, error) {
			return tx.RoleAssignment.Query().Where(roleassignment.UserID(userID), roleassignment.RoleIDIn(ids...)).
				Select(roleassignment.FieldRoleID).Strings(ctx)
		},
		insert: func(ctx context.Context, tx *store.Tx, ids []string) error {
			creates := make([]*ent.RoleAssignmentCreate, len(ids))
			for i, id := range ids {
				creates[i] = tx.RoleAssignment.Create().
					SetTenantID(string(tenantID)).SetUserID(userID).SetRoleID(id).SetCreateTime(tx.Now)
			}
			return tx.RoleAssignment.CreateBulk(creates...).Exec(ctx)
		},
		unlink: func(ctx context.Context, tx *store.Tx, ids []string) error {
			_, err := tx.RoleAssignment.Delete().Where(roleassignment.UserID(userID), roleassignment.RoleIDIn(ids...)).Exec(ctx)
			return err
		},
		added: func(id string) changelog.Event {
			return changelog.RoleAssigned{Tenant: tenantID, User: u, Role: changelog.RoleID(id)}
		},
		removed: func(id string) changelog.Event {
			return changelog.RoleUnassigned{Tenant: tenantID, User: u, Role: changelog.RoleID(id)}
		},
	}
}

// requireUser fails with NotFound unless the user is in the request's tenant.
func requireUser(ctx context.Context, c *ent.UserClient, userID string) error {
	ok, err := c.Query().Where(user.ID(userID)).Exist(ctx)
	if err != nil {
		return fmt.Errorf("find user: %w", err)
	}
	if !ok {
		return apierr.NotFound("user", userID)
	}
	return nil
}

// AssignRoles assigns roles to a user with set semantics, touching only the
// rows of the named roles.
func (s *RoleService) AssignRoles(ctx context.Context, req *identityv1.AssignRolesRequest) (*identityv1.AssignRolesResponse, error) {
	var assigned int
	rev, err := s.w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		if err := requireUser(ctx, tx.User, req.GetUserId()); err != nil {
			return err
		}
		var err error
		assigned, err = assignments(changelog.TenantID(req.GetTenantId()), req.GetUserId()).add(ctx, tx, req.GetRoleIds())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.AssignRolesResponse{AssignedCount: int32(assigned), Revision: rev}, nil
}

// UnassignRoles takes directly assigned roles from a user with set semantics.
func (s *RoleService) UnassignRoles(ctx context.Context, req *identityv1.UnassignRolesRequest) (*identityv1.UnassignRolesResponse, error) {
	var removed []string
	rev, err := s.w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		if err := requireUser(ctx, tx.User, req.GetUserId()); err != nil {
			return err
		}
		var err error
		removed, err = assignments(changelog.TenantID(req.GetTenantId()), req.GetUserId()).remove(ctx, tx, req.GetRoleIds())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.UnassignRolesResponse{UnassignedCount: int32(len(removed)), Revision: rev}, nil
}

// ListAssignedRoles pages through the roles assigned directly to a user.
func (s *RoleService) ListAssignedRoles(ctx context.Context, req *identityv1.ListAssignedRolesRequest) (*identityv1.ListAssignedRolesResponse, error) {
	pg, err := readPage(req.GetPageSize(), req.GetPageToken(), req.GetTenantId()+"/"+req.GetUserId(), nil)
	if err != nil {
		return nil, err
	}
	if err := requireUser(ctx, s.db.User, req.GetUserId()); err != nil {
		return nil, err
	}
	q := s.db.Role.Query().Where(role.HasAssignmentsWith(roleassignment.UserID(req.GetUserId())))
	rows, next, _, err := list(ctx, pg, q, role.FieldID, 0, roleID, false)
	if err != nil {
		return nil, fmt.Errorf("assigned roles: %w", err)
	}
	out := &identityv1.ListAssignedRolesResponse{NextPageToken: next}
	for _, r := range rows {
		out.Roles = append(out.Roles, roleToProto(r))
	}
	return out, nil
}
