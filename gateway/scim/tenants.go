package scim

import (
	"crypto/sha256"
	"time"

	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// tenantHints remembers, for a short while, which tenant a credential
// provisions (ResolveScimTenant's answer), so that an IdP pushing many
// requests costs the core one gRPC call per request instead of two.
//
// A hint only routes: the core authenticates and authorizes the credential on
// every call it serves, against the tenant the call names. A credential
// revoked meanwhile is refused there, and one that lost the tenant is refused
// as PermissionDenied; either refusal (401 or 403) drops the hint, so the
// next request resolves again. What a hint may keep past a change, for
// hintTTL at most, is only the core's answer to an access key that meanwhile
// gained or lost Tenant Admin on another tenant, or whose tenant lost its SSO
// settings.
type tenantHints = expiring[[sha256.Size]byte, *identityv1.ResolveScimTenantResponse]

const (
	hintTTL = time.Second
	// maxHints bounds the memory hints take: only resolved credentials are
	// kept, so the bound is reached only by that many distinct valid ones.
	maxHints = 10_000
)

func newTenantHints() *tenantHints {
	return newExpiring[[sha256.Size]byte, *identityv1.ResolveScimTenantResponse](hintTTL, maxHints)
}

// hintKey keys a credential by its hash: the secret is not kept.
func hintKey(auth string) [sha256.Size]byte { return sha256.Sum256([]byte(auth)) }
