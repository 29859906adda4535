package signin_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/xml"
	"math/big"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"
)

// testIdP is an in-process SAML IdP built on crewjam/saml's identity
// provider: it answers an AuthnRequest (the URL identityd redirected to) with
// a signed response, which a test may tamper with before or after signing.
type testIdP struct {
	idp *saml.IdentityProvider
	// sp is identityd's SP metadata for the tenant, as the IdP imported it.
	sp *saml.EntityDescriptor
}

func newKeyPair(t testing.TB, cn string) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

// newTestIdP makes an IdP at base (its metadata and SSO URLs) for the SP
// whose metadata spXML is.
func newTestIdP(t testing.TB, base string, spXML []byte) *testIdP {
	t.Helper()
	key, cert := newKeyPair(t, "idp")
	md, _ := url.Parse(base + "/metadata")
	sso, _ := url.Parse(base + "/sso")
	sp, err := samlsp.ParseMetadata(spXML)
	if err != nil {
		t.Fatal(err)
	}
	i := &testIdP{sp: sp, idp: &saml.IdentityProvider{Key: key, Certificate: cert, MetadataURL: *md, SSOURL: *sso}}
	i.idp.ServiceProviderProvider = i
	return i
}

func (i *testIdP) GetServiceProvider(*http.Request, string) (*saml.EntityDescriptor, error) {
	return i.sp, nil
}

func (i *testIdP) metadataXML(t testing.TB) string {
	t.Helper()
	b, err := xml.Marshal(i.idp.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// withKey returns the same IdP (same entity ID and URLs) signing with another
// key: what an attacker holding some other IdP's key produces.
func (i *testIdP) withKey(t testing.TB) *testIdP {
	key, cert := newKeyPair(t, "attacker")
	c := *i.idp
	c.Key, c.Certificate = key, cert
	return &testIdP{idp: &c, sp: i.sp}
}

// respond answers the AuthnRequest in location (identityd's redirect to the
// IdP) for nameID: before changes the assertion before it is signed, after
// the signed response element. It returns the SAMLResponse and RelayState
// the browser would post to the ACS.
func (i *testIdP) respond(t testing.TB, location, nameID string, before func(*saml.Assertion), after func(*etree.Element)) (string, string) {
	t.Helper()
	r, err := http.NewRequest("GET", location, nil)
	if err != nil {
		t.Fatal(err)
	}
	req, err := saml.NewIdpAuthnRequest(i.idp, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := req.Validate(); err != nil {
		t.Fatalf("the IdP refused identityd's AuthnRequest: %v", err)
	}
	now := time.Now()
	if err := (saml.DefaultAssertionMaker{}).MakeAssertion(req, &saml.Session{
		ID: "s1", CreateTime: now, ExpireTime: now.Add(time.Hour), Index: "1",
		NameID: nameID, NameIDFormat: string(saml.EmailAddressNameIDFormat), UserEmail: nameID,
	}); err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(req.Assertion)
	}
	if err := req.MakeAssertionEl(); err != nil {
		t.Fatal(err)
	}
	if err := req.MakeResponse(); err != nil {
		t.Fatal(err)
	}
	if after != nil {
		after(req.ResponseEl)
	}
	form, err := req.PostBinding()
	if err != nil {
		t.Fatal(err)
	}
	return form.SAMLResponse, form.RelayState
}

// unsign removes every signature from a response.
func unsign(el *etree.Element) {
	for _, s := range el.FindElements("//Signature") {
		s.Parent().RemoveChild(s)
	}
}

// wrap puts an unsigned copy of the signed assertion, naming another user,
// before it, and drops the response's own signature (XML signature wrapping).
func wrap(nameID string) func(*etree.Element) {
	return func(resp *etree.Element) {
		for _, s := range resp.SelectElements("Signature") {
			resp.RemoveChild(s)
		}
		signed := resp.SelectElement("Assertion")
		evil := signed.Copy()
		for _, s := range evil.SelectElements("Signature") {
			evil.RemoveChild(s)
		}
		evil.CreateAttr("ID", "id-evil")
		if n := evil.FindElement(".//NameID"); n != nil {
			n.SetText(nameID)
		}
		resp.InsertChildAt(signed.Index(), evil)
	}
}

// unsolicited makes an IdP-initiated response for nameID (an Okta tile):
// no AuthnRequest, relayState as Okta's "Default RelayState".
func (i *testIdP) unsolicited(t testing.TB, nameID, relayState string) string {
	t.Helper()
	r, _ := http.NewRequest("GET", i.idp.SSOURL.String(), nil)
	req := &saml.IdpAuthnRequest{IDP: i.idp, HTTPRequest: r, RelayState: relayState, Now: saml.TimeNow(),
		ServiceProviderMetadata: i.sp, SPSSODescriptor: &i.sp.SPSSODescriptors[0]}
	for _, acs := range i.sp.SPSSODescriptors[0].AssertionConsumerServices {
		if acs.Binding == saml.HTTPPostBinding {
			req.ACSEndpoint = &acs
		}
	}
	now := time.Now()
	if err := (saml.DefaultAssertionMaker{}).MakeAssertion(req, &saml.Session{
		ID: "s2", CreateTime: now, ExpireTime: now.Add(time.Hour), Index: "2",
		NameID: nameID, NameIDFormat: string(saml.EmailAddressNameIDFormat), UserEmail: nameID,
	}); err != nil {
		t.Fatal(err)
	}
	form, err := req.PostBinding()
	if err != nil {
		t.Fatal(err)
	}
	return form.SAMLResponse
}
