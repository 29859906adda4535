package server

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/change"
	"github.com/acme/identity/ent/predicate"
	"github.com/acme/identity/ent/tenant"
	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// TenantService implements identityv1.TenantServiceServer.
type TenantService struct{ *Server }

var _ identityv1.TenantServiceServer = (*TenantService)(nil)

// newID returns a server-assigned resource id: a UUIDv7, whose order is
// creation order, so id-ordered lists read oldest first.
func newID() string { return uuid.Must(uuid.NewV7()).String() }

// CreateTenant creates a tenant in the caller's project.
func (s *TenantService) CreateTenant(ctx context.Context, req *identityv1.CreateTenantRequest) (*identityv1.CreateTenantResponse, error) {
	p := principalFrom(ctx)
	var out *ent.Tenant
	rev, err := s.write(ctx, p.ProjectID, func(ctx context.Context, cs *changeSet) error {
		var err error
		out, err = cs.tx.Tenant.Create().
			SetID(newID()).
			SetProjectID(p.ProjectID).
			SetDisplayName(req.GetDisplayName()).
			SetCreateTime(cs.now).
			SetUpdateTime(cs.now).
			SetVersion(cs.revision).
			Save(ctx)
		if err != nil {
			return fmt.Errorf("create tenant: %w", err)
		}
		cs.add(out.ID, change.KindTenant, change.OperationCreate, out.ID, "")
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.CreateTenantResponse{Tenant: tenantToProto(out), Revision: rev}, nil
}

// GetTenant returns a tenant of the caller's project.
func (s *TenantService) GetTenant(ctx context.Context, req *identityv1.GetTenantRequest) (*identityv1.GetTenantResponse, error) {
	p := principalFrom(ctx)
	t, err := s.db.Tenant.Query().Where(tenant.ID(req.GetTenantId()), tenant.ProjectID(p.ProjectID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, notFound("tenant", req.GetTenantId())
	}
	if err != nil {
		return nil, fmt.Errorf("get tenant: %w", err)
	}
	return &identityv1.GetTenantResponse{Tenant: tenantToProto(t)}, nil
}

// ListTenants pages through the tenants of the caller's project.
func (s *TenantService) ListTenants(ctx context.Context, req *identityv1.ListTenantsRequest) (*identityv1.ListTenantsResponse, error) {
	p := principalFrom(ctx)
	pg, err := readPage(req.GetPageSize(), req.GetPageToken(), p.ProjectID, req.GetFilter())
	if err != nil {
		return nil, err
	}
	where := []predicate.Tenant{tenant.ProjectID(p.ProjectID)}
	f := req.GetFilter()
	if c, ok := stringCondition(f.GetDisplayName(), tenant.DisplayName, tenant.DisplayNameHasPrefix,
		func() predicate.Tenant { return tenant.DisplayNameNEQ("") },
		func() predicate.Tenant { return tenant.DisplayName("") }); ok {
		where = append(where, c)
	}
	if f.GetUpdatedAfter() != nil {
		where = append(where, tenant.UpdateTimeGT(f.GetUpdatedAfter().AsTime()))
	}
	total, err := s.db.Tenant.Query().Where(where...).Count(ctx)
	if err != nil {
		return nil, fmt.Errorf("count tenants: %w", err)
	}
	q := s.db.Tenant.Query().Where(where...)
	if pg.after != "" {
		q = q.Where(tenant.IDGT(pg.after))
	}
	rows, err := q.Order(ent.Asc(tenant.FieldID)).Limit(pg.size + 1).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	rows, next := trimPage(pg, rows, func(t *ent.Tenant) string { return t.ID })
	out := &identityv1.ListTenantsResponse{NextPageToken: next, TotalSize: int32(total)}
	for _, t := range rows {
		out.Tenants = append(out.Tenants, tenantToProto(t))
	}
	return out, nil
}

// UpdateTenant renames a tenant.
func (s *TenantService) UpdateTenant(ctx context.Context, req *identityv1.UpdateTenantRequest) (*identityv1.UpdateTenantResponse, error) {
	p := principalFrom(ctx)
	in := req.GetTenant()
	var out *ent.Tenant
	rev, err := s.write(ctx, p.ProjectID, func(ctx context.Context, cs *changeSet) error {
		if err := requireTenant(ctx, cs.tx.Tenant, p.ProjectID, in.GetId()); err != nil {
			return err
		}
		var err error
		out, err = cs.tx.Tenant.UpdateOneID(in.GetId()).
			SetDisplayName(in.GetDisplayName()).
			SetUpdateTime(cs.now).
			SetVersion(cs.revision).
			Save(ctx)
		if err != nil {
			return fmt.Errorf("update tenant: %w", err)
		}
		cs.add(out.ID, change.KindTenant, change.OperationUpdate, out.ID, "")
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.UpdateTenantResponse{Tenant: tenantToProto(out), Revision: rev}, nil
}

// DeleteTenant deletes a tenant; its users, groups and roles go with it by
// cascading foreign keys.
func (s *TenantService) DeleteTenant(ctx context.Context, req *identityv1.DeleteTenantRequest) (*identityv1.DeleteTenantResponse, error) {
	p := principalFrom(ctx)
	rev, err := s.write(ctx, p.ProjectID, func(ctx context.Context, cs *changeSet) error {
		n, err := cs.tx.Tenant.Delete().Where(tenant.ID(req.GetTenantId()), tenant.ProjectID(p.ProjectID)).Exec(ctx)
		if err != nil {
			return fmt.Errorf("delete tenant: %w", err)
		}
		if n == 0 {
			return notFound("tenant", req.GetTenantId())
		}
		cs.add(req.GetTenantId(), change.KindTenant, change.OperationDelete, req.GetTenantId(), "")
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.DeleteTenantResponse{Revision: rev}, nil
}
