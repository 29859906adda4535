package scim

import (
	"crypto/sha256"
	"sync"
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
type tenantHints struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]tenantHint
}

type tenantHint struct {
	who     *identityv1.ResolveScimTenantResponse
	expires time.Time
}

const (
	hintTTL = time.Second
	// maxHints bounds the memory hints take: only resolved credentials are
	// kept, so the bound is reached only by that many distinct valid ones.
	maxHints = 10_000
)

func newTenantHints() *tenantHints {
	return &tenantHints{entries: map[[sha256.Size]byte]tenantHint{}}
}

// hintKey keys a credential by its hash: the secret is not kept.
func hintKey(auth string) [sha256.Size]byte { return sha256.Sum256([]byte(auth)) }

func (h *tenantHints) get(key [sha256.Size]byte, now time.Time) *identityv1.ResolveScimTenantResponse {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.entries[key]
	if !ok || !now.Before(e.expires) {
		return nil
	}
	return e.who
}

func (h *tenantHints) put(key [sha256.Size]byte, who *identityv1.ResolveScimTenantResponse, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.entries) >= maxHints {
		for k, e := range h.entries {
			if !now.Before(e.expires) {
				delete(h.entries, k)
			}
		}
		if len(h.entries) >= maxHints {
			clear(h.entries)
		}
	}
	h.entries[key] = tenantHint{who: who, expires: now.Add(hintTTL)}
}

func (h *tenantHints) drop(key [sha256.Size]byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.entries, key)
}
