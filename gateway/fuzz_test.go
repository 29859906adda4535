package gateway_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/acme/identity/server/authn"
	"github.com/acme/identity/server/instance"
	"github.com/acme/identity/server/instance/instancetest"
	"github.com/acme/identity/server/store"
)

// FuzzHTTP sends random methods, paths, headers and bodies through the
// handler identityd serves (REST mapping, SCIM gateway, SP metadata, with a
// real core and a fresh store behind it) and fails on any 5xx or panic:
// whatever a client sends, the answer is a 2xx, 3xx or a 4xx that says what
// is wrong.
func FuzzHTTP(f *testing.F) {
	h, creds := fuzzServer(f)
	seeds := []struct {
		who                byte
		method, path, body string
	}{
		{0, "GET", "/v1/tenants?pageSize=2", ""},
		{0, "POST", "/v1/tenants", `{"displayName":"Acme"}`},
		{0, "GET", "/v1/tenants/00000000-0000-7000-8000-000000000000/users?filter.userName.equals=x", ""},
		{0, "POST", "/v1/accesskeys", `{"name":"k","roleBindings":[{"role":"Project Admin"}]}`},
		{1, "GET", "/scim/v2/Users?filter=userName%20eq%20%22a%22&startIndex=1&count=10", ""},
		{1, "POST", "/scim/v2/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@b.c","emails":[{"value":"a@b.c","primary":true}]}`},
		{1, "POST", "/scim/v2/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"G","members":[]}`},
		{1, "PATCH", "/scim/v2/Groups/00000000-0000-7000-8000-000000000000", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"x"}]}]}`},
		{1, "GET", "/scim/v2/Groups?excludedAttributes=members&cursor", ""},
		{2, "GET", "/scim/v2/ServiceProviderConfig", ""},
		{3, "GET", "/saml/00000000-0000-7000-8000-000000000000/metadata", ""},
		{3, "GET", "/healthz", ""},
	}
	for _, s := range seeds {
		f.Add(s.who, s.method, s.path, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, who byte, method, path string, body []byte) {
		u, err := url.ParseRequestURI(path)
		if err != nil || !strings.HasPrefix(path, "/") || method == "" || strings.ContainsAny(method, " \t\r\n()<>@,;:\\\"/[]?={}") {
			return // the HTTP server refuses such a request line before any handler
		}
		req := &http.Request{
			Method: method, URL: u, RequestURI: path, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{}, Host: "id.example.com",
			Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
		}
		if cred := creds[int(who)%len(creds)]; cred != "" {
			req.Header.Set("Authorization", "Bearer "+cred)
		}
		if who&4 != 0 {
			req.Header.Set("Content-Type", "application/scim+json")
		}
		if who&8 != 0 {
			req.Header.Set("If-Match", `W/"`+string(body[:min(len(body), 3)])+`"`)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req.WithContext(context.Background()))
		if rec.Code >= 500 {
			t.Fatalf("%s %s answered %d: %s", method, path, rec.Code, rec.Body.String())
		}
	})
}

// fuzzServer starts an instance with a tenant ready for SCIM and returns its
// handler and credentials: the root key, a Tenant Admin key, the tenant's
// SCIM token, and none.
func fuzzServer(f *testing.F) (http.Handler, []string) {
	ctx := context.Background()
	inst, err := instance.Start(ctx, instance.Config{DatabaseURL: store.SQLiteURL(f.TempDir()), PublicURL: "https://id.example.com",
		KeyEncryptionKey: instancetest.KeyEncryptionKey})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(inst.Close)
	root, err := authn.InitProject(ctx, inst.DB, "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	admin, scimToken := tenantAdmin(f, inst.Conn, root)
	return inst.HTTP, []string{root, admin, scimToken, ""}
}
