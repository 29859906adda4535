package signing_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/instance/instancetest"
	"github.com/acme/identity/server/signing"
	"github.com/acme/identity/server/store"
	"github.com/acme/identity/server/store/scope"
)

type noFollower struct{}

func (noFollower) Committing(string, int64)                                 {}
func (noFollower) Abandoned(string)                                         {}
func (noFollower) Committed(context.Context, string, string) (int64, error) { return 0, nil }
func (noFollower) Current(context.Context, string) (int64, error)           { return 0, nil }
func (noFollower) Applied(context.Context, string, string, int64, []changelog.Event) bool {
	return false
}
func (noFollower) Detach(string, string, string) func() { return func() {} }

// TestKeyLifecycle follows a project's keys through their lifecycle on each
// database: the first signature creates a key; near the end of its period a
// successor is published an hour before it signs; the old key stays published
// for two hours after it retires, then leaves the JWKS; an immediate rotation
// signs at once and withdraws the old key; another key-encryption key is refused at start; the JWKS
// holds public keys only, and each token verifies against it.
func TestKeyLifecycle(t *testing.T) {
	for _, d := range instancetest.Databases() {
		t.Run(d.Name, func(t *testing.T) {
			db, projectID := d.OpenProject(context.Background(), t)
			ctx := scope.WithProject(context.Background(), projectID)
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			clock := func() time.Time { return now }
			w := store.NewWriter(db, slog.New(slog.DiscardHandler), clock, noFollower{}, false, store.WriteLock(""))
			kr, err := signing.New(db, w, instancetest.KeyEncryptionKey, clock)
			if err != nil {
				t.Fatal(err)
			}

			// sign signs a token after the keyring's cache has lapsed and
			// returns the kid it was signed with, checking the signature
			// against the published JWKS.
			var lastToken string
			// verifies says whether a token verifies against the JWKS now.
			verifies := func(tok string) bool {
				jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{signing.Algorithm})
				if err != nil {
					t.Fatal(err)
				}
				keys := jwks(t, kr).Key(jws.Signatures[0].Header.KeyID)
				if len(keys) != 1 {
					return false
				}
				_, err = jws.Verify(keys[0])
				return err == nil
			}
			sign := func() string {
				t.Helper()
				now = now.Add(time.Minute)
				tok, err := kr.Sign(ctx, "JWT", []byte(`{"sub":"x"}`))
				if err != nil {
					t.Fatal(err)
				}
				lastToken = tok
				jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{signing.Algorithm})
				if err != nil {
					t.Fatal(err)
				}
				kid := jws.Signatures[0].Header.KeyID
				set := jwks(t, kr)
				keys := set.Key(kid)
				if len(keys) != 1 || !keys[0].IsPublic() {
					t.Fatalf("kid %s: %d published keys (public: %v)", kid, len(keys), len(keys) == 1 && keys[0].IsPublic())
				}
				if _, err := jws.Verify(keys[0]); err != nil {
					t.Fatalf("token does not verify against the JWKS: %v", err)
				}
				return kid
			}
			first := sign()
			if again := sign(); again != first {
				t.Fatalf("a second key (%s) signs before the first (%s) is due", again, first)
			}
			if n := len(jwks(t, kr).Keys); n != 1 {
				t.Fatalf("%d keys published, want 1", n)
			}

			now = now.Add(signing.RotationPeriod - signing.PublishLead)
			if kid := sign(); kid != first {
				t.Fatal("the successor signed without being published first")
			}
			oldToken := lastToken // signed by the first key just before it retires
			if n := len(jwks(t, kr).Keys); n != 2 {
				t.Fatalf("%d keys published near the end of the period, want 2 (the successor scheduled)", n)
			}
			now = now.Add(signing.PublishLead)
			second := sign()
			if second == first {
				t.Fatal("the successor did not take over at the end of the period")
			}
			if len(jwks(t, kr).Key(first)) != 1 || !verifies(oldToken) {
				t.Fatal("a token of the retired key stopped verifying while it can be valid")
			}
			now = now.Add(signing.KeepAfterRetire)
			if len(jwks(t, kr).Key(first)) != 0 || verifies(oldToken) {
				t.Fatal("the retired key is still published after its tokens expired")
			}

			k, _, err := kr.Rotate(ctx, true)
			if err != nil {
				t.Fatal(err)
			}
			if kid := sign(); kid != k.ID {
				t.Fatalf("an immediate rotation did not sign at once: %s, want %s", kid, k.ID)
			}
			if len(jwks(t, kr).Key(second)) != 0 {
				t.Fatal("a key withdrawn by an immediate rotation (a compromise) is still published")
			}

			other, err := signing.New(db, w, bytes.Repeat([]byte{1}, signing.KeySize), clock)
			if err != nil {
				t.Fatal(err)
			}
			if err := other.Verify(context.Background()); !errors.Is(err, signing.ErrWrongKey) {
				t.Fatalf("another key-encryption key: %v, want ErrWrongKey", err)
			}
			stored, err := db.SigningKey.Query().All(scope.System(context.Background()))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range stored {
				if bytes.Contains(s.PrivateKey, s.PublicKey[len(s.PublicKey)-32:]) {
					t.Fatal("a private key is stored in the clear")
				}
			}
		})
	}
}

func jwks(t *testing.T, kr *signing.Keyring) *jose.JSONWebKeySet {
	t.Helper()
	keys, err := kr.Published(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	set := &jose.JSONWebKeySet{}
	for _, k := range keys {
		jwk, err := signing.PublicJWK(k)
		if err != nil {
			t.Fatal(err)
		}
		set.Keys = append(set.Keys, jwk)
	}
	return set
}
