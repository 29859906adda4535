package scim

import (
	"sync"
	"time"
)

// expiring is a map whose entries expire ttl after they are put and which
// holds at most max of them: when full, it first forgets the expired ones,
// then any. The gateway keeps two such hints (where an index page ended, which
// tenant a credential provisions); losing one only costs the work it saved.
type expiring[K comparable, V any] struct {
	ttl time.Duration
	max int

	mu      sync.Mutex
	entries map[K]expiringEntry[V]
}

type expiringEntry[V any] struct {
	value   V
	expires time.Time
}

func newExpiring[K comparable, V any](ttl time.Duration, max int) *expiring[K, V] {
	return &expiring[K, V]{ttl: ttl, max: max, entries: map[K]expiringEntry[V]{}}
}

// get returns key's value unless it is missing or expired.
func (c *expiring[K, V]) get(key K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !time.Now().Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.value, true
}

func (c *expiring[K, V]) put(key K, value V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if len(c.entries) >= c.max {
		for k, e := range c.entries {
			if !now.Before(e.expires) || len(c.entries) >= c.max {
				delete(c.entries, k)
			}
		}
	}
	c.entries[key] = expiringEntry[V]{value: value, expires: now.Add(c.ttl)}
}

func (c *expiring[K, V]) drop(key K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, key)
}
