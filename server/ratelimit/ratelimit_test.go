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
	l := New(Limits{PerCredential: 1, CredentialBurst: 2, PerTenant: 1, TenantBurst: 10}, func() time.Time { return now })
	l.SetTenant("a", Limits{CredentialBurst: 4})
	count := func(cred, tenant string) (n int) {
		for range 20 {
			if ok, _ := l.Allow(cred, tenant); !ok {
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
	if ok, wait := l.Allow("k4", "a"); ok || wait <= 0 {
		t.Fatalf("tenant a's bucket should be empty: ok=%v wait=%v", ok, wait)
	}
}
