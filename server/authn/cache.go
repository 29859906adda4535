package authn

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/acme/identity/server/changelog"
)

// Cache holds verified credentials, so the hot path costs a map lookup and a
// SHA-256 instead of a query. It reads the change log (it is a
// changelog.Reader) and empties itself whenever a key, SCIM token, SSO
// setting or role changes, or a tenant is deleted: on this instance before the
// write returns,
// on others within the follower's poll interval. gen guards against a miss
// loaded from the database before a clear being stored after it.
type Cache struct {
	mu     sync.RWMutex
	gen    uint64
	keys   map[string]*cachedKey
	tokens map[string]*cachedToken
}

type cachedKey struct {
	verified  time.Time // when it was read from the database
	projectID string
	hash      []byte
	expire    *time.Time
	revoked   bool
	principal Principal
	lastUsed  atomic.Int64 // unix seconds of the last recorded use
}

type cachedToken struct {
	verified  time.Time
	hash      []byte
	expire    *time.Time
	principal Principal
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{keys: map[string]*cachedKey{}, tokens: map[string]*cachedToken{}}
}

// Apply empties the cache when records change what a cached credential may
// do.
func (c *Cache) Apply(_ context.Context, _ string, records []changelog.Record) error {
	for _, r := range records {
		if invalidatesCredentials(r.Event) {
			c.clear()
			return nil
		}
	}
	return nil
}

// invalidatesCredentials says whether an event can change what a cached
// credential may do: keys, SCIM tokens, SSO (which disables SCIM), roles
// (tenant-role bindings grant their permissions) and tenant deletion.
func invalidatesCredentials(e changelog.Event) bool {
	switch e.(type) {
	case changelog.KeyCreated, changelog.KeyUpdated, changelog.KeyRevoked, changelog.KeyDeleted,
		changelog.ScimEnabled, changelog.ScimDisabled, changelog.ScimTokenRotated,
		changelog.SamlConfigCreated, changelog.SamlConfigUpdated, changelog.SamlConfigDeleted,
		changelog.RoleCreated, changelog.RoleUpdated, changelog.RoleDeleted,
		changelog.TenantDeleted:
		return true
	}
	return false
}

func (c *Cache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.keys = map[string]*cachedKey{}
	c.tokens = map[string]*cachedToken{}
}

func (c *Cache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

func (c *Cache) key(id string) *cachedKey {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.keys[id]
}

func (c *Cache) token(id string) *cachedToken {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.tokens[id]
}

// putKey caches k unless the cache was cleared since gen was read.
func (c *Cache) putKey(gen uint64, id string, k *cachedKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.keys[id] = k
	}
}

func (c *Cache) putToken(gen uint64, id string, t *cachedToken) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.tokens[id] = t
	}
}
