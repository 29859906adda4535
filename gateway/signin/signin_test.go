package signin_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/crewjam/saml"
	"golang.org/x/oauth2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/acme/identity/ent"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/authn"
	"github.com/acme/identity/server/instance"
	"github.com/acme/identity/server/instance/instancetest"
)

// world is identityd serving HTTP on a real listener (its public URL is the
// issuer), with a tenant whose SAML IdP is a testIdP, users provisioned in
// it, and an OAuth client.
type world struct {
	base     string // identityd's public URL
	idp      *testIdP
	tenant   string
	client   *identityv1.OAuthClient
	secret   string
	redirect string
	admin    context.Context
	grpc     *grpc.ClientConn
	db       *ent.Client
	scim     string // the tenant's SCIM token
	second   string // a second instance on the same database
}

const (
	ada   = "ada@example.com"   // provisioned, active, in group Engineering
	grace = "grace@example.com" // provisioned, deactivated
	alan  = "alan@example.com"  // provisioned in another tenant only
)

func serve(t testing.TB, dbURL string) (*instance.Instance, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + lis.Addr().String()
	inst, err := instance.Start(context.Background(), instance.Config{DatabaseURL: dbURL, PublicURL: base,
		KeyEncryptionKey: instancetest.KeyEncryptionKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(inst.Close)
	hs := &http.Server{Handler: inst.HTTP}
	go func() { _ = hs.Serve(lis) }()
	t.Cleanup(func() { _ = hs.Close() })
	return inst, base
}

func newWorld(t testing.TB, db instancetest.Database) *world {
	t.Helper()
	dbURL := db.URL(t)
	inst, base := serve(t, dbURL)
	cred, err := authn.InitProject(context.Background(), inst.DB, "p")
	if err != nil {
		t.Fatal(err)
	}
	admin := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+cred)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	tenants := identityv1.NewTenantServiceClient(inst.Conn)
	users := identityv1.NewUserServiceClient(inst.Conn)
	newTenant := func() string {
		tn, err := tenants.CreateTenant(admin, &identityv1.CreateTenantRequest{DisplayName: "Acme"})
		must(err)
		return tn.GetTenant().GetId()
	}
	tid, other := newTenant(), newTenant()
	user := func(tenantID, name string, active bool) string {
		u, err := users.CreateUser(admin, &identityv1.CreateUserRequest{TenantId: tenantID, User: &identityv1.User{
			UserName: name, DisplayName: strings.Split(name, "@")[0], Active: &active,
			Emails: []*identityv1.Email{{Value: name, Primary: true}}}})
		must(err)
		return u.GetUser().GetId()
	}
	user(other, alan, true)

	spXML := get(t, base+"/saml/"+tid+"/metadata")
	idp := newTestIdP(t, "https://idp.example.com", []byte(spXML))
	sso := identityv1.NewSsoServiceClient(inst.Conn)
	for _, tn := range []string{tid, other} {
		_, err = sso.SetSamlConfig(admin, &identityv1.SetSamlConfigRequest{TenantId: tn,
			Metadata: &identityv1.SetSamlConfigRequest_MetadataXml{MetadataXml: idp.metadataXML(t)}})
		must(err)
	}
	// The employees and their group come from Okta over SCIM; the role the
	// group grants is given its permissions by an administrator.
	_, err = identityv1.NewRoleServiceClient(inst.Conn).CreateRole(admin, &identityv1.CreateRoleRequest{TenantId: tid,
		Role: &identityv1.Role{Name: "Engineering", Permissions: []string{"docs:read"}}})
	must(err)
	enabled, err := identityv1.NewScimServiceClient(inst.Conn).EnableScim(admin, &identityv1.EnableScimRequest{TenantId: tid})
	must(err)
	scimToken := enabled.GetToken()
	scimUser := func(name string, active bool) string {
		out := scimDo(t, base, scimToken, "POST", "/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
			"userName":%q,"name":{"givenName":%q},"emails":[{"primary":true,"value":%q,"type":"work"}],"active":%v}`,
			name, strings.Split(name, "@")[0], name, active), http.StatusCreated)
		return out["id"].(string)
	}
	adaID := scimUser(strings.ToUpper(ada), true) // the NameID matches without regard to case
	scimUser(grace, false)
	scimDo(t, base, scimToken, "POST", "/Groups", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],
		"displayName":"Engineering","members":[{"value":%q}]}`, adaID), http.StatusCreated)

	redirect := "https://app.example.com/callback"
	c, err := identityv1.NewOAuthClientServiceClient(inst.Conn).CreateOAuthClient(admin, &identityv1.CreateOAuthClientRequest{
		DisplayName: "App", RedirectUris: []string{redirect}})
	must(err)
	_, second := serve(t, dbURL)
	return &world{base: base, idp: idp, tenant: tid, client: c.GetClient(), secret: c.GetClientSecret(), redirect: redirect,
		admin: admin, grpc: inst.Conn, db: inst.DB, second: second, scim: scimToken}
}

// scimDo sends a SCIM request as Okta does and returns the decoded answer.
func scimDo(t testing.TB, base, token, method, path, body string, want int) map[string]any {
	t.Helper()
	req, err := http.NewRequest(method, base+"/scim/v2"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("SCIM %s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	out := map[string]any{}
	_ = json.Unmarshal(raw, &out)
	return out
}

func get(t testing.TB, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return string(b)
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// login is one authorization as a browser runs it, up to the IdP.
type login struct {
	cfg      oauth2.Config
	verifier string
	state    string
	nonce    string
	idpURL   string // where identityd sent the browser
}

func (w *world) oauth(ctx context.Context, t testing.TB) (*oidc.Provider, oauth2.Config) {
	t.Helper()
	p, err := oidc.NewProvider(ctx, w.base)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return p, oauth2.Config{ClientID: w.client.GetId(), ClientSecret: w.secret, Endpoint: p.Endpoint(),
		RedirectURL: w.redirect, Scopes: []string{oidc.ScopeOpenID, "email", "profile"}}
}

// start sends the browser to /oauth2/authorize and returns where it was sent.
func (w *world) start(t testing.TB, cfg oauth2.Config, extra ...oauth2.AuthCodeOption) *login {
	t.Helper()
	l := &login{cfg: cfg, verifier: oauth2.GenerateVerifier(), state: random(), nonce: random()}
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(l.verifier), oidc.Nonce(l.nonce),
		oauth2.SetAuthURLParam("tenant", w.tenant)}, extra...)
	resp, err := noRedirects.Get(cfg.AuthCodeURL(l.state, opts...))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize answered %d, want 302", resp.StatusCode)
	}
	l.idpURL = resp.Header.Get("Location")
	return l
}

// post posts a SAML response to an instance's ACS and returns the status and
// the redirect's query (or the page).
func (w *world) post(t testing.TB, base, samlResponse, relayState string) (int, url.Values, string) {
	t.Helper()
	return w.postForm(t, base, acsForm(samlResponse, relayState))
}

// acsForm is the form a browser posts to the ACS.
func acsForm(samlResponse, relayState string) string {
	return url.Values{"SAMLResponse": {samlResponse}, "RelayState": {relayState}}.Encode()
}

// postForm is post with the form already encoded.
func (w *world) postForm(t testing.TB, base, form string) (int, url.Values, string) {
	t.Helper()
	resp, err := noRedirects.Post(base+"/saml/"+w.tenant+"/acs", "application/x-www-form-urlencoded", strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusFound {
		return resp.StatusCode, nil, string(body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(loc.String(), w.redirect+"?") {
		t.Fatalf("ACS redirected to %s, not the client's redirect URI", loc)
	}
	return resp.StatusCode, loc.Query(), ""
}

func random() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestSignIn: an application using go-oidc and x/oauth2 against identityd's
// issuer signs a provisioned employee in through the tenant's SAML IdP and
// gets the employee's roles in the access token; the attacks and refusals
// the issue lists are each refused with their code, on SQLite and PostgreSQL.
func TestSignIn(t *testing.T) {
	for _, db := range instancetest.Databases() {
		t.Run(db.Name, func(t *testing.T) {
			w := newWorld(t, db)
			ctx := context.Background()
			provider, cfg := w.oauth(ctx, t)

			l := w.start(t, cfg)
			samlResp, relay := w.idp.respond(t, l.idpURL, ada, nil, nil)
			status, q, page := w.post(t, w.base, samlResp, relay)
			if status != http.StatusFound || q.Get("code") == "" || q.Get("state") != l.state {
				t.Fatalf("ACS answered %d %v %s", status, q, page)
			}
			tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(l.verifier))
			if err != nil {
				t.Fatalf("code exchange: %v", err)
			}
			rawID, _ := tok.Extra("id_token").(string)
			verifier := provider.Verifier(&oidc.Config{ClientID: cfg.ClientID})
			idToken, err := verifier.Verify(ctx, rawID)
			if err != nil {
				t.Fatalf("id token: %v", err)
			}
			var idc struct {
				Nonce, Email, Name, Tid string
			}
			if err := idToken.Claims(&idc); err != nil || idc.Nonce != l.nonce || idc.Email != strings.ToUpper(ada) || idc.Tid != w.tenant {
				t.Fatalf("id token claims %+v (%v)", idc, err)
			}
			access, err := verifier.Verify(ctx, tok.AccessToken)
			if err != nil {
				t.Fatalf("access token does not verify against the JWKS: %v", err)
			}
			var ac struct {
				Sid     string
				Tenants map[string]struct{ Roles, Permissions []string }
				Rev     int64
			}
			if err := access.Claims(&ac); err != nil {
				t.Fatal(err)
			}
			if g := ac.Tenants[w.tenant]; !slices.Equal(g.Roles, []string{"Engineering"}) || !slices.Equal(g.Permissions, []string{"docs:read"}) || ac.Sid == "" || ac.Rev == 0 {
				t.Fatalf("access token claims %+v", ac)
			}
			info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
			if err != nil || info.Email != strings.ToUpper(ada) || info.Subject != idToken.Subject {
				t.Fatalf("userinfo %+v: %v", info, err)
			}
			// An ID token is no access token (typ JWT, not at+jwt).
			if _, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: rawID})); err == nil {
				t.Fatal("userinfo accepted an ID token as an access token")
			}
			if _, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(l.verifier)); !oauthErr(err, "invalid_grant") {
				t.Fatalf("a code used twice: %v", err)
			}
			// The same response again, to this instance and to a second one.
			for _, base := range []string{w.base, w.second} {
				if status, q, _ := w.post(t, base, samlResp, relay); status != http.StatusBadRequest {
					t.Fatalf("replayed response to %s answered %d %v", base, status, q)
				}
			}

			t.Run("answers to one sign-in posted at once", func(t *testing.T) {
				// The authorization request is used in the write that
				// issues the code: of concurrent posts answering it, each
				// a response of its own (so no assertion is replayed),
				// exactly one signs in; the others find it used.
				l := w.start(t, cfg)
				var responses [4]string
				var relay string
				for i := range responses {
					responses[i], relay = w.idp.respond(t, l.idpURL, ada, nil, nil)
				}
				codes := make(chan string, 4)
				for _, samlResp := range responses {
					go func() {
						_, q, _ := w.post(t, w.base, samlResp, relay)
						codes <- q.Get("code")
					}()
				}
				won := 0
				for range 4 {
					if <-codes != "" {
						won++
					}
				}
				if won != 1 {
					t.Fatalf("%d of 4 concurrent posts of one sign-in got a code", won)
				}
			})

			t.Run("refresh and deactivation", func(t *testing.T) {
				// A fresh session: the code reused above ended the first.
				l := w.start(t, cfg)
				samlResp, relay := w.idp.respond(t, l.idpURL, ada, nil, nil)
				_, q, _ := w.post(t, w.base, samlResp, relay)
				tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(l.verifier))
				if err != nil {
					t.Fatal(err)
				}
				if tok.RefreshToken == "" {
					t.Fatal("no refresh token")
				}
				refresh := func(rt string) (*oauth2.Token, error) {
					return cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
				}
				next, err := refresh(tok.RefreshToken)
				if err != nil || next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken {
					t.Fatalf("refresh: %v (rotated: %v)", err, next != nil && next.RefreshToken != tok.RefreshToken)
				}
				// The first refresh token again: reuse ends the session,
				// so its successor fails too.
				if _, err := refresh(tok.RefreshToken); !oauthErr(err, "invalid_grant") {
					t.Fatalf("a reused refresh token: %v", err)
				}
				if _, err := refresh(next.RefreshToken); !oauthErr(err, "invalid_grant") {
					t.Fatalf("the successor of a reused refresh token: %v", err)
				}
				if _, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(next)); err == nil {
					t.Fatal("userinfo answered for an ended session")
				}

				// A new session; a policy engine watches the tenant; SCIM (or
				// the API) deactivates the user.
				l = w.start(t, cfg)
				samlResp, relay = w.idp.respond(t, l.idpURL, ada, nil, nil)
				_, q, _ = w.post(t, w.base, samlResp, relay)
				tok2, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(l.verifier))
				if err != nil {
					t.Fatal(err)
				}
				access2, err := verifier.Verify(ctx, tok2.AccessToken)
				if err != nil {
					t.Fatal(err)
				}
				var sid struct{ Sid string }
				_ = access2.Claims(&sid)
				watchCtx, cancel := context.WithCancel(w.admin)
				defer cancel()
				watch, err := identityv1.NewAuthzServiceClient(w.grpc).WatchRoleChanges(watchCtx, &identityv1.WatchRoleChangesRequest{TenantId: w.tenant, FromRevision: ac.Rev})
				if err != nil {
					t.Fatal(err)
				}
				// Okta deactivates the employee: PATCH active=false over SCIM.
				setActive := func(active bool) {
					scimDo(t, w.base, w.scim, "PATCH", "/Users/"+idToken.Subject, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
						"Operations":[{"op":"replace","value":{"active":%v}}]}`, active), http.StatusOK)
				}
				setActive(false)
				for seen := false; !seen; {
					msg, err := watch.Recv()
					if err != nil {
						t.Fatalf("watch: %v", err)
					}
					for _, r := range msg.GetRevokedSessions() {
						seen = seen || (r.GetSessionId() == sid.Sid && r.GetUserId() == idToken.Subject)
					}
				}
				if _, err := refresh(tok2.RefreshToken); !oauthErr(err, "invalid_grant") {
					t.Fatalf("refresh after deactivation: %v", err)
				}
				list, err := identityv1.NewSessionServiceClient(w.grpc).ListSessions(w.admin, &identityv1.ListSessionsRequest{TenantId: w.tenant, UserId: idToken.Subject})
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range list.GetSessions() {
					if s.GetRevokeTime() == nil {
						t.Fatalf("session %s of a deactivated user is open", s.GetId())
					}
				}
				setActive(true)
			})

			t.Run("revocation", func(t *testing.T) {
				l := w.start(t, cfg)
				samlResp, relay := w.idp.respond(t, l.idpURL, ada, nil, nil)
				_, q, _ := w.post(t, w.base, samlResp, relay)
				tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(l.verifier))
				if err != nil {
					t.Fatal(err)
				}
				revoke := func(secret, token string) int {
					req, _ := http.NewRequest("POST", w.base+"/oauth2/revoke", strings.NewReader(url.Values{"token": {token}}.Encode()))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.SetBasicAuth(url.QueryEscape(cfg.ClientID), url.QueryEscape(secret))
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					return resp.StatusCode
				}
				if c := revoke("wrong", tok.RefreshToken); c != http.StatusUnauthorized {
					t.Fatalf("revocation with a wrong secret answered %d", c)
				}
				if c := revoke(cfg.ClientSecret, "not-a-token"); c != http.StatusOK {
					t.Fatalf("revocation of an unknown token answered %d, want 200 (RFC 7009 2.2)", c)
				}
				if c := revoke(cfg.ClientSecret, tok.RefreshToken); c != http.StatusOK {
					t.Fatalf("revocation answered %d", c)
				}
				if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); !oauthErr(err, "invalid_grant") {
					t.Fatalf("refresh after revocation: %v", err)
				}
			})

			t.Run("tenant sign-in settings", func(t *testing.T) {
				sso := identityv1.NewSsoServiceClient(w.grpc)
				set := func(req *identityv1.SetSamlConfigRequest) error {
					req.TenantId = w.tenant
					req.Metadata = &identityv1.SetSamlConfigRequest_MetadataXml{MetadataXml: w.idp.metadataXML(t)}
					_, err := sso.SetSamlConfig(w.admin, req)
					return err
				}
				// Off (the default): an unsolicited response is refused with a page.
				if code, q, _ := w.post(t, w.base, w.idp.unsolicited(t, ada, ""), ""); code != http.StatusBadRequest {
					t.Fatalf("IdP-initiated while off answered %d %v", code, q)
				}
				if err := set(&identityv1.SetSamlConfigRequest{IdpInitiated: true, IdpInitiatedClientId: cfg.ClientID,
					IdpInitiatedRedirectUri: "https://evil.example.com/cb"}); grpcstatus.Code(err) != codes.InvalidArgument {
					t.Fatalf("IdP-initiated to an unregistered redirect URI: %v", err)
				}
				if err := set(&identityv1.SetSamlConfigRequest{IdpInitiated: true, IdpInitiatedClientId: cfg.ClientID,
					IdpInitiatedRedirectUri: w.redirect, Domains: []string{"Example.com"},
					AccessTokenTtl: durationpb.New(90 * time.Second)}); err != nil {
					t.Fatal(err)
				}
				code, q, page := w.post(t, w.base, w.idp.unsolicited(t, ada, "okta-default"), "okta-default")
				if code != http.StatusFound || q.Get("code") == "" || q.Get("state") != "" {
					t.Fatalf("IdP-initiated answered %d %v %s", code, q, page)
				}
				tok, err := cfg.Exchange(ctx, q.Get("code"))
				if err != nil {
					t.Fatalf("exchange of an IdP-initiated code: %v", err)
				}
				if d := time.Until(tok.Expiry); d > 95*time.Second || d < 30*time.Second {
					t.Fatalf("the tenant's access token lifetime of 90 s gave expiry in %v", d)
				}
				// A solicited response posted without its RelayState is not
				// mistaken for an IdP-initiated one.
				l := w.start(t, cfg)
				samlResp, _ := w.idp.respond(t, l.idpURL, ada, nil, nil)
				if code, q, _ := w.post(t, w.base, samlResp, ""); q.Get("error_description") != "wrong_in_response_to" {
					t.Fatalf("a solicited response as IdP-initiated answered %d %v", code, q)
				}
				// login_hint of a listed domain routes to the tenant.
				hinted := w.start(t, cfg, oauth2.SetAuthURLParam("tenant", ""), oauth2.SetAuthURLParam("login_hint", "someone@EXAMPLE.com"))
				if !strings.HasPrefix(hinted.idpURL, "https://idp.example.com/sso") {
					t.Fatalf("login_hint did not route to the tenant's IdP: %s", hinted.idpURL)
				}
				if err := set(&identityv1.SetSamlConfigRequest{}); err != nil {
					t.Fatal(err)
				}
			})

			t.Run("refused logins", func(t *testing.T) {
				for _, tc := range []struct {
					name   string
					idp    *testIdP
					nameID string
					before func(*saml.Assertion)
					after  func(*etree.Element)
					want   string
				}{
					{name: "unsigned", after: unsign, want: "invalid_signature"},
					{name: "signed by another key", idp: w.idp.withKey(t), want: "invalid_signature"},
					{name: "signature wrapping", after: wrap(grace), want: "multiple_assertions"},
					{name: "wrong audience", before: func(a *saml.Assertion) {
						a.Conditions.AudienceRestrictions[0].Audience.Value = "https://evil.example.com"
					}, want: "wrong_audience"},
					{name: "no audience restriction", before: func(a *saml.Assertion) {
						a.Conditions.AudienceRestrictions = nil
					}, want: "wrong_audience"},
					{name: "no subject confirmation", before: func(a *saml.Assertion) {
						a.Subject.SubjectConfirmations = nil
					}, want: "wrong_recipient"},
					{name: "wrong recipient", before: func(a *saml.Assertion) {
						a.Subject.SubjectConfirmations[0].SubjectConfirmationData.Recipient = "https://evil.example.com/acs"
					}, want: "wrong_recipient"},
					{name: "expired", before: func(a *saml.Assertion) {
						a.Conditions.NotOnOrAfter = a.Conditions.NotOnOrAfter.Add(-30 * 60e9)
						a.Conditions.NotBefore = a.Conditions.NotBefore.Add(-30 * 60e9)
					}, want: "assertion_expired"},
					{name: "not yet valid", before: func(a *saml.Assertion) {
						a.Conditions.NotBefore = a.Conditions.NotBefore.Add(30 * 60e9)
						a.Conditions.NotOnOrAfter = a.Conditions.NotOnOrAfter.Add(60 * 60e9)
					}, want: "assertion_not_yet_valid"},
					{name: "in response to another request", before: func(a *saml.Assertion) {
						a.Subject.SubjectConfirmations[0].SubjectConfirmationData.InResponseTo = "id-another-request"
					}, want: "wrong_in_response_to"},
					{name: "unknown user", nameID: "nobody@example.com", want: "user_not_provisioned"},
					{name: "deactivated user", nameID: grace, want: "user_inactive"},
					{name: "user of another tenant", nameID: alan, want: "user_not_provisioned"},
				} {
					t.Run(tc.name, func(t *testing.T) {
						idp := w.idp
						if tc.idp != nil {
							idp = tc.idp
						}
						nameID := ada
						if tc.nameID != "" {
							nameID = tc.nameID
						}
						l := w.start(t, cfg)
						samlResp, relay := idp.respond(t, l.idpURL, nameID, tc.before, tc.after)
						status, q, page := w.post(t, w.base, samlResp, relay)
						if status != http.StatusFound || q.Get("error") != "access_denied" || q.Get("error_description") != tc.want ||
							q.Get("state") != l.state || q.Get("code") != "" {
							t.Fatalf("answered %d %v %s, want access_denied %s", status, q, page, tc.want)
						}
						// The refusal is on the audit trail, with its code, as a
						// sign-in request.
						trail, err := identityv1.NewAuditServiceClient(w.grpc).ListAuditEvents(w.admin, &identityv1.ListAuditEventsRequest{
							Filter: &identityv1.AuditFilter{TenantId: w.tenant, Kind: identityv1.AuditEventKind_AUDIT_EVENT_KIND_WRITE}, PageSize: 1})
						if err != nil || len(trail.GetEvents()) != 1 {
							t.Fatalf("audit trail: %v, %v", trail, err)
						}
						ev := trail.GetEvents()[0]
						if c := ev.GetChanges(); len(c) != 1 || c[0].GetKind() != "login" || c[0].GetOperation() != "fail" || c[0].GetDetail() != tc.want ||
							ev.GetSource() != identityv1.AuditSource_AUDIT_SOURCE_SIGN_IN || ev.GetActor().GetKind() != identityv1.AuditActor_KIND_ANONYMOUS || ev.GetRequestId() == "" {
							t.Fatalf("the refusal's audit event: %v", ev)
						}
					})
				}
			})

			t.Run("refused requests", func(t *testing.T) {
				bad := cfg
				bad.RedirectURL = "https://evil.example.com/callback"
				resp, err := noRedirects.Get(bad.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()),
					oauth2.SetAuthURLParam("tenant", w.tenant)))
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(string(body), "invalid_redirect_uri") {
					t.Fatalf("unregistered redirect_uri answered %d %q", resp.StatusCode, body)
				}

				l := w.start(t, cfg)
				samlResp, relay := w.idp.respond(t, l.idpURL, ada, nil, nil)
				_, q, _ := w.post(t, w.base, samlResp, relay)
				if _, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier())); !oauthErr(err, "invalid_grant") {
					t.Fatalf("wrong code_verifier: %v", err)
				}
				wrongSecret := cfg
				wrongSecret.ClientSecret = "not-the-secret"
				if _, err := wrongSecret.Exchange(ctx, "x"); !oauthErr(err, "invalid_client") {
					t.Fatalf("wrong client secret: %v", err)
				}
			})
		})
	}
}

// oauthErr says whether err is an OAuth error response with code.
func oauthErr(err error, code string) bool {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return false
	}
	var body struct{ Error string }
	_ = json.Unmarshal(re.Body, &body)
	return body.Error == code
}
