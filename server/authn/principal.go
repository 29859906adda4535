package authn

import (
	"context"
	"slices"
	"sync/atomic"

	"github.com/acme/identity/server/authz"
)

// Principal is the authenticated caller of a request: an access key or a
// tenant's SCIM token, with what it may do.
type Principal struct {
	ProjectID string
	// KeyID is the access key's id, or "" for a SCIM token.
	KeyID string
	// ScimTenantID is the tenant of a SCIM token, or "" for an access key.
	ScimTenantID string
	// ScimTokenID is the SCIM token's id (listed by GetScimStatus), for the
	// audit trail.
	ScimTokenID string
	// Grants are what the caller may do.
	authz.Grants
	// TenantAdminOf lists the tenants on which an access key holds Tenant
	// Admin.
	TenantAdminOf []string
	// scimReady is shared by every request of one cached access key: set
	// once its SCIM tenant was found to exist with SSO configured. The cache
	// drops the key (and with it this mark) when SSO settings or tenants
	// change, and reads it again at least every 50 ms while in use.
	scimReady *atomic.Bool
}

// ScimReady says whether the caller's SCIM tenant was checked (it exists and
// has SSO configured) while its credential has been cached.
func (p Principal) ScimReady() bool { return p.scimReady != nil && p.scimReady.Load() }

// MarkScimReady records that the check passed, for the cached credential's
// later requests.
func (p Principal) MarkScimReady() {
	if p.scimReady != nil {
		p.scimReady.Store(true)
	}
}

// KnownScimTenant returns the caller's SCIM tenant when it is known to
// exist without a query, else "": a SCIM token's own tenant (the cache drops
// a token when its tenant changes), or the one tenant of an access key whose
// SCIM check passed (MarkScimReady).
func (p Principal) KnownScimTenant() string {
	if p.ScimTenantID != "" {
		return p.ScimTenantID
	}
	if p.ScimReady() && len(p.TenantAdminOf) > 0 && !slices.ContainsFunc(p.TenantAdminOf, func(t string) bool { return t != p.TenantAdminOf[0] }) {
		return p.TenantAdminOf[0]
	}
	return ""
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// From returns the caller; the authentication interceptor guarantees one on
// every method that reaches a service.
func From(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}
