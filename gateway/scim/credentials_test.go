package scim_test

import (
	"testing"

	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/instance/instancetest"
)

// TestWithdrawnCredentialRefusedAtOnce: the gateway reuses the tenant a
// credential resolved to for a moment, but a credential withdrawn meanwhile is
// refused from its next request on, and stays refused.
func TestWithdrawnCredentialRefusedAtOnce(t *testing.T) {
	e := newEnv(t)
	ctx := instancetest.Context(e.srv.Credential)
	for _, bearer := range []string{e.token, e.admin} {
		call(t, e, bearer, "GET", "/Users", "").want(t, 200)
	}
	if _, err := identityv1.NewScimServiceClient(e.srv.Conn).DisableScim(ctx, &identityv1.DisableScimRequest{TenantId: e.tenant}); err != nil {
		t.Fatal(err)
	}
	keys, err := identityv1.NewAccessKeyServiceClient(e.srv.Conn).ListAccessKeys(ctx, &identityv1.ListAccessKeysRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys.GetAccessKeys() {
		if k.GetName() == "okta" {
			if _, err := identityv1.NewAccessKeyServiceClient(e.srv.Conn).RevokeAccessKey(ctx, &identityv1.RevokeAccessKeyRequest{AccessKeyId: k.GetId()}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, bearer := range []string{e.token, e.admin} {
		for range 2 {
			call(t, e, bearer, "GET", "/Users", "").want(t, 401)
			call(t, e, bearer, "POST", "/Users", body(t, "okta/create_user.json")).want(t, 401)
		}
	}
}
