package signin_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
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
// bare ParseXMLResponse of the same kind of response ("crewjam-parse", the
// baseline), the token endpoint's code exchange and refresh, and verifying an
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

	b.Run("acs", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			l := w.start(b, cfg)
			samlResp, relay := w.idp.respond(b, l.idpURL, ada, nil, nil)
			b.StartTimer()
			if _, q, page := w.post(b, w.base, samlResp, relay); q.Get("code") == "" {
				b.Fatalf("no code: %v %s", q, page)
			}
		}
	})

	b.Run("crewjam-parse", func(b *testing.B) {
		sp, raw, requestID := crewjamParse(b, w, cfg)
		b.ResetTimer()
		for range b.N {
			if _, err := sp.ParseXMLResponse(raw, []string{requestID}, sp.AcsURL); err != nil {
				b.Fatal(err)
			}
		}
	})

	// The same two at concurrency: logins per second when the machine is
	// busy with them, the wait of one (its write, the change-log follower)
	// overlapping others' work. The responses are made before the timer
	// starts (the test IdP's signing is not the ACS's cost).
	b.Run("acs-parallel", func(b *testing.B) {
		type pending struct{ samlResp, relay string }
		logins := make([]pending, b.N)
		for i := range logins {
			l := w.start(b, cfg)
			logins[i].samlResp, logins[i].relay = w.idp.respond(b, l.idpURL, ada, nil, nil)
		}
		var next atomic.Int64
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l := logins[next.Add(1)-1]
				if _, q, page := w.post(b, w.base, l.samlResp, l.relay); q.Get("code") == "" {
					b.Errorf("no code: %v %s", q, page)
					return
				}
			}
		})
	})

	b.Run("crewjam-parse-parallel", func(b *testing.B) {
		sp, raw, requestID := crewjamParse(b, w, cfg)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := sp.ParseXMLResponse(raw, []string{requestID}, sp.AcsURL); err != nil {
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
// the world's tenant, and a response of the same kind as the ACS gets (its
// XML and the request it answers).
func crewjamParse(b *testing.B, w *world, cfg oauth2.Config) (*saml.ServiceProvider, []byte, string) {
	l := w.start(b, cfg)
	samlResp, _ := w.idp.respond(b, l.idpURL, ada, nil, nil)
	raw, err := base64.StdEncoding.DecodeString(samlResp)
	if err != nil {
		b.Fatal(err)
	}
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
	return sp, raw, requestID
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
