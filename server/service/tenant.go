package service

import (
	"context"
	"fmt"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/predicate"
	"github.com/acme/identity/ent/tenant"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/apierr"
	"github.com/acme/identity/server/authn"
	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/filter"
	"github.com/acme/identity/server/store"
)

// TenantService implements identityv1.TenantServiceServer. Tenants are
// confined to the caller's project by the store's scope.
type TenantService struct {
	db *ent.Client
	w  *store.Writer
}

var _ identityv1.TenantServiceServer = (*TenantService)(nil)

// NewTenantService returns the tenant service over db and w.
func NewTenantService(db *ent.Client, w *store.Writer) *TenantService {
	return &TenantService{db: db, w: w}
}

// CreateTenant creates a tenant in the caller's project.
func (s *TenantService) CreateTenant(ctx context.Context, req *identityv1.CreateTenantRequest) (*identityv1.CreateTenantResponse, error) {
	var out *ent.Tenant
	rev, err := s.w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		var err error
		out, err = tx.Tenant.Create().
			SetID(store.NewID()).
			SetProjectID(tx.ProjectID).
			SetDisplayName(req.GetDisplayName()).
			SetCreateTime(tx.Now).
			SetUpdateTime(tx.Now).
			SetVersion(1).
			Save(ctx)
		if err != nil {
			return fmt.Errorf("create tenant: %w", err)
		}
		tx.Record(changelog.TenantCreated{Tenant: changelog.TenantID(out.ID)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.CreateTenantResponse{Tenant: tenantToProto(out), Revision: rev}, nil
}

// GetTenant returns a tenant of the caller's project.
func (s *TenantService) GetTenant(ctx context.Context, req *identityv1.GetTenantRequest) (*identityv1.GetTenantResponse, error) {
	t, err := only(ctx, s.db.Tenant.Query().Where(tenant.ID(req.GetTenantId())), "tenant", req.GetTenantId())
	if err != nil {
		return nil, err
	}
	return &identityv1.GetTenantResponse{Tenant: tenantToProto(t)}, nil
}

// ListTenants pages through the tenants of the caller's project.
func (s *TenantService) ListTenants(ctx context.Context, req *identityv1.ListTenantsRequest) (*identityv1.ListTenantsResponse, error) {
	pg, err := readPage(req.GetPageSize(), req.GetPageToken(), authn.From(ctx).ProjectID, req.GetFilter())
	if err != nil {
		return nil, err
	}
	preds, err := filter.Predicates(filter.Tenants, filter.TenantConditions(req.GetFilter()))
	if err != nil {
		return nil, err
	}
	q := s.db.Tenant.Query().Where(where[predicate.Tenant](preds)...)
	rows, next, total, err := list(ctx, pg, q, tenant.FieldID, 0, func(t *ent.Tenant) string { return t.ID }, true)
	if err != nil {
		return nil, fmt.Errorf("tenants: %w", err)
	}
	out := &identityv1.ListTenantsResponse{NextPageToken: next, TotalSize: total}
	for _, t := range rows {
		out.Tenants = append(out.Tenants, tenantToProto(t))
	}
	return out, nil
}

// UpdateTenant renames a tenant or changes its limits (the authorization
// rules let only project-wide callers do either).
func (s *TenantService) UpdateTenant(ctx context.Context, req *identityv1.UpdateTenantRequest) (*identityv1.UpdateTenantResponse, error) {
	in, has := req.GetTenant(), masked(req.GetUpdateMask().GetPaths())
	if has("display_name") && in.GetDisplayName() == "" {
		return nil, apierr.InvalidField("tenant.display_name", "REQUIRED", "display_name must not be empty")
	}
	var out *ent.Tenant
	rev, err := s.w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		u := tx.Tenant.UpdateOneID(in.GetId()).SetUpdateTime(tx.Now).AddVersion(1)
		if has("display_name") {
			u.SetDisplayName(in.GetDisplayName())
		}
		if has("limits") {
			l := in.GetLimits()
			u.SetRatePerSecond(l.GetRequestsPerSecond()).
				SetRateBurst(int(l.GetBurst())).
				SetCredentialRatePerSecond(l.GetCredentialRequestsPerSecond()).
				SetCredentialBurst(int(l.GetCredentialBurst())).
				SetMaxConcurrent(int(l.GetMaxConcurrentRequests()))
		}
		var err error
		out, err = u.Save(ctx)
		if ent.IsNotFound(err) {
			return apierr.NotFound("tenant", in.GetId())
		}
		if err != nil {
			return fmt.Errorf("update tenant: %w", err)
		}
		t := changelog.TenantID(out.ID)
		if has("display_name") {
			tx.Record(changelog.TenantUpdated{Tenant: t})
		}
		if has("limits") {
			tx.Record(changelog.TenantLimitsChanged{Tenant: t})
		}
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
	id := req.GetTenantId()
	rev, err := deleteOne(ctx, s.w, "tenant", id, changelog.TenantDeleted{Tenant: changelog.TenantID(id)},
		func(ctx context.Context, tx *store.Tx) (int, error) {
			return tx.Tenant.Delete().Where(tenant.ID(id)).Exec(ctx)
		})
	if err != nil {
		return nil, err
	}
	return &identityv1.DeleteTenantResponse{Revision: rev}, nil
}
