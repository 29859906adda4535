package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"google.golang.org/grpc"

	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/instance/instancetest"
)

// TestMalformedRequests sends what the hardening run found answered with 5xx
// or with Go's internals: every one is a 4xx that says what is wrong, in the
// format of the endpoint (REST JSON or a SCIM error), and no answer names Go
// types or packages.
func TestMalformedRequests(t *testing.T) {
	s := instancetest.Start(t)
	admin, _ := tenantAdmin(t, s.Conn, s.Credential)
	cases := []struct {
		method, path, body string
		wantStatus         int
		wantInBody         string
	}{
		{"GET", "/v1/tenants/%FF", "", 400, "the path is not valid UTF-8"},
		{"GET", "/v1/tenants?pageToken=%FF%FE", "", 400, "query parameter pageToken is not valid UTF-8"},
		{"GET", "/saml/%FF/metadata", "", 400, "the path is not valid UTF-8"},
		{"GET", "/scim/v2/Users?filter=userName%20eq%20%22%FF%22", "", 400, `"scimType":"invalidValue"`},
		{"GET", "/scim/v2/Users/%FF", "", 400, `"scimType":"invalidValue"`},
		{"GET", "/v1/tenants?pageSize=abc", "", 400, "query parameter pageSize is not a valid number"},
		{"GET", "/scim/v2/Users#café", "", 400, "the Authorization header holds other than printable ASCII"},
		{"GET", "/v1/tenants#café", "", 400, "the Authorization header holds other than printable ASCII"},
		{"GET", "/v1/tenants?pageSize=99999999999", "", 400, "query parameter pageSize is out of range"},
		{"GET", "/v1/tenants?filter.updatedAfter=yesterday", "", 400, "is not an RFC 3339 time"},
		// a parameter that names no field is refused, never ignored
		{"GET", "/v1/tenants?pageSizes=2", "", 400, `unknown query parameter \"pageSizes\"`},
		{"GET", "/v1/tenants?filter.displayname.equals=x", "", 400, `has no field \"displayname\" (names are case-sensitive)`},
		{"GET", "/v1/tenants?filter=x", "", 400, `query parameter \"filter\" is an object`},
		{"GET", "/v1/tenants?pageSize.value=2", "", 400, `pageSize is not an object`},
		{"POST", "/scim/v2/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@b.c","emails":"a@b.c"}`, 400, "emails: expected an array, got string"},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			req, err := http.NewRequest(c.method, s.HTTP.URL+c.path, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			cred := s.Credential
			if strings.HasPrefix(c.path, "/scim/") {
				cred = admin
			}
			if p, tail, ok := strings.Cut(c.path, "#"); ok {
				// a path ending in #x sends the credential x, as a client could
				req.URL.Path, req.URL.Fragment, cred = p, "", tail
			}
			req.Header.Set("Authorization", "Bearer "+cred)
			if c.body != "" {
				req.Header.Set("Content-Type", "application/scim+json")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.wantStatus || !strings.Contains(string(body), c.wantInBody) {
				t.Fatalf("%d %s, want %d with %q", resp.StatusCode, body, c.wantStatus, c.wantInBody)
			}
			if !json.Valid(body) {
				t.Fatalf("the answer is not JSON: %s", body)
			}
			for _, leak := range []string{"strconv", "resource.", "[]string", "grpc:", "2006-01-02"} {
				if strings.Contains(string(body), leak) {
					t.Fatalf("the answer shows Go's internals (%q): %s", leak, body)
				}
			}
		})
	}
}

// tenantAdmin makes a tenant ready for SCIM (SAML configured, SCIM
// enabled) and returns the credential of a key with Tenant Admin on it and
// the tenant's SCIM token.
func tenantAdmin(t testing.TB, conn *grpc.ClientConn, root string) (admin, scimToken string) {
	t.Helper()
	ctx := instancetest.Context(root)
	tenant, err := identityv1.NewTenantServiceClient(conn).CreateTenant(ctx, &identityv1.CreateTenantRequest{DisplayName: "t"})
	if err != nil {
		t.Fatal(err)
	}
	tid := tenant.GetTenant().GetId()
	xml, err := os.ReadFile("../server/testdata/saml/okta_one_cert.xml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := identityv1.NewSsoServiceClient(conn).SetSamlConfig(ctx, &identityv1.SetSamlConfigRequest{TenantId: tid,
		Metadata: &identityv1.SetSamlConfigRequest_MetadataXml{MetadataXml: string(xml)}}); err != nil {
		t.Fatal(err)
	}
	scim, err := identityv1.NewScimServiceClient(conn).EnableScim(ctx, &identityv1.EnableScimRequest{TenantId: tid})
	if err != nil {
		t.Fatal(err)
	}
	key, err := identityv1.NewAccessKeyServiceClient(conn).CreateAccessKey(ctx, &identityv1.CreateAccessKeyRequest{
		Name: "admin", RoleBindings: []*identityv1.RoleBinding{{Role: "Tenant Admin", TenantId: tid}}})
	if err != nil {
		t.Fatal(err)
	}
	return key.GetCredential(), scim.GetToken()
}
