package scim_test

import (
	"embed"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"

	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/instance/instancetest"
)

//go:embed testdata
var testdata embed.FS

// body reads a recorded IdP request and fills in its placeholders.
func body(t *testing.T, name string, vars ...string) string {
	t.Helper()
	b, err := testdata.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(vars); i += 2 {
		s = strings.ReplaceAll(s, "{{"+vars[i]+"}}", vars[i+1])
	}
	return s
}

// env is a tenant with SAML configured and SCIM enabled, reached through the
// HTTP mux identityd serves.
type env struct {
	srv    *instancetest.Server
	tenant string
	token  string // the tenant's SCIM token
	admin  string // an access key with Tenant Admin on the tenant
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvOn(t, instancetest.Start(t))
}

// newEnvOn sets up a tenant with SSO and SCIM on srv.
func newEnvOn(t testing.TB, srv *instancetest.Server) *env {
	t.Helper()
	ctx := instancetest.Context(srv.Credential)
	tenant, err := identityv1.NewTenantServiceClient(srv.Conn).CreateTenant(ctx, &identityv1.CreateTenantRequest{DisplayName: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	tid := tenant.GetTenant().GetId()
	metadata, err := os.ReadFile("../../server/testdata/saml/okta_one_cert.xml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := identityv1.NewSsoServiceClient(srv.Conn).SetSamlConfig(ctx, &identityv1.SetSamlConfigRequest{
		TenantId: tid, Metadata: &identityv1.SetSamlConfigRequest_MetadataXml{MetadataXml: string(metadata)},
	}); err != nil {
		t.Fatal(err)
	}
	scim, err := identityv1.NewScimServiceClient(srv.Conn).EnableScim(ctx, &identityv1.EnableScimRequest{TenantId: tid})
	if err != nil {
		t.Fatal(err)
	}
	key, err := identityv1.NewAccessKeyServiceClient(srv.Conn).CreateAccessKey(ctx, &identityv1.CreateAccessKeyRequest{
		Name: "okta", RoleBindings: []*identityv1.RoleBinding{{Role: "Tenant Admin", TenantId: tid}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, tenant: tid, token: scim.GetToken(), admin: key.GetCredential()}
}

type response struct {
	status int
	header http.Header
	raw    []byte
	json   map[string]any
}

// call sends a SCIM request as an IdP does (Okta's headers), with the bearer.
func call(t testing.TB, e *env, bearer, method, path, reqBody string, headers ...string) response {
	t.Helper()
	var r io.Reader
	if reqBody != "" {
		r = strings.NewReader(reqBody)
	}
	req, err := http.NewRequest(method, e.srv.HTTP.URL+"/scim/v2"+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", "Okta SCIM Client 1.0.0")
	req.Header.Set("Accept", "application/scim+json")
	if reqBody != "" {
		req.Header.Set("Content-Type", "application/scim+json; charset=utf-8")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := response{status: resp.StatusCode, header: resp.Header}
	out.raw, _ = io.ReadAll(resp.Body)
	if len(out.raw) > 0 {
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/scim+json") {
			t.Fatalf("%s %s: content type %q", method, path, ct)
		}
		if err := json.Unmarshal(out.raw, &out.json); err != nil {
			t.Fatalf("%s %s: body is not JSON: %s", method, path, out.raw)
		}
	}
	return out
}

func (r response) want(t testing.TB, status int) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	if status >= 400 {
		if r.json["status"] != strconv.Itoa(status) || r.json["detail"] == "" {
			t.Fatalf("error body %s", r.raw)
		}
	}
	return r
}

func (r response) str(keys ...string) string {
	var v any = r.json
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[k]
	}
	switch x := v.(type) {
	case string:
		return x
	case float64, bool:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return ""
}

func (r response) resources() []map[string]any {
	list, _ := r.json["Resources"].([]any)
	var out []map[string]any
	for _, x := range list {
		out = append(out, x.(map[string]any))
	}
	return out
}

func q(filter string, extra ...string) string {
	v := url.Values{"filter": {filter}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return "?" + v.Encode()
}

// holds asks the role check whether a user holds a role.
func holds(t *testing.T, e *env, userID, role string) bool {
	t.Helper()
	resp, err := identityv1.NewAuthzServiceClient(e.srv.Conn).CheckRole(instancetest.Context(e.srv.Credential), &identityv1.CheckRoleRequest{
		TenantId: e.tenant, User: &identityv1.UserRef{Ref: &identityv1.UserRef_UserId{UserId: userID}}, Role: role,
	})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetAllowed()
}
