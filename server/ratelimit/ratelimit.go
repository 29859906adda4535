// Package ratelimit bounds the request rate of each credential and of each
// tenant with token buckets, and the calls of each tenant in progress at once,
// so one client, or one tenant's clients together, cannot take the service
// from the others. Each tenant may have its own limits (TenantLimits in
// tenant.proto); the instance's defaults fill what it leaves zero.
package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Limits are the sustained rates (requests per second) and bursts of a
// credential and of a tenant, and the calls of a tenant in progress at once.
// A zero rate or concurrency is no limit.
type Limits struct {
	PerCredential       float64
	CredentialBurst     int
	PerTenant           float64
	TenantBurst         int
	ConcurrentPerTenant int
}

// over returns l with the non-zero fields of o in place of its own.
func (l Limits) over(o Limits) Limits {
	if o.PerCredential > 0 {
		l.PerCredential = o.PerCredential
	}
	if o.CredentialBurst > 0 {
		l.CredentialBurst = o.CredentialBurst
	}
	if o.PerTenant > 0 {
		l.PerTenant = o.PerTenant
	}
	if o.TenantBurst > 0 {
		l.TenantBurst = o.TenantBurst
	}
	if o.ConcurrentPerTenant > 0 {
		l.ConcurrentPerTenant = o.ConcurrentPerTenant
	}
	return l
}

// QueueWait is how long a call waits at most for a token of its rate or
// for one of its tenant's slots before it is refused.
const QueueWait = time.Second

// MaxQueued is how many calls of one credential may wait for its rate at
// once: a few more than an IdP's connections (Okta and Entra ID push over a
// handful), so that their pushes queue, while a client holding hundreds of
// connections open is refused at once instead of holding hundreds of
// requests in memory.
const MaxQueued = 32

// Limiter holds the buckets of the credentials and tenants seen lately and
// the slots of each tenant.
type Limiter struct {
	defaults Limits
	now      func() time.Time

	mu      sync.Mutex
	tenants map[string]Limits // each tenant's own limits, as stored
	buckets map[bucketKey]*bucket
	slots   map[string]*slots
	swept   time.Time
}

// bucketKey names a tenant's bucket (credential empty) or a credential's
// bucket on a tenant (tenant empty for calls that name none).
type bucketKey struct{ credential, tenant string }

type bucket struct {
	*rate.Limiter
	used    time.Time
	waiting atomic.Int32 // calls waiting for a token (counted on the credential's bucket)
}

// slots is a tenant's semaphore: a call holds one token of ch while it runs.
type slots struct {
	ch   chan struct{}
	used time.Time
}

// idle is how long a bucket unused is kept; a bucket refills within it, so
// dropping it loses nothing.
const idle = 10 * time.Minute

// New returns a limiter with default limits; now is the clock.
func New(defaults Limits, now func() time.Time) *Limiter {
	return &Limiter{defaults: defaults, now: now, tenants: map[string]Limits{},
		buckets: map[bucketKey]*bucket{}, slots: map[string]*slots{}}
}

// SetTenant sets a tenant's own limits (the zero value: the defaults). Its
// buckets and slots start afresh under them.
func (l *Limiter) SetTenant(tenantID string, limits Limits) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if limits == (Limits{}) {
		delete(l.tenants, tenantID)
	} else {
		l.tenants[tenantID] = limits
	}
	for k := range l.buckets {
		if k.tenant == tenantID {
			delete(l.buckets, k)
		}
	}
	delete(l.slots, tenantID) // calls in progress release into the old one
}

// Wait takes a token from the credential's bucket and, when tenantID is
// set, from the tenant's. A call that finds a bucket empty waits for its
// token when that takes at most QueueWait (and ctx lasts that long) and
// fewer than MaxQueued calls of its credential wait already: a client
// pushing a little faster than its rate, or many connections at once, is
// slowed to the rate instead of refused, and costs nothing while it waits.
// Otherwise the call is refused at once, with how long until its bucket
// holds a token. (A call the tenant's bucket refuses has used a token of its
// credential: a refused caller is slowed, never the others.)
func (l *Limiter) Wait(ctx context.Context, credential, tenantID string) (ok bool, retryAfter time.Duration) {
	now := l.now()
	l.mu.Lock()
	l.sweep(now)
	lim := l.limits(tenantID)
	cred := l.bucket(bucketKey{credential: credential, tenant: tenantID}, lim.PerCredential, lim.CredentialBurst, now)
	var tenant *bucket
	if tenantID != "" {
		tenant = l.bucket(bucketKey{tenant: tenantID}, lim.PerTenant, lim.TenantBurst, now)
	}
	l.mu.Unlock()
	queue := cred // where the call's waiters are counted
	if queue == nil {
		queue = tenant
	}
	longest := QueueWait
	if deadline, ok := ctx.Deadline(); ok {
		longest = min(longest, deadline.Sub(now))
	}
	var delay time.Duration
	for _, b := range []*bucket{cred, tenant} {
		if b == nil {
			continue
		}
		r := b.ReserveN(now, 1)
		d := r.DelayFrom(now)
		if d > longest || (d > 0 && queue.waiting.Load() >= MaxQueued) {
			// This bucket's token is not taken; when the tenant's refuses,
			// the credential's stays taken.
			r.CancelAt(now)
			return false, d
		}
		delay = max(delay, d)
	}
	if delay == 0 {
		return true, 0
	}
	queue.waiting.Add(1)
	defer queue.waiting.Add(-1)
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true, 0
	case <-ctx.Done():
		// the token stays used, as a refused caller's does
		return false, delay
	}
}

// Enter takes one of the tenant's slots, waiting up to QueueWait (or until
// ctx ends) for one; ok is false when none came free. leave gives the slot
// back and must be called once the call is done.
func (l *Limiter) Enter(ctx context.Context, tenantID string) (leave func(), ok bool) {
	l.mu.Lock()
	n := l.limits(tenantID).ConcurrentPerTenant
	if n <= 0 || tenantID == "" {
		l.mu.Unlock()
		return func() {}, true
	}
	s := l.slots[tenantID]
	if s == nil {
		s = &slots{ch: make(chan struct{}, n)}
		l.slots[tenantID] = s
	}
	s.used = l.now()
	l.mu.Unlock()
	leave = func() { <-s.ch }
	select {
	case s.ch <- struct{}{}:
		return leave, true
	default:
	}
	t := time.NewTimer(QueueWait)
	defer t.Stop()
	select {
	case s.ch <- struct{}{}:
		return leave, true
	case <-t.C:
	case <-ctx.Done():
	}
	return nil, false
}

// limits returns a tenant's limits; l.mu is held.
func (l *Limiter) limits(tenantID string) Limits {
	return l.defaults.over(l.tenants[tenantID])
}

// bucket returns the bucket of key, or nil when its rate is unlimited.
func (l *Limiter) bucket(key bucketKey, perSecond float64, burst int, now time.Time) *bucket {
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

// sweep drops buckets and idle slots unused for long, at most once a minute.
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
	for k, s := range l.slots {
		if now.Sub(s.used) > idle && len(s.ch) == 0 {
			delete(l.slots, k)
		}
	}
}
