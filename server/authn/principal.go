package authn

import (
	"context"

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
	// Grants are what the caller may do.
	authz.Grants
	// TenantAdminOf lists the tenants on which an access key holds Tenant
	// Admin.
	TenantAdminOf []string
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
