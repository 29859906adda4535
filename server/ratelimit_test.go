package server_test

import (
	"context"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/authz"
	"github.com/acme/identity/server/instance"
	"github.com/acme/identity/server/ratelimit"
)

// TestRateLimits: a credential past its burst is answered
// RESOURCE_EXHAUSTED with the wait in RetryInfo, changing nothing; another
// tenant's credential is not affected, and neither are callers of a tenant
// whose own bucket still holds tokens.
func TestRateLimits(t *testing.T) {
	e := newEnv(t, databases()[0], func(c *instance.Config) {
		// Slow refill, so the test's own pace does not matter.
		c.RateLimits = ratelimit.Limits{PerCredential: 0.01, CredentialBurst: 5, PerTenant: 0.01, TenantBurst: 8}
	})
	// The root key is limited like any other: create what the test needs
	// within its burst.
	busy, quiet := e.tenant(t), e.tenant(t)
	key := func(tenantID string) context.Context {
		k, err := e.keys.CreateAccessKey(e.ctx, &identityv1.CreateAccessKeyRequest{Name: "k",
			RoleBindings: []*identityv1.RoleBinding{{Role: authz.RoleTenantAdmin, TenantId: tenantID}}})
		if err != nil {
			t.Fatal(err)
		}
		return withCredential(context.Background(), k.GetCredential())
	}
	flooder, other := key(busy), key(quiet)

	var limited error
	for i := 0; i < 10 && limited == nil; i++ {
		_, limited = e.users.ListUsers(flooder, &identityv1.ListUsersRequest{TenantId: busy})
	}
	wantCode(t, limited, codes.ResourceExhausted)
	var retry *errdetails.RetryInfo
	for _, d := range status.Convert(limited).Details() {
		retry, _ = d.(*errdetails.RetryInfo)
	}
	if retry == nil || retry.GetRetryDelay().AsDuration() <= 0 {
		t.Fatalf("no retry delay: %v", status.Convert(limited).Details())
	}
	if _, err := e.users.ListUsers(other, &identityv1.ListUsersRequest{TenantId: quiet}); err != nil {
		t.Fatalf("another tenant's credential was limited: %v", err)
	}
}
