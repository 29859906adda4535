package server_test

import (
	"context"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

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
	// Only the SCIM gateway's records are exempt: a caller's own call is
	// limited before it is refused.
	_, err := identityv1.NewAuditServiceClient(e.conn).RecordScimRequest(flooder, &identityv1.RecordScimRequestRequest{TenantId: busy,
		Scim: &identityv1.ScimRequestSummary{Method: "GET", Path: "/Users", Status: 200}})
	wantCode(t, err, codes.ResourceExhausted)
}

// TestRateLimitQueues: calls a little past a credential's burst, whose
// tokens come within a second, wait for them instead of being refused (an
// IdP pushing over several connections is slowed to its rate, not failed).
func TestRateLimitQueues(t *testing.T) {
	e := newEnv(t, databases()[0], func(c *instance.Config) {
		c.RateLimits = ratelimit.Limits{PerCredential: 20, CredentialBurst: 2}
	})
	tenantID := e.tenant(t)
	k, err := e.keys.CreateAccessKey(e.ctx, &identityv1.CreateAccessKeyRequest{Name: "k",
		RoleBindings: []*identityv1.RoleBinding{{Role: authz.RoleTenantAdmin, TenantId: tenantID}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := withCredential(context.Background(), k.GetCredential())
	// 10 at once: 2 from the burst, the others within 8/20 s.
	errs := make(chan error, 10)
	for range 10 {
		go func() {
			_, err := e.users.ListUsers(ctx, &identityv1.ListUsersRequest{TenantId: tenantID})
			errs <- err
		}()
	}
	for range 10 {
		if err := <-errs; err != nil {
			t.Fatalf("a call whose token was less than a second away: %v", err)
		}
	}
}

// TestTenantLimits: a tenant's own limits, set through UpdateTenant by a
// project-wide caller, apply to that tenant only and at once; the tenant's
// own administrators cannot change them; clearing them restores the
// defaults (here: none).
func TestTenantLimits(t *testing.T) {
	for _, db := range databases() {
		t.Run(db.name, func(t *testing.T) {
			e := newEnv(t, db)
			limited, other := e.tenant(t), e.tenant(t)
			admin := withCredential(context.Background(), e.tenantAdminKey(t, limited))
			setLimits := func(ctx context.Context, l *identityv1.TenantLimits) (*identityv1.UpdateTenantResponse, error) {
				return e.tenants.UpdateTenant(ctx, &identityv1.UpdateTenantRequest{
					Tenant:     &identityv1.Tenant{Id: limited, Limits: l},
					UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"limits"}}})
			}
			_, err := setLimits(admin, &identityv1.TenantLimits{RequestsPerSecond: 1e6})
			wantCode(t, err, codes.PermissionDenied)
			_, err = setLimits(e.ctx, &identityv1.TenantLimits{RequestsPerSecond: -1})
			wantCode(t, err, codes.InvalidArgument)

			res, err := setLimits(e.ctx, &identityv1.TenantLimits{RequestsPerSecond: 0.01, Burst: 3})
			if err != nil {
				t.Fatal(err)
			}
			if got := res.GetTenant(); got.GetDisplayName() != "t" || got.GetLimits().GetBurst() != 3 {
				t.Fatalf("update of limits alone changed or lost something: %v", got)
			}
			calls := func(tenantID string) (ok int, err error) {
				for range 5 {
					if _, err = e.users.ListUsers(admin, &identityv1.ListUsersRequest{TenantId: tenantID}); err != nil {
						return ok, err
					}
					ok++
				}
				return ok, nil
			}
			// The tenant admin's reads count against the tenant's burst of 3.
			n, err := calls(limited)
			wantCode(t, err, codes.ResourceExhausted)
			if n != 3 {
				t.Fatalf("%d calls passed a burst of 3", n)
			}
			if n, err := func() (int, error) {
				for i := range 5 {
					if _, err := e.users.ListUsers(e.ctx, &identityv1.ListUsersRequest{TenantId: other}); err != nil {
						return i, err
					}
				}
				return 5, nil
			}(); err != nil {
				t.Fatalf("another tenant was limited after %d calls: %v", n, err)
			}
			// GetTenant counts against the tenant; a project-wide list does not.
			list, err := e.tenants.ListTenants(e.ctx, &identityv1.ListTenantsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			for _, tn := range list.GetTenants() {
				if want := map[string]float64{limited: 0.01}[tn.GetId()]; tn.GetLimits().GetRequestsPerSecond() != want {
					t.Fatalf("tenant %s lists limits %v, want rate %v", tn.GetId(), tn.GetLimits(), want)
				}
			}
			if _, err := setLimits(e.ctx, nil); err != nil {
				t.Fatal(err)
			}
			if n, err := calls(limited); err != nil {
				t.Fatalf("cleared limits still applied after %d calls: %v", n, err)
			}
		})
	}
}

// TestSignInRateLimits: the public sign-in calls are limited per client and
// per tenant like credentials are: past a tenant's burst, its sign-ins answer
// RESOURCE_EXHAUSTED while another tenant's still pass validation.
func TestSignInRateLimits(t *testing.T) {
	e := newEnv(t, databases()[0], func(c *instance.Config) {
		c.RateLimits = ratelimit.Limits{PerCredential: 0.01, CredentialBurst: 4, PerTenant: 0.01, TenantBurst: 4}
	})
	busy, quiet := e.tenant(t), e.tenant(t)
	signIn := identityv1.NewSignInServiceClient(e.conn)
	finish := func(tenantID string) error {
		_, err := signIn.FinishLogin(context.Background(), &identityv1.FinishLoginRequest{TenantId: tenantID, SamlResponse: "x", RelayState: "y"})
		return err
	}
	var err error
	for i := 0; i < 10 && status.Code(err) != codes.ResourceExhausted; i++ {
		err = finish(busy)
	}
	wantCode(t, err, codes.ResourceExhausted)
	if err := finish(quiet); status.Code(err) == codes.ResourceExhausted {
		t.Fatalf("another tenant's sign-ins were limited: %v", err)
	}
	// Unauthenticated sign-in posts do not use up the tenant's API allowance.
	if _, err := e.users.ListUsers(e.ctx, &identityv1.ListUsersRequest{TenantId: busy}); err != nil {
		t.Fatalf("the busy tenant's API was limited by sign-in posts: %v", err)
	}
}
