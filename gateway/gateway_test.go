package gateway_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/acme/identity/gateway"
	"github.com/acme/identity/server/instance/instancetest"
)

// newGateway runs the core and the HTTP handler as identityd wires them and
// returns the HTTP server and the root credential.
func newGateway(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	s := instancetest.Start(t)
	return s.HTTP, s.Credential
}

type client struct {
	t    *testing.T
	base string
	cred string
}

// do sends a request and decodes a JSON answer into a map.
func (c client) do(method, path, body string) (int, map[string]any) {
	c.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.cred != "" {
		req.Header.Set("Authorization", "Bearer "+c.cred)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out); err != nil {
			c.t.Fatalf("%s %s: bad JSON %q", method, path, raw)
		}
	}
	return resp.StatusCode, out
}

func str(m map[string]any, keys ...string) string {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = mm[k]
	}
	s, _ := v.(string)
	return s
}

// TestREST drives every RPC through its REST route, once with valid input and
// once with invalid input, in the order an administrator would.
func TestREST(t *testing.T) {
	hs, cred := newGateway(t)
	c := client{t: t, base: hs.URL, cred: cred}
	projectID, _, _ := strings.Cut(cred, ":")

	step := func(name, method, path, body string, want int) map[string]any {
		t.Helper()
		got, out := c.do(method, path, body)
		if got != want {
			t.Fatalf("%s: %s %s answered %d %v, want %d", name, method, path, got, out, want)
		}
		if want >= 400 && out["message"] == nil {
			t.Fatalf("%s: error without a message: %v", name, out)
		}
		return out
	}

	step("project", "GET", "/v1/projects/"+projectID, "", 200)
	step("project not uuid", "GET", "/v1/projects/x", "", 400)
	step("rename project", "PATCH", "/v1/projects/"+projectID, `{"displayName":"Acme"}`, 200)
	step("rename project empty", "PATCH", "/v1/projects/"+projectID, `{"displayName":""}`, 400)

	tenant := step("create tenant", "POST", "/v1/tenants", `{"displayName":"Acme"}`, 200)
	tid := str(tenant, "tenant", "id")
	if tid == "" || str(tenant, "revision") == "" {
		t.Fatalf("tenant answer %v", tenant)
	}
	bad := step("create tenant empty", "POST", "/v1/tenants", `{"displayName":""}`, 400)
	if !strings.Contains(mustJSON(bad["details"]), "string.min_len") || !strings.Contains(mustJSON(bad["details"]), `"field":"displayName"`) {
		t.Fatalf("400 without field violations named as JSON names them: %v", bad)
	}
	step("create tenant misspelt field", "POST", "/v1/tenants", `{"displayNme":"x"}`, 400)
	step("create tenant not JSON", "POST", "/v1/tenants", `{`, 400)
	step("get tenant", "GET", "/v1/tenants/"+tid, "", 200)
	limited := step("set tenant limits", "PATCH", "/v1/tenants/"+tid+"?updateMask=limits",
		`{"limits":{"requestsPerSecond":50,"burst":100,"maxConcurrentRequests":4}}`, 200)
	if str(limited, "tenant", "displayName") != "Acme" || mustJSON(limited["tenant"].(map[string]any)["limits"]) != `{"burst":100,"credentialBurst":0,"credentialRequestsPerSecond":0,"maxConcurrentRequests":4,"requestsPerSecond":50}` {
		t.Fatalf("limits answer %v", limited)
	}
	step("set negative tenant limits", "PATCH", "/v1/tenants/"+tid+"?updateMask=limits", `{"limits":{"requestsPerSecond":-1}}`, 400)
	step("empty a tenant's name", "PATCH", "/v1/tenants/"+tid, `{"displayName":""}`, 400)
	step("get unknown tenant", "GET", "/v1/tenants/01a20706-0000-7000-8000-000000000000", "", 404)
	step("list tenants", "GET", "/v1/tenants?pageSize=10&filter.displayName.equals=Acme", "", 200)
	step("list tenants page too big", "GET", "/v1/tenants?pageSize=5000", "", 400)
	step("rename tenant", "PATCH", "/v1/tenants/"+tid, `{"displayName":"Acme Corp"}`, 200)
	step("rename tenant bad mask", "PATCH", "/v1/tenants/"+tid+"?updateMask=version", `{"displayName":"x"}`, 400)

	users := "/v1/tenants/" + tid + "/users"
	user := step("create user", "POST", users, `{"userName":"ada@example.com","emails":[{"value":"ada@example.com","primary":true}]}`, 200)
	uid := str(user, "user", "id")
	step("create user again, other case", "POST", users, `{"userName":"ADA@example.com"}`, 409)
	step("create user bad email", "POST", users, `{"userName":"b","emails":[{"value":"nope"}]}`, 400)
	step("get user", "GET", users+"/"+uid, "", 200)
	step("get user bad id", "GET", users+"/nope", "", 400)
	list := step("list users by user_name", "GET", users+"?filter.userName.equals=ADA@EXAMPLE.COM", "", 200)
	if n, _ := list["users"].([]any); len(n) != 1 {
		t.Fatalf("filtered list %v", list)
	}
	step("list users bad filter", "GET", users+"?filter.active=maybe", "", 400)
	patched := step("deactivate user", "PATCH", users+"/"+uid, `{"active":false}`, 200)
	if active, _ := patched["user"].(map[string]any)["active"].(bool); active {
		t.Fatalf("user still active: %v", patched)
	}
	step("update user unknown path", "PATCH", users+"/"+uid+"?updateMask=id", `{"id":"x"}`, 400)

	roles := "/v1/tenants/" + tid + "/roles"
	role := step("create role", "POST", roles, `{"name":"admin","permissions":["invoices:read"]}`, 200)
	rid := str(role, "role", "id")
	step("create role taken", "POST", roles, `{"name":"ADMIN"}`, 409)
	step("get role", "GET", roles+"/"+rid, "", 200)
	step("get role bad id", "GET", roles+"/x", "", 400)
	step("list roles", "GET", roles+"?filter.name.startsWith=adm", "", 200)
	step("list roles bad token", "GET", roles+"?pageToken=zzz", "", 400)
	step("update role", "PATCH", roles+"/"+rid, `{"description":"Administrators"}`, 200)
	step("update role bad permission", "PATCH", roles+"/"+rid, `{"permissions":["a b"]}`, 400)
	step("assign role", "POST", users+"/"+uid+"/roles:assign", `{"roleIds":["`+rid+`"]}`, 200)
	step("assign unknown role", "POST", users+"/"+uid+"/roles:assign", `{"roleIds":["01a20706-0000-7000-8000-000000000000"]}`, 404)
	step("list assigned roles", "GET", users+"/"+uid+"/roles", "", 200)
	step("list assigned roles bad user", "GET", users+"/x/roles", "", 400)
	step("unassign role", "POST", users+"/"+uid+"/roles:unassign", `{"roleIds":["`+rid+`"]}`, 200)
	step("unassign nothing", "POST", users+"/"+uid+"/roles:unassign", `{"roleIds":[]}`, 400)

	groups := "/v1/tenants/" + tid + "/groups"
	group := step("create group with member", "POST", groups, `{"group":{"displayName":"Engineering"},"memberUserIds":["`+uid+`"]}`, 200)
	gid := str(group, "group", "id")
	step("create group taken", "POST", groups, `{"group":{"displayName":"engineering"}}`, 409)
	step("get group", "GET", groups+"/"+gid, "", 200)
	step("get group bad id", "GET", groups+"/x", "", 400)
	step("list groups", "GET", groups+"?filter.memberUserId="+uid, "", 200)
	step("list groups bad member id", "GET", groups+"?filter.memberUserId=x", "", 400)
	step("rename group", "PATCH", groups+"/"+gid, `{"displayName":"Platform"}`, 200)
	step("rename group empty", "PATCH", groups+"/"+gid, `{"displayName":""}`, 400)
	step("list members", "GET", groups+"/"+gid+"/members", "", 200)
	step("list members bad size", "GET", groups+"/"+gid+"/members?pageSize=-1", "", 400)
	step("remove member", "POST", groups+"/"+gid+"/members:remove", `{"userIds":["`+uid+`"]}`, 200)
	step("remove member bad id", "POST", groups+"/"+gid+"/members:remove", `{"userIds":["x"]}`, 400)
	step("add member", "POST", groups+"/"+gid+"/members:add", `{"userIds":["`+uid+`"]}`, 200)
	step("add unknown member", "POST", groups+"/"+gid+"/members:add", `{"userIds":["01a20706-0000-7000-8000-000000000000"]}`, 404)

	keys := "/v1/accesskeys"
	key := step("create key", "POST", keys, `{"name":"ci","roleBindings":[{"role":"Tenant Admin","tenantId":"`+tid+`"}]}`, 200)
	kid := str(key, "accessKey", "id")
	step("create key without bindings", "POST", keys, `{"name":"ci"}`, 400)
	step("get key", "GET", keys+"/"+kid, "", 200)
	step("get key bad id", "GET", keys+"/x", "", 400)
	step("list keys", "GET", keys, "", 200)
	step("list keys bad token", "GET", keys+"?pageToken=x", "", 400)
	step("rename key", "PATCH", keys+"/"+kid, `{"name":"ci-2"}`, 200)
	step("rename key empty", "PATCH", keys+"/"+kid, `{"name":""}`, 400)
	step("revoke key", "POST", keys+"/"+kid+":revoke", `{}`, 200)
	step("revoke key bad id", "POST", keys+"/x:revoke", `{}`, 400)
	step("delete key", "DELETE", keys+"/"+kid, "", 200)
	step("delete key again", "DELETE", keys+"/"+kid, "", 404)

	sso := "/v1/tenants/" + tid + "/sso/saml"
	step("get SAML", "GET", sso, "", 200)
	step("get SAML bad tenant", "GET", "/v1/tenants/x/sso/saml", "", 400)
	step("set SAML bad URL", "PUT", sso, `{"metadataUrl":"ftp://x"}`, 400)
	step("set SAML nothing", "PUT", sso, `{}`, 400)
	step("delete SAML not configured", "DELETE", sso, "", 404)
	step("delete SAML bad tenant", "DELETE", "/v1/tenants/x/sso/saml", "", 400)
	step("SP metadata JSON", "GET", sso+"/metadata", "", 200)
	step("SP metadata JSON bad tenant", "GET", "/v1/tenants/x/sso/saml/metadata", "", 400)
	if st := step("SCIM status", "GET", "/v1/tenants/"+tid+"/scim", "", 200); st["enabled"] != false {
		t.Fatalf("a disabled SCIM reads without enabled: false: %v", st)
	}
	step("SCIM status bad tenant", "GET", "/v1/tenants/x/scim", "", 400)
	step("SCIM enable without SSO", "POST", "/v1/tenants/"+tid+"/scim:enable", `{}`, 400)
	step("SCIM disable when disabled", "POST", "/v1/tenants/"+tid+"/scim:disable", `{}`, 400)
	step("SCIM rotate bad grace", "POST", "/v1/tenants/"+tid+"/scim:rotate", `{"gracePeriod":"-5s"}`, 400)
	step("SCIM resolve as Project Admin", "GET", "/v1/scim/tenant", "", 403)

	authz := "/v1/tenants/" + tid + "/authz:"
	if check := step("check role of a deactivated user", "POST", authz+"checkRole", `{"user":{"userId":"`+uid+`"},"role":"platform","explain":true}`, 200); check["allowed"] != false || check["denial"] != "DENIAL_USER_INACTIVE" {
		// every field is answered, false included
		t.Fatalf("a deactivated user holds a role, or the answer leaves allowed out: %v", check)
	}
	step("reactivate user", "PATCH", users+"/"+uid, `{"active":true}`, 200)
	check := step("check role", "POST", authz+"checkRole", `{"user":{"userName":"ADA@example.com"},"role":"platform","explain":true}`, 200)
	if check["allowed"] != true {
		t.Fatalf("check %v", check)
	}
	step("check role bad user", "POST", authz+"checkRole", `{"user":{},"role":"x"}`, 400)
	step("check permission", "POST", authz+"checkPermission", `{"user":{"userId":"`+uid+`"},"permission":"invoices:read"}`, 200)
	step("check permission no permission", "POST", authz+"checkPermission", `{"user":{"userId":"`+uid+`"}}`, 400)
	step("batch check", "POST", authz+"batchCheck", `{"checks":[{"user":{"userId":"`+uid+`"},"role":"platform"}]}`, 200)
	step("batch check empty", "POST", authz+"batchCheck", `{"checks":[]}`, 400)
	step("user roles", "POST", authz+"listUserRoles", `{"user":{"userId":"`+uid+`"}}`, 200)
	step("user roles unknown", "POST", authz+"listUserRoles", `{"user":{"userId":"01a20706-0000-7000-8000-000000000000"}}`, 404)
	step("role members", "GET", roles+"/"+rid+"/members", "", 200)
	step("role members bad role", "GET", roles+"/x/members", "", 400)
	step("map role", "POST", groups+"/"+gid+"/roles:map", `{"roleIds":["`+rid+`"]}`, 200)
	step("map nothing", "POST", groups+"/"+gid+"/roles:map", `{"roleIds":[]}`, 400)
	step("group roles", "GET", groups+"/"+gid+"/roles", "", 200)
	step("group roles bad group", "GET", groups+"/x/roles", "", 400)
	step("unmap role", "POST", groups+"/"+gid+"/roles:unmap", `{"roleIds":["`+rid+`"]}`, 200)
	step("unmap bad role", "POST", groups+"/"+gid+"/roles:unmap", `{"roleIds":["x"]}`, 400)

	step("delete group", "DELETE", groups+"/"+gid, "", 200)
	step("delete group again", "DELETE", groups+"/"+gid, "", 404)
	step("delete role", "DELETE", roles+"/"+rid, "", 200)
	step("delete role bad id", "DELETE", roles+"/x", "", 400)
	step("delete user", "DELETE", users+"/"+uid, "", 200)
	step("delete user again", "DELETE", users+"/"+uid, "", 404)
	step("delete tenant", "DELETE", "/v1/tenants/"+tid, "", 200)
	step("delete tenant bad id", "DELETE", "/v1/tenants/x", "", 400)
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestRESTAuthentication(t *testing.T) {
	hs, cred := newGateway(t)
	tests := []struct {
		name string
		cred string
		want int
	}{
		{"none", "", 401},
		{"malformed", "non-token", 401},
		{"wrong secret", cred + "x", 401},
		{"root", cred, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, out := client{t: t, base: hs.URL, cred: tc.cred}.do("GET", "/v1/tenants", "")
			if got != tc.want {
				t.Fatalf("answered %d %v, want %d", got, out, tc.want)
			}
		})
	}
}

func TestOperationalEndpoints(t *testing.T) {
	hs, cred := newGateway(t)
	c := client{t: t, base: hs.URL}
	if code, out := c.do("GET", "/healthz", ""); code != 200 || out["status"] != "SERVING" {
		t.Fatalf("healthz %d %v", code, out)
	}
	if code, out := c.do("GET", "/readyz", ""); code != 200 || out["status"] != "ready" {
		t.Fatalf("readyz %d %v", code, out)
	}
	if code, out := c.do("GET", "/v1/openapi.json", ""); code != 200 || out["swagger"] != "2.0" || out["paths"] == nil ||
		str(out, "info", "title") != "identityd API" || str(out, "info", "version") != "v1" ||
		str(out, "securityDefinitions", "Bearer", "name") != "Authorization" || mustJSON(out["security"]) != `[{"Bearer":[]}]` {
		t.Fatalf("openapi %d: title, version or the Bearer scheme missing", code)
	}
	client{t: t, base: hs.URL, cred: cred}.do("GET", "/v1/tenants", "")
	resp, err := http.Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`identityd_http_requests_total{code="200",method="get",route="rest"}`, `route="admin"`,
		`grpc_server_handled_total{grpc_code="OK",grpc_method="ListTenants"`} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	big := `{"displayName":"` + strings.Repeat("x", gateway.MaxBodyBytes) + `"}`
	if code, _ := (client{t: t, base: hs.URL, cred: cred}).do("POST", "/v1/tenants", big); code != 413 {
		t.Fatalf("oversized body answered %d, want 413", code)
	}
	// The same without a Content-Length (chunked): cut off while reading.
	req, _ := http.NewRequest("POST", hs.URL+"/v1/tenants", io.MultiReader(strings.NewReader(big)))
	req.Header.Set("Authorization", "Bearer "+cred)
	req.ContentLength = -1
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("oversized chunked body answered %d, want 413", resp.StatusCode)
	}
}
