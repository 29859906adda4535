package ratelimit

import (
	"context"
	"testing"
	"time"
)

// TestEnter: a tenant's calls past its concurrency bound wait for a slot and
// get it when one is left; the wait ends with the caller's context; another
// tenant has its own slots; a tenant's own bound replaces the default.
func TestEnter(t *testing.T) {
	l := New(Limits{ConcurrentPerTenant: 1}, time.Now)
	leave, ok := l.Enter(context.Background(), "a")
	if !ok {
		t.Fatal("first call refused")
	}
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, ok := l.Enter(short, "a"); ok {
		t.Fatal("second call of a tenant with one slot entered")
	}
	if leaveB, ok := l.Enter(short, "b"); !ok {
		t.Fatal("another tenant was held back")
	} else {
		leaveB()
	}
	go func() { time.Sleep(10 * time.Millisecond); leave() }()
	leave2, ok := l.Enter(context.Background(), "a")
	if !ok {
		t.Fatal("a waiting call did not get the slot left")
	}
	leave2()

	l.SetTenant("a", Limits{ConcurrentPerTenant: 2})
	var leaves []func()
	for range 2 {
		lv, ok := l.Enter(context.Background(), "a")
		if !ok {
			t.Fatal("the tenant's own bound of 2 was not applied")
		}
		leaves = append(leaves, lv)
	}
	short2, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if _, ok := l.Enter(short2, "a"); ok {
		t.Fatal("a third call entered a bound of 2")
	}
	for _, lv := range leaves {
		lv()
	}
}

// TestTenantRates: a tenant's own rates replace the defaults for that tenant
// only, for its bucket and for each credential calling on it.
func TestTenantRates(t *testing.T) {
	now := time.Unix(1e9, 0)
	// rates slow enough that no call waits for a token (QueueWait)
	l := New(Limits{PerCredential: 0.1, CredentialBurst: 2, PerTenant: 0.1, TenantBurst: 10}, func() time.Time { return now })
	l.SetTenant("a", Limits{CredentialBurst: 4})
	count := func(cred, tenant string) (n int) {
		for range 20 {
			if ok, _ := l.Wait(context.Background(), cred, tenant); !ok {
				return n
			}
			n++
		}
		return n
	}
	if n := count("k", "a"); n != 4 {
		t.Fatalf("credential on tenant a: %d calls, want its burst of 4", n)
	}
	if n := count("k", "b"); n != 2 {
		t.Fatalf("credential on tenant b: %d calls, want the default burst of 2", n)
	}
	if n := count("k2", "a"); n != 4 {
		t.Fatalf("second credential on a: %d calls, want 4", n)
	}
	if n := count("k3", "a"); n != 2 {
		t.Fatalf("third credential on a: %d calls, want the 2 left of the tenant's burst of 10", n)
	}
	if ok, wait := l.Wait(context.Background(), "k4", "a"); ok || wait <= 0 {
		t.Fatalf("tenant a's bucket should be empty: ok=%v wait=%v", ok, wait)
	}
}

// TestWait: a call that finds its bucket empty waits for its token when it
// comes within QueueWait, up to MaxQueued waiting calls of a credential; past
// that, or past the caller's deadline, it is refused at once with the time
// its token needs.
func TestWait(t *testing.T) {
	ctx := context.Background()
	l := New(Limits{PerCredential: 40, CredentialBurst: 1}, time.Now)
	if ok, _ := l.Wait(ctx, "k", ""); !ok {
		t.Fatal("first call refused")
	}
	if ok, wait := l.Wait(ctx, "k", ""); !ok || wait != 0 {
		t.Fatalf("a call 25 ms from its token was refused (wait %v)", wait)
	}

	// MaxQueued callers wait (40/s: the last of them 0.8 s), the next is refused.
	waiting, stop := context.WithCancel(ctx)
	results := make(chan bool, MaxQueued)
	for range MaxQueued {
		go func() { ok, _ := l.Wait(waiting, "k", ""); results <- ok }()
	}
	cred := func() *bucket {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.buckets[bucketKey{credential: "k"}]
	}()
	for cred.waiting.Load() < MaxQueued {
		time.Sleep(time.Millisecond)
	}
	if ok, wait := l.Wait(ctx, "k", ""); ok || wait <= 0 {
		t.Fatalf("call past %d waiting ones: ok=%v wait=%v, want refused with a wait", MaxQueued, ok, wait)
	}
	if ok, _ := l.Wait(ctx, "other", ""); !ok {
		t.Fatal("another credential was held back")
	}
	stop()
	for range MaxQueued {
		<-results
	}
	if n := cred.waiting.Load(); n != 0 {
		t.Fatalf("%d calls still counted waiting", n)
	}
	// A token further away than the deadline: refused at once.
	slow := New(Limits{PerCredential: 1, CredentialBurst: 1}, time.Now)
	slow.Wait(ctx, "k", "")
	short2, cancel2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel2()
	if ok, wait := slow.Wait(short2, "k", ""); ok || wait < 500*time.Millisecond {
		t.Fatalf("a call whose token is ~1 s away, with 50 ms left: ok=%v wait=%v", ok, wait)
	}
}
