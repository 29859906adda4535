package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/instance"
)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/saml/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSamlMetadata configures SAML from real-world-shaped IdP metadata, given
// as XML and as a URL, and checks what is stored or why it is refused.
func TestSamlMetadata(t *testing.T) {
	const okta = "http://www.okta.com/exk1fcia6d6EMsf331d8"
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metadata":
			w.Header().Set("Content-Type", "application/xml")
			_, _ = w.Write([]byte(readTestdata(t, "okta_one_cert.xml")))
		case "/slow":
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		case "/huge":
			_, _ = w.Write([]byte(strings.Repeat(" ", 2<<20)))
		default:
			http.NotFound(w, r)
		}
	}))
	defer idp.Close()
	// The IdP is on loopback, as an on-premises IdP on a private network
	// would be: allowed by the operator's flag.
	e := newEnv(t, databases()[0], func(o *instance.Config) {
		o.MetadataTimeout = 300 * time.Millisecond
		o.MetadataAllowPrivate = true
	})
	tid := e.tenant(t)

	got, err := e.sso.GetSamlConfig(e.ctx, &identityv1.GetSamlConfigRequest{TenantId: tid})
	if err != nil {
		t.Fatal(err)
	}
	if c := got.GetSamlConfig(); c.GetState() != identityv1.SamlState_SAML_STATE_NOT_CONFIGURED ||
		c.GetSpEntityId() != "https://id.example.com/saml/"+tid+"/metadata" || c.GetAcsUrl() != "https://id.example.com/saml/"+tid+"/acs" {
		t.Fatalf("unconfigured tenant: %v", c)
	}

	xml := func(name string) *identityv1.SetSamlConfigRequest {
		return &identityv1.SetSamlConfigRequest{TenantId: tid, Metadata: &identityv1.SetSamlConfigRequest_MetadataXml{MetadataXml: readTestdata(t, name)}}
	}
	fetch := func(url string) *identityv1.SetSamlConfigRequest {
		return &identityv1.SetSamlConfigRequest{TenantId: tid, Metadata: &identityv1.SetSamlConfigRequest_MetadataUrl{MetadataUrl: url}}
	}
	tests := []struct {
		name         string
		req          *identityv1.SetSamlConfigRequest
		wantCode     codes.Code
		wantInError  string
		wantCerts    int
		wantBinding  string
		wantWarnings int
	}{
		{"Okta, one certificate", xml("okta_one_cert.xml"), codes.OK, "", 1, "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect", 0},
		{"Okta rollover, two certificates", xml("okta_two_certs.xml"), codes.OK, "", 2, "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST", 0},
		{"expired beside valid", xml("expired_and_valid.xml"), codes.OK, "", 2, "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect", 1},
		{"only an expired certificate", xml("expired_cert.xml"), codes.InvalidArgument, "expired", 0, "", 0},
		{"malformed", xml("malformed.xml"), codes.InvalidArgument, "not a SAML 2.0 EntityDescriptor", 0, "", 0},
		{"no usable single sign-on service", xml("no_sso.xml"), codes.InvalidArgument, "SingleSignOnService", 0, "", 0},
		{"no certificate", xml("no_cert.xml"), codes.InvalidArgument, "no signing certificate", 0, "", 0},
		{"fetched from a URL", fetch(idp.URL + "/metadata"), codes.OK, "", 1, "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect", 0},
		{"URL that answers slowly", fetch(idp.URL + "/slow"), codes.InvalidArgument, "could not be fetched", 0, "", 0},
		{"URL that answers 404", fetch(idp.URL + "/gone"), codes.InvalidArgument, "could not be fetched", 0, "", 0},
		{"URL with a huge document", fetch(idp.URL + "/huge"), codes.InvalidArgument, "could not be fetched", 0, "", 0},
		{"URL that is not http", fetch("ftp://idp.example.com/metadata"), codes.InvalidArgument, "http or https", 0, "", 0},
		{"URL that is not a URL", fetch("not a url"), codes.InvalidArgument, "metadata_url", 0, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := changeCount(t, e)
			resp, err := e.sso.SetSamlConfig(e.ctx, tc.req)
			wantCode(t, err, tc.wantCode)
			if err != nil {
				if !strings.Contains(status.Convert(err).Message(), tc.wantInError) {
					t.Fatalf("error %q lacks %q", status.Convert(err).Message(), tc.wantInError)
				}
				if changeCount(t, e) != before {
					t.Fatal("a refused configuration was written")
				}
				return
			}
			c := resp.GetSamlConfig()
			if c.GetState() != identityv1.SamlState_SAML_STATE_CONFIGURED || c.GetIdpEntityId() != okta ||
				len(c.GetIdpCertificates()) != tc.wantCerts || c.GetIdpSsoBinding() != tc.wantBinding ||
				len(resp.GetWarnings()) != tc.wantWarnings || !strings.HasPrefix(c.GetIdpSsoUrl(), "https://dev-4242.okta.com/") {
				t.Fatalf("configured %v, warnings %v", c, resp.GetWarnings())
			}
			if tc.wantWarnings > 0 && !c.GetIdpCertificates()[0].GetExpired() {
				t.Fatalf("the expired certificate is not marked: %v", c.GetIdpCertificates())
			}
			read, err := e.sso.GetSamlConfig(e.ctx, &identityv1.GetSamlConfigRequest{TenantId: tid})
			if err != nil || read.GetSamlConfig().GetIdpSsoUrl() != c.GetIdpSsoUrl() || len(read.GetSamlConfig().GetIdpCertificates()) != tc.wantCerts {
				t.Fatalf("read back %v, %v", read, err)
			}
		})
	}
}

// TestScimLifecycle walks SCIM enablement as an administrator would, with
// the clock moved past a rotation's grace period.
func TestScimLifecycle(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		e := newEnv(t, db)
		tid := e.tenant(t)
		works := func(token string) bool {
			_, err := e.users.ListUsers(withCredential(context.Background(), token), &identityv1.ListUsersRequest{TenantId: tid})
			return err == nil
		}

		_, err := e.scim.EnableScim(e.ctx, &identityv1.EnableScimRequest{TenantId: tid})
		wantCode(t, err, codes.FailedPrecondition)
		if msg := status.Convert(err).Message(); msg != "configure SAML SSO for this tenant before enabling SCIM" {
			t.Fatalf("message %q", msg)
		}
		first := e.enableScim(t, tid)
		if !strings.HasPrefix(first, "scim_") || !works(first) {
			t.Fatalf("first token %q does not work", first)
		}
		st, err := e.scim.GetScimStatus(e.ctx, &identityv1.GetScimStatusRequest{TenantId: tid})
		if err != nil || !st.GetEnabled() || st.GetScimBaseUrl() != "https://id.example.com/scim/v2" || len(st.GetTokens()) != 1 {
			t.Fatalf("status %v %v", st, err)
		}
		_, err = e.scim.EnableScim(e.ctx, &identityv1.EnableScimRequest{TenantId: tid})
		wantCode(t, err, codes.FailedPrecondition)

		rot, err := e.scim.RotateScimToken(e.ctx, &identityv1.RotateScimTokenRequest{TenantId: tid})
		if err != nil {
			t.Fatal(err)
		}
		second := rot.GetToken()
		if !works(first) || !works(second) {
			t.Fatal("during the grace period both tokens must work")
		}
		if d := rot.GetPreviousTokensExpireTime().AsTime().Sub(e.clock.Now()); d < 23*time.Hour || d > 24*time.Hour {
			t.Fatalf("default grace period ends in %v", d)
		}
		e.clock.Advance(24*time.Hour + time.Minute)
		if works(first) || !works(second) {
			t.Fatal("after the grace period only the new token must work")
		}

		if _, err := e.scim.DisableScim(e.ctx, &identityv1.DisableScimRequest{TenantId: tid}); err != nil {
			t.Fatal(err)
		}
		if works(second) {
			t.Fatal("a token works after SCIM was disabled")
		}
		_, err = e.scim.DisableScim(e.ctx, &identityv1.DisableScimRequest{TenantId: tid})
		wantCode(t, err, codes.FailedPrecondition)
		_, err = e.scim.RotateScimToken(e.ctx, &identityv1.RotateScimTokenRequest{TenantId: tid})
		wantCode(t, err, codes.FailedPrecondition)

		again, err := e.scim.EnableScim(e.ctx, &identityv1.EnableScimRequest{TenantId: tid})
		if err != nil || !works(again.GetToken()) {
			t.Fatalf("enable after disable: %v", err)
		}
		// A Tenant Admin key provisions too; its tenant is checked once while
		// the key is cached, and again once SSO is removed.
		admin, _ := e.createKey(t, "okta", nil, tenantAdmin(tid))
		for range 2 {
			if _, err := e.scim.ResolveScimTenant(withCredential(context.Background(), admin), &identityv1.ResolveScimTenantRequest{}); err != nil {
				t.Fatalf("resolve with a Tenant Admin key: %v", err)
			}
		}
		del, err := e.sso.DeleteSamlConfig(e.ctx, &identityv1.DeleteSamlConfigRequest{TenantId: tid})
		if err != nil || !del.GetScimDisabled() {
			t.Fatalf("delete SSO: %v %v", del, err)
		}
		_, err = e.scim.ResolveScimTenant(withCredential(context.Background(), admin), &identityv1.ResolveScimTenantRequest{})
		wantCode(t, err, codes.FailedPrecondition)
		if works(again.GetToken()) {
			t.Fatal("removing SSO left SCIM enabled")
		}
		_, err = e.sso.DeleteSamlConfig(e.ctx, &identityv1.DeleteSamlConfigRequest{TenantId: tid})
		wantCode(t, err, codes.NotFound)
	})
}
