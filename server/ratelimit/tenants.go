package ratelimit

import (
	"context"
	"fmt"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/predicate"
	"github.com/acme/identity/ent/tenant"
	"github.com/acme/identity/server/changelog"
)

// TenantLimits keeps a limiter's per-tenant limits as stored: it loads them
// at start and follows the change log (it is a changelog.Loader), so a change
// reaches this instance before the write returns and the others within the
// follower's poll interval.
type TenantLimits struct {
	limiter *Limiter
	db      *ent.Client
}

var _ changelog.Loader = (*TenantLimits)(nil)

// Follow returns the reader that keeps l's per-tenant limits from db.
func (l *Limiter) Follow(db *ent.Client) *TenantLimits {
	return &TenantLimits{limiter: l, db: db}
}

// Load reads every tenant that has limits of its own. ctx is the follower's
// (it sees every project).
func (t *TenantLimits) Load(ctx context.Context) error {
	return t.read(ctx, tenant.Or(tenant.RatePerSecondGT(0), tenant.RateBurstGT(0),
		tenant.CredentialRatePerSecondGT(0), tenant.CredentialBurstGT(0), tenant.MaxConcurrentGT(0)))
}

// Loaded does nothing: limits carry no revision.
func (t *TenantLimits) Loaded(func(projectID string) int64) {}

// Apply re-reads the limits of tenants whose limits changed and forgets
// deleted tenants.
func (t *TenantLimits) Apply(ctx context.Context, _ string, records []changelog.Record) error {
	for _, r := range records {
		switch e := r.Event.(type) {
		case changelog.TenantLimitsChanged:
			t.limiter.SetTenant(string(e.Tenant), Limits{}) // stays so if the tenant is gone
			if err := t.read(ctx, tenant.ID(string(e.Tenant))); err != nil {
				return err
			}
		case changelog.TenantDeleted:
			t.limiter.SetTenant(string(e.Tenant), Limits{})
		}
	}
	return nil
}

func (t *TenantLimits) read(ctx context.Context, which predicate.Tenant) error {
	rows, err := t.db.Tenant.Query().Where(which).
		Select(tenant.FieldID, tenant.FieldRatePerSecond, tenant.FieldRateBurst,
			tenant.FieldCredentialRatePerSecond, tenant.FieldCredentialBurst, tenant.FieldMaxConcurrent).
		All(ctx)
	if err != nil {
		return fmt.Errorf("read tenant limits: %w", err)
	}
	for _, r := range rows {
		t.limiter.SetTenant(r.ID, Limits{
			PerCredential: r.CredentialRatePerSecond, CredentialBurst: r.CredentialBurst,
			PerTenant: r.RatePerSecond, TenantBurst: r.RateBurst,
			ConcurrentPerTenant: r.MaxConcurrent,
		})
	}
	return nil
}
