package signin_test

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/crewjam/saml"
	"golang.org/x/oauth2"

	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/instance/instancetest"
)

// TestBrowserSignIn drives a real headless Chromium from an application's
// "sign in" link through /oauth2/authorize, the IdP's login form (the test
// IdP served over HTTP), the auto-posted SAML response to the ACS, and back
// to the application's redirect URI, where the application exchanges the
// code with go-oidc and shows who signed in with which roles. CI installs
// Debian's chromium; elsewhere the test is skipped without it.
func TestBrowserSignIn(t *testing.T) {
	chrome, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed: .ci/run installs it")
		}
		t.Skip("no chromium")
	}
	w := newWorld(t, instancetest.Databases()[0])
	ctx := context.Background()

	// The IdP over HTTP: /sso shows a login form (a GET back to /sso with the
	// same SAMLRequest and RelayState and a username) and then answers with
	// crewjam's auto-posting form.
	idpLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	idpBase := "http://" + idpLis.Addr().String()
	sso, _ := url.Parse(idpBase + "/sso")
	w.idp.idp.SSOURL = *sso
	w.idp.idp.SessionProvider = formSessions{}
	w.idp.idp.Logger = log.New(io.Discard, "", 0)
	idpMux := http.NewServeMux()
	idpMux.HandleFunc("/sso", w.idp.idp.ServeSSO)
	idpServer := &http.Server{Handler: idpMux}
	go func() { _ = idpServer.Serve(idpLis) }()
	t.Cleanup(func() { _ = idpServer.Close() })
	if _, err := identityv1.NewSsoServiceClient(w.grpc).SetSamlConfig(w.admin, &identityv1.SetSamlConfigRequest{TenantId: w.tenant,
		Metadata: &identityv1.SetSamlConfigRequest_MetadataXml{MetadataXml: w.idp.metadataXML(t)}}); err != nil {
		t.Fatal(err)
	}

	// The application, on a loopback redirect URI.
	appLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	appBase := "http://" + appLis.Addr().String()
	c, err := identityv1.NewOAuthClientServiceClient(w.grpc).CreateOAuthClient(w.admin, &identityv1.CreateOAuthClientRequest{
		DisplayName: "Browser app", RedirectUris: []string{appBase + "/callback"}})
	if err != nil {
		t.Fatal(err)
	}
	provider, err := oidc.NewProvider(ctx, w.base)
	if err != nil {
		t.Fatal(err)
	}
	cfg := oauth2.Config{ClientID: c.GetClient().GetId(), ClientSecret: c.GetClientSecret(), Endpoint: provider.Endpoint(),
		RedirectURL: appBase + "/callback", Scopes: []string{oidc.ScopeOpenID, "email"}}
	state, verifier, nonce := random(), oauth2.GenerateVerifier(), random()
	app := http.NewServeMux()
	app.HandleFunc("/login", func(rw http.ResponseWriter, r *http.Request) {
		http.Redirect(rw, r, cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce),
			oauth2.SetAuthURLParam("tenant", w.tenant)), http.StatusFound)
	})
	app.HandleFunc("/callback", func(rw http.ResponseWriter, r *http.Request) {
		result := func() string {
			if r.URL.Query().Get("state") != state {
				return "wrong state: " + r.URL.RawQuery
			}
			tok, err := cfg.Exchange(r.Context(), r.URL.Query().Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				return "exchange: " + err.Error()
			}
			v := provider.Verifier(&oidc.Config{ClientID: cfg.ClientID})
			id, err := v.Verify(r.Context(), tok.Extra("id_token").(string))
			if err != nil {
				return "id token: " + err.Error()
			}
			access, err := v.Verify(r.Context(), tok.AccessToken)
			if err != nil {
				return "access token: " + err.Error()
			}
			var idc struct{ Email, Nonce string }
			var ac struct {
				Tenants map[string]struct{ Roles []string }
			}
			if id.Claims(&idc) != nil || access.Claims(&ac) != nil || idc.Nonce != nonce {
				return "claims"
			}
			return fmt.Sprintf("signed in as %s with roles %s", strings.ToLower(idc.Email), strings.Join(ac.Tenants[w.tenant].Roles, ","))
		}()
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(rw, `<html><body><p id="result">%s</p></body></html>`, template.HTMLEscapeString(result))
	})
	appServer := &http.Server{Handler: app}
	go func() { _ = appServer.Serve(appLis) }()
	t.Cleanup(func() { _ = appServer.Close() })

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.Headless)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	bctx, cancelTimeout := context.WithTimeout(bctx, 60*time.Second)
	defer cancelTimeout()
	var result string
	if err := chromedp.Run(bctx,
		chromedp.Navigate(appBase+"/login"),
		chromedp.WaitVisible(`input[name=username]`, chromedp.ByQuery),
		chromedp.SendKeys(`input[name=username]`, ada, chromedp.ByQuery),
		chromedp.Click(`button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#result`, chromedp.ByQuery),
		chromedp.Text(`#result`, &result, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("browser: %v", err)
	}
	if want := "signed in as " + ada + " with roles Engineering"; result != want {
		t.Fatalf("the application shows %q, want %q", result, want)
	}
}

// formSessions is the test IdP's login: without a username it shows a form
// that sends the same request back with one.
type formSessions struct{}

var loginForm = template.Must(template.New("login").Parse(`<!doctype html>
<html><body><form method="get" action="/sso">
{{range $k, $v := .}}<input type="hidden" name="{{$k}}" value="{{index $v 0}}">{{end}}
<label>Username <input name="username"></label>
<button type="submit">Sign in</button>
</form></body></html>`))

func (formSessions) GetSession(rw http.ResponseWriter, r *http.Request, _ *saml.IdpAuthnRequest) *saml.Session {
	user := r.URL.Query().Get("username")
	if user == "" {
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = loginForm.Execute(rw, r.URL.Query())
		return nil
	}
	now := time.Now()
	return &saml.Session{ID: random(), CreateTime: now, ExpireTime: now.Add(time.Hour), Index: "1",
		NameID: user, NameIDFormat: string(saml.EmailAddressNameIDFormat), UserEmail: user}
}
