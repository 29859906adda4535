package signin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/acme/identity/server/instance/instancetest"
)

// BenchmarkSignIn measures, through the real HTTP server on SQLite: the ACS
// (verification, user lookup, session and code: "acs") against crewjam/saml's
// bare ParseResponse of the same kind of response, posted the same way
// ("crewjam-parse", the baseline: the form parsed, then ParseResponse), the token endpoint's code exchange and refresh, and verifying an
// access token offline with go-jose against the published JWKS. The README
// gives the ratios of one run.
func BenchmarkSignIn(b *testing.B) {
	w := newWorld(b, instancetest.Databases()[0])
	ctx := context.Background()
	provider, cfg := w.oauth(ctx, b)
	// login runs one authorization up to the ACS's answer.
	login := func() (code, verifier string) {
		l := w.start(b, cfg)
		samlResp, relay := w.idp.respond(b, l.idpURL, ada, nil, nil)
		_, q, page := w.post(b, w.base, samlResp, relay)
		if q.Get("code") == "" {
			b.Fatalf("no code: %v %s", q, page)
		}
		return q.Get("code"), l.verifier
	}

	// The responses and their forms are made before the timer runs: the
	// test IdP's signing and the browser's encoding are not the ACS's cost.
	b.Run("acs", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			l := w.start(b, cfg)
			form := acsForm(w.idp.respond(b, l.idpURL, ada, nil, nil))
			b.StartTimer()
			if _, q, page := w.postForm(b, w.base, form); q.Get("code") == "" {
				b.Fatalf("no code: %v %s", q, page)
			}
		}
	})

	b.Run("crewjam-parse", func(b *testing.B) {
		sp, form, requestID := crewjamParse(b, w, cfg)
		b.ResetTimer()
		for range b.N {
			if err := parseResponse(sp, form, requestID); err != nil {
				b.Fatal(err)
			}
		}
	})

	// The same two at concurrency: logins per second when the machine is
	// busy with them, the wait of one (its write, the change-log follower)
	// overlapping others' work.
	b.Run("acs-parallel", func(b *testing.B) {
		forms := make([]string, b.N)
		for i := range forms {
			l := w.start(b, cfg)
			forms[i] = acsForm(w.idp.respond(b, l.idpURL, ada, nil, nil))
		}
		var next atomic.Int64
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, q, page := w.postForm(b, w.base, forms[next.Add(1)-1]); q.Get("code") == "" {
					b.Errorf("no code: %v %s", q, page)
					return
				}
			}
		})
	})

	b.Run("crewjam-parse-parallel", func(b *testing.B) {
		sp, form, requestID := crewjamParse(b, w, cfg)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := parseResponse(sp, form, requestID); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})

	b.Run("exchange", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			code, verifier := login()
			b.StartTimer()
			if _, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err != nil {
				b.Fatal(err)
			}
		}
	})

	fresh := func() *oauth2.Token {
		code, verifier := login()
		tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		if err != nil {
			b.Fatal(err)
		}
		return tok
	}
	tok := fresh()
	b.Run("refresh", func(b *testing.B) {
		// Each run of the sub-benchmark starts a session: a refresh token is
		// good once.
		rt := fresh().RefreshToken
		b.ResetTimer()
		for range b.N {
			next, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
			if err != nil {
				b.Fatal(err)
			}
			rt = next.RefreshToken
		}
	})

	b.Run("verify-offline", func(b *testing.B) {
		var set jose.JSONWebKeySet
		if err := provider.Claims(&struct{}{}); err != nil {
			b.Fatal(err)
		}
		resp, err := http.Get(w.base + "/.well-known/jwks.json")
		if err != nil {
			b.Fatal(err)
		}
		if err := jsonDecode(resp, &set); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			parsed, err := jwt.ParseSigned(tok.AccessToken, []jose.SignatureAlgorithm{jose.ES256})
			if err != nil {
				b.Fatal(err)
			}
			keys := set.Key(parsed.Headers[0].KeyID)
			var claims jwt.Claims
			if len(keys) != 1 || parsed.Claims(keys[0], &claims) != nil {
				b.Fatal("the access token does not verify")
			}
		}
	})
}

// crewjamParse sets up the baseline: crewjam/saml's own service provider for
// the world's tenant, and a response of the same kind as the ACS gets (the
// form a browser posts, and the request it answers).
func crewjamParse(b *testing.B, w *world, cfg oauth2.Config) (*saml.ServiceProvider, string, string) {
	l := w.start(b, cfg)
	form := acsForm(w.idp.respond(b, l.idpURL, ada, nil, nil))
	idp, err := samlsp.ParseMetadata([]byte(w.idp.metadataXML(b)))
	if err != nil {
		b.Fatal(err)
	}
	acs, _ := url.Parse(w.base + "/saml/" + w.tenant + "/acs")
	md, _ := url.Parse(w.base + "/saml/" + w.tenant + "/metadata")
	sp := &saml.ServiceProvider{EntityID: md.String(), AcsURL: *acs, MetadataURL: *md, IDPMetadata: idp}
	requestID := ""
	if r, err := saml.NewIdpAuthnRequest(w.idp.idp, mustRequest(b, l.idpURL)); err == nil && r.Validate() == nil {
		requestID = r.Request.ID
	}
	return sp, form, requestID
}

// parseResponse is what an application using crewjam/saml runs on a posted
// response: the form parsed, then ParseResponse (base64, XML, signature and
// conditions).
func parseResponse(sp *saml.ServiceProvider, form, requestID string) error {
	r := httptest.NewRequest("POST", sp.AcsURL.String(), strings.NewReader(form))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := r.ParseForm(); err != nil {
		return err
	}
	_, err := sp.ParseResponse(r, []string{requestID})
	return err
}

func mustRequest(b testing.TB, u string) *http.Request {
	r, err := http.NewRequest("GET", u, nil)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

func jsonDecode(resp *http.Response, v any) error {
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}
