package server_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/acme/identity/server/saml"
	"github.com/acme/identity/server/service"
	"github.com/acme/identity/server/store/scope"
)

// TestPruneSignInState: expired pending logins, codes, remembered assertion
// ids and refresh tokens are deleted; live ones stay, on each database.
func TestPruneSignInState(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		e := newEnv(t, db)
		tid := e.tenant(t)
		sys := scope.System(context.Background())
		now := e.clock.Now()
		for i, expire := range []time.Time{now.Add(-time.Minute), now.Add(time.Hour)} {
			id := []string{"old", "live"}[i]
			if err := e.db.PendingLogin.Create().SetID(id).SetTenantID(tid).SetClientID("c").SetRedirectURI("https://x").
				SetScope("openid").SetState("").SetNonce("").SetCodeChallenge("").SetSamlRequestID("r").
				SetCreateTime(now).SetExpireTime(expire).Exec(sys); err != nil {
				t.Fatal(err)
			}
			if err := e.db.AuthCode.Create().SetID(id).SetTenantID(tid).SetClientID("c").SetRedirectURI("https://x").
				SetScope("openid").SetNonce("").SetCodeChallenge("").SetUserID("u").SetSessionID("s").
				SetAuthTime(now).SetExpireTime(expire).Exec(sys); err != nil {
				t.Fatal(err)
			}
			if err := e.db.SeenAssertion.Create().SetTenantID(tid).SetAssertionID(id).SetExpireTime(expire).Exec(sys); err != nil {
				t.Fatal(err)
			}
			if err := e.db.RefreshToken.Create().SetID(id).SetTenantID(tid).SetSessionID("s").SetClientID("c").SetScope("openid").
				SetCreateTime(now).SetExpireTime(expire).Exec(sys); err != nil {
				t.Fatal(err)
			}
		}
		s := service.NewSignInService(e.db, nil, saml.NewSP("https://id.example.com"), nil, nil, nil, slog.New(slog.DiscardHandler), e.clock.Now)
		if err := s.Prune(context.Background()); err != nil {
			t.Fatal(err)
		}
		for name, count := range map[string]func() (int, error){
			"pending logins": func() (int, error) { return e.db.PendingLogin.Query().Count(sys) },
			"codes":          func() (int, error) { return e.db.AuthCode.Query().Count(sys) },
			"assertion ids":  func() (int, error) { return e.db.SeenAssertion.Query().Count(sys) },
			"refresh tokens": func() (int, error) { return e.db.RefreshToken.Query().Count(sys) },
		} {
			if n, err := count(); err != nil || n != 1 {
				t.Errorf("%s after pruning: %d (%v), want the live one", name, n, err)
			}
		}
	})
}
