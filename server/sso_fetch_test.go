package server_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/instance"
)

// TestMetadataFetchIsNoProbe sets SAML metadata by URL at loopback targets
// (the only addresses a test may send traffic to). By default the server
// refuses to connect to them at all; with private addresses allowed, every
// failure (closed port, a service that is not HTTP, an error status, too many
// redirects, a redirect to the cloud metadata address) answers the same
// generic error, so the server cannot be used to map a network. The reason is
// in the server's log.
func TestMetadataFetchIsNoProbe(t *testing.T) {
	var hits atomic.Int64
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch p := r.URL.Path; {
		case p == "/metadata":
			_, _ = w.Write([]byte(readTestdata(t, "okta_one_cert.xml")))
		case strings.HasPrefix(p, "/redirect/"):
			n, _ := strconv.Atoi(strings.TrimPrefix(p, "/redirect/"))
			next := "/metadata"
			if n > 1 {
				next = fmt.Sprintf("/redirect/%d", n-1)
			}
			http.Redirect(w, r, next, http.StatusFound)
		case p == "/to-cloud-metadata":
			// A link-local address: the dial is refused before any packet.
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
		case p == "/error":
			http.Error(w, "secret internal detail", http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	}))
	defer idp.Close()
	// A service that is not HTTP: it greets with a banner that must not be
	// echoed.
	banner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer banner.Close()
	go func() {
		for {
			c, err := banner.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
			c.Close()
		}
	}()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + closed.Addr().String() + "/metadata"
	closed.Close()
	port := idp.Listener.Addr().(*net.TCPAddr).Port

	const generic = "the metadata URL could not be fetched"
	cases := []struct {
		name         string
		allowPrivate bool
		url          string
		wantOK       bool
		wantHits     int64 // requests the IdP may receive
	}{
		{"loopback refused by default", false, idp.URL + "/metadata", false, 0},
		{"localhost refused by default", false, fmt.Sprintf("http://localhost:%d/metadata", port), false, 0},
		{"a redirect to loopback refused by default", false, idp.URL + "/redirect/1", false, 0},
		{"allowed private: fetched", true, idp.URL + "/metadata", true, 1},
		{"allowed private: three redirects followed", true, idp.URL + "/redirect/3", true, 4},
		{"allowed private: four redirects refused", true, idp.URL + "/redirect/4", false, 4},
		{"allowed private: redirect to link-local refused", true, idp.URL + "/to-cloud-metadata", false, 1},
		{"allowed private: error status", true, idp.URL + "/error", false, 1},
		{"allowed private: closed port", true, closedURL, false, 0},
		{"allowed private: not HTTP", true, "http://" + banner.Addr().String() + "/", false, 0},
	}
	envs := map[bool]*env{}
	for _, allow := range []bool{false, true} {
		allow := allow
		envs[allow] = newEnv(t, databases()[0], func(c *instance.Config) { c.MetadataAllowPrivate = allow })
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := envs[c.allowPrivate]
			tid := e.tenant(t)
			hits.Store(0)
			_, err := e.sso.SetSamlConfig(e.ctx, &identityv1.SetSamlConfigRequest{TenantId: tid,
				Metadata: &identityv1.SetSamlConfigRequest_MetadataUrl{MetadataUrl: c.url}})
			if got := hits.Load(); got != c.wantHits {
				t.Errorf("the IdP received %d requests, want %d", got, c.wantHits)
			}
			if c.wantOK {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantCode(t, err, codes.InvalidArgument)
			if msg := status.Convert(err).Message(); !strings.HasPrefix(msg, generic) {
				t.Fatalf("answer %q, want the generic %q", msg, generic)
			}
		})
	}
}
