// Package ratelimit bounds the request rate of each credential and of each
// tenant with token buckets, so one client, or one tenant's clients
// together, cannot take the service from the others.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limits are the sustained rates (requests per second) and bursts of a
// credential and of a tenant. A zero rate is no limit.
type Limits struct {
	PerCredential   float64
	CredentialBurst int
	PerTenant       float64
	TenantBurst     int
}

// Limiter holds the buckets of the credentials and tenants seen lately.
type Limiter struct {
	limits Limits
	now    func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	*rate.Limiter
	used time.Time
}

// idle is how long a bucket unused is kept; a bucket refills within it, so
// dropping it loses nothing.
const idle = 10 * time.Minute

// New returns a limiter with limits; now is the clock.
func New(limits Limits, now func() time.Time) *Limiter {
	return &Limiter{limits: limits, now: now, buckets: map[string]*bucket{}}
}

// Allow takes a token from the credential's bucket and, when tenantID is
// set, from the tenant's; when one is empty it returns how long until it
// holds a token. (A call the tenant's bucket refuses has used a token of its
// credential: a refused caller is slowed, never the others.)
func (l *Limiter) Allow(credential, tenantID string) (ok bool, retryAfter time.Duration) {
	now := l.now()
	l.mu.Lock()
	l.sweep(now)
	cred := l.bucket("credential:"+credential, l.limits.PerCredential, l.limits.CredentialBurst, now)
	var tenant *bucket
	if tenantID != "" {
		tenant = l.bucket("tenant:"+tenantID, l.limits.PerTenant, l.limits.TenantBurst, now)
	}
	l.mu.Unlock()
	for _, b := range []*bucket{cred, tenant} {
		if b != nil && !b.AllowN(now, 1) {
			missing := 1 - b.TokensAt(now)
			return false, time.Duration(missing / float64(b.Limit()) * float64(time.Second))
		}
	}
	return true, 0
}

// bucket returns the bucket of key, or nil when its rate is unlimited.
func (l *Limiter) bucket(key string, perSecond float64, burst int, now time.Time) *bucket {
	if perSecond <= 0 {
		return nil
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{Limiter: rate.NewLimiter(rate.Limit(perSecond), max(burst, 1))}
		l.buckets[key] = b
	}
	b.used = now
	return b
}

// sweep drops buckets idle for long, at most once a minute.
func (l *Limiter) sweep(now time.Time) {
	if now.Sub(l.swept) < time.Minute {
		return
	}
	l.swept = now
	for k, b := range l.buckets {
		if now.Sub(b.used) > idle {
			delete(l.buckets, k)
		}
	}
}
