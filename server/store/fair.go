package store

import (
	"context"
	"math"
	"runtime"
	"sync"
	"time"
)

// Writes of one tenant share the machine fairly with other tenants' writes:
// while several tenants write, each runs at most its share of the slots
// (see fairSlots, divided by the number of tenants writing, at least one)
// at once, and the rest of its writes wait before their transaction begins.
// A tenant writing alone is not limited. An IdP importing a tenant at full
// speed otherwise takes the cores in proportion to its connections: another
// tenant's user create, one connection against eight, took three times as
// long as when it wrote alone on PostgreSQL, where the machine is CPU-bound,
// and four times on SQLite, where the writes queued share its transactions.
//
// Written by hand: the round-robin turns of SQLite (WriteTurns) order one
// lock; this bounds how many writes of each tenant run at once, which no
// semaphore package offers by key with a bound that follows the number of
// tenants writing.

// fairSlots is the number of writes the tenants writing at once share. On
// PostgreSQL one per core: a SCIM user create is one round trip (see
// Writer.InsertRows), so a write holds its slot briefly and one per core
// keeps the cores busy. Measured with cmd/writebench on the 2-core machine:
// the quiet tenant's create took 1.3-1.5x of its idle time with one slot per
// core, 1.6-2.4x with two, and two tenants writing at full speed together
// made 0.74-0.86x of what one makes alone, against 0.82-0.90x with two. On
// SQLite two per core: a tenant's writes share its transactions (batcher),
// and with one slot per core two tenants together made 0.60x of one alone,
// against 0.72-0.86x (the quiet tenant's create: 1.7-1.9x of idle, against
// 2.4-2.7x). Only SCIM creates were measured: on PostgreSQL the slot also
// bounds the writes that hold a transaction over several round trips (the
// API's writes), which two tenants writing at once therefore run fewer of
// at a time than before.
func fairSlots(sqlite bool) int {
	if sqlite {
		return 2 * runtime.GOMAXPROCS(0)
	}
	return runtime.GOMAXPROCS(0)
}

// fairWindow is how long a tenant counts as writing after its last write
// ended: an IdP sends its next request a moment after its last answer, and
// the tenants it shares with should not take back the slots in between.
const fairWindow = 50 * time.Millisecond

type fairShare struct {
	now     func() time.Time
	slots   int
	mu      sync.Mutex
	tenants map[string]*fairTenant
}

type fairTenant struct {
	running int
	waiting []chan struct{}
	ended   time.Time // when its last write ended
}

func newFairShare(now func() time.Time, slots int) *fairShare {
	return &fairShare{now: now, slots: slots, tenants: map[string]*fairTenant{}}
}

// acquire waits until the tenant may run one more write, or ctx ends. A
// write of no tenant (the project's) is not limited. A tenant's writes run
// in the order they asked.
func (f *fairShare) acquire(ctx context.Context, tenantID string) error {
	if tenantID == "" {
		return nil
	}
	f.mu.Lock()
	t := f.tenants[tenantID]
	if t == nil {
		t = &fairTenant{}
		f.tenants[tenantID] = t
	}
	if len(t.waiting) == 0 && t.running < f.limitLocked(t) {
		t.running++
		f.mu.Unlock()
		return nil
	}
	turn := make(chan struct{})
	t.waiting = append(t.waiting, turn)
	f.mu.Unlock()
	// The limit also grows when a tenant stops writing, which no release
	// announces: look again every fairWindow.
	wait := time.NewTimer(fairWindow)
	defer wait.Stop()
	for {
		select {
		case <-turn: // a release handed its slot over (and counted it)
			return nil
		case <-wait.C:
			f.mu.Lock()
			f.grantLocked()
			f.mu.Unlock()
			wait.Reset(fairWindow)
		case <-ctx.Done():
			f.mu.Lock()
			if !f.dropLocked(t, turn) { // handed over meanwhile: pass it on
				f.endLocked(t)
			}
			f.mu.Unlock()
			return ctx.Err()
		}
	}
}

// release ends one of the tenant's writes.
func (f *fairShare) release(tenantID string) {
	if tenantID == "" {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if t := f.tenants[tenantID]; t != nil {
		f.endLocked(t)
	}
}

// endLocked ends one of t's writes and hands the slots now free over.
func (f *fairShare) endLocked(t *fairTenant) {
	t.running--
	t.ended = f.now()
	f.grantLocked()
}

// grantLocked hands each tenant's waiting writes, in order, the slots its
// limit leaves it, counting them as running.
func (f *fairShare) grantLocked() {
	limit := f.limitLocked(nil)
	for _, t := range f.tenants {
		for len(t.waiting) > 0 && t.running < limit {
			t.running++
			close(t.waiting[0])
			t.waiting = t.waiting[1:]
		}
	}
}

// limitLocked returns how many writes each tenant may run now, self (the
// tenant asking, if any) counted as writing, and forgets the tenants that
// stopped writing (none running or waiting, none ended within fairWindow).
func (f *fairShare) limitLocked(self *fairTenant) int {
	now := f.now()
	writing := 0
	for id, t := range f.tenants {
		if t != self && t.running == 0 && len(t.waiting) == 0 && now.Sub(t.ended) >= fairWindow {
			delete(f.tenants, id)
			continue
		}
		writing++
	}
	if writing <= 1 {
		return math.MaxInt
	}
	return max(1, f.slots/writing)
}

// dropLocked removes turn from the tenant's waiting writes and reports
// whether it was there (a release may have handed it a slot already).
func (f *fairShare) dropLocked(t *fairTenant, turn chan struct{}) bool {
	for i, w := range t.waiting {
		if w == turn {
			t.waiting = append(t.waiting[:i], t.waiting[i+1:]...)
			return true
		}
	}
	return false
}
