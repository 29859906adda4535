package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestOktaSetupOverREST follows the README: a tenant, a Tenant Admin key,
// SAML from metadata, the SP values to paste into Okta, then SCIM.
func TestOktaSetupOverREST(t *testing.T) {
	hs, cred := newGateway(t)
	root := client{t: t, base: hs.URL, cred: cred}
	metadata, err := os.ReadFile("../server/testdata/saml/okta_one_cert.xml")
	if err != nil {
		t.Fatal(err)
	}

	_, tenant := root.do("POST", "/v1/tenants", `{"displayName":"Acme"}`)
	tid := str(tenant, "tenant", "id")
	code, key := root.do("POST", "/v1/accesskeys", `{"name":"okta","roleBindings":[{"role":"Tenant Admin","tenantId":"`+tid+`"}]}`)
	if code != 200 || str(key, "credential") == "" {
		t.Fatalf("create key: %d %v", code, key)
	}
	admin := client{t: t, base: hs.URL, cred: str(key, "credential")}
	if code, got := root.do("GET", "/v1/accesskeys/"+str(key, "accessKey", "id"), ""); code != 200 || got["credential"] != nil {
		t.Fatalf("get key: %d %v", code, got)
	}

	code, out := admin.do("POST", "/v1/tenants/"+tid+"/scim:enable", `{}`)
	if code != 400 || out["message"] != "configure SAML SSO for this tenant before enabling SCIM" {
		t.Fatalf("enable before SSO: %d %v", code, out)
	}
	body, _ := json.Marshal(map[string]string{"metadataXml": string(metadata)})
	code, out = admin.do("PUT", "/v1/tenants/"+tid+"/sso/saml", string(body))
	if code != 200 || str(out, "samlConfig", "state") != "SAML_STATE_CONFIGURED" {
		t.Fatalf("configure SAML: %d %v", code, out)
	}
	code, out = admin.do("GET", "/v1/tenants/"+tid+"/sso/saml", "")
	base := hs.URL
	if code != 200 || str(out, "samlConfig", "spEntityId") == "" || !strings.HasSuffix(str(out, "samlConfig", "acsUrl"), "/saml/"+tid+"/acs") {
		t.Fatalf("read SAML: %d %v (base %s)", code, out, base)
	}
	code, out = admin.do("PUT", "/v1/tenants/"+tid+"/sso/saml", `{"metadataXml":"<nope"}`)
	if code != 400 {
		t.Fatalf("bad metadata: %d %v", code, out)
	}

	code, out = admin.do("POST", "/v1/tenants/"+tid+"/scim:enable", `{}`)
	if code != 200 || !strings.HasPrefix(str(out, "token"), "scim_") || !strings.HasSuffix(str(out, "scimBaseUrl"), "/scim/v2") {
		t.Fatalf("enable SCIM: %d %v", code, out)
	}
	scim := client{t: t, base: hs.URL, cred: str(out, "token")}
	if code, out := scim.do("GET", "/v1/tenants/"+tid+"/users", ""); code != 200 {
		t.Fatalf("SCIM token on users: %d %v", code, out)
	}
	if code, _ := admin.do("POST", "/v1/tenants/"+tid+"/scim:enable", `{}`); code != 400 {
		t.Fatalf("second enable: %d", code)
	}
	if code, out := admin.do("POST", "/v1/tenants/"+tid+"/scim:rotate", `{"gracePeriod":"3600s"}`); code != 200 || str(out, "token") == "" {
		t.Fatalf("rotate: %d %v", code, out)
	}
	if code, _ := admin.do("POST", "/v1/tenants/"+tid+"/scim:disable", `{}`); code != 200 {
		t.Fatalf("disable: %d", code)
	}
	if code, _ := scim.do("GET", "/v1/tenants/"+tid+"/users", ""); code != 401 {
		t.Fatalf("disabled token: %d", code)
	}
	if code, _ := admin.do("GET", "/v1/accesskeys", ""); code != 403 {
		t.Fatalf("Tenant Admin listed access keys: %d", code)
	}

	resp, err := http.Get(hs.URL + "/saml/" + tid + "/metadata")
	if err != nil {
		t.Fatal(err)
	}
	xml, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/samlmetadata+xml" ||
		!strings.Contains(string(xml), "AssertionConsumerService") {
		t.Fatalf("SP metadata: %d %s", resp.StatusCode, xml)
	}
	if resp, err := http.Get(hs.URL + "/saml/not-a-tenant/metadata"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("SP metadata of nothing: %v %v", resp.StatusCode, err)
	}
}
