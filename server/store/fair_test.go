package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestFairShare: a tenant writing alone runs as many writes as it likes;
// once another tenant writes, a tenant over its share of the slots waits
// while the other's writes run at once, and runs again when its own writes
// bring it under its share; the share grows back once the other tenant has
// not written for fairWindow; a write that gives up waiting leaves nothing
// behind.
func TestFairShare(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	advance := func(d time.Duration) {
		mu.Lock()
		now = now.Add(d)
		mu.Unlock()
	}
	f := newFairShare(clock, 4)
	ctx := context.Background()
	mustAcquire := func(tenant string) {
		t.Helper()
		if err := f.acquire(ctx, tenant); err != nil {
			t.Fatal(err)
		}
	}
	// acquired starts an acquire and returns a channel that closes once it
	// has returned.
	acquired := func(tenant string) chan struct{} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := f.acquire(ctx, tenant); err != nil {
				t.Error(err)
			}
		}()
		return done
	}
	waits := func(done chan struct{}) bool {
		select {
		case <-done:
			return false
		case <-time.After(20 * time.Millisecond):
			return true
		}
	}

	for range 8 {
		mustAcquire("loud") // alone: not limited
	}
	mustAcquire("quiet") // under its share (4 slots, 2 tenants: 2)
	next := acquired("loud")
	if !waits(next) {
		t.Fatal("a tenant over its share ran beside another tenant's write")
	}
	for range 6 {
		f.release("loud") // 2 left: still at its share
	}
	if !waits(next) {
		t.Fatal("a tenant at its share ran one more write")
	}
	f.release("loud") // 1 left: under its share
	<-next
	f.release("quiet")
	advance(fairWindow)
	// The quiet tenant stopped writing: the loud one is alone again.
	for range 6 {
		mustAcquire("loud")
	}
	for range 8 {
		f.release("loud")
	}
	advance(fairWindow)

	// A write that gives up waiting leaves its tenant as it was.
	mustAcquire("a")
	mustAcquire("a")
	mustAcquire("b")
	gaveUp, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- f.acquire(gaveUp, "a") }()
	time.Sleep(10 * time.Millisecond)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("the write that gave up got %v", err)
	}
	f.mu.Lock()
	if a := f.tenants["a"]; a.running != 2 || len(a.waiting) != 0 {
		t.Errorf("after a write gave up, tenant a runs %d and has %d waiting", a.running, len(a.waiting))
	}
	f.mu.Unlock()
	f.release("a")
	f.release("a")
	f.release("b")
	advance(fairWindow)
	f.mu.Lock()
	f.limitLocked(nil)
	if len(f.tenants) != 0 {
		t.Errorf("tenants that stopped writing are still held: %d", len(f.tenants))
	}
	f.mu.Unlock()
}
