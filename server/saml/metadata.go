package saml

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net/url"
	"strings"
	"time"

	crewsaml "github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"

	"github.com/acme/identity/server/apierr"
)

// Metadata is what a tenant's SAML configuration keeps of IdP metadata.
type Metadata struct {
	EntityID     string
	SSOURL       string
	SSOBinding   string
	Certificates []*x509.Certificate
}

// ParseMetadata validates IdP metadata and extracts what SSO needs. It fails
// with InvalidArgument on field, naming what is missing or wrong; expired
// certificates beside a valid one come back as warnings.
func ParseMetadata(data []byte, field string, now time.Time) (*Metadata, []string, error) {
	bad := func(msg string) error { return apierr.InvalidField(field, "INVALID_METADATA", msg) }
	ed, err := samlsp.ParseMetadata(data)
	if err != nil {
		return nil, nil, bad("the metadata is not a SAML 2.0 EntityDescriptor: " + err.Error())
	}
	if ed.EntityID == "" {
		return nil, nil, bad("the metadata has no entityID")
	}
	if len(ed.IDPSSODescriptors) == 0 {
		return nil, nil, bad("the metadata describes no identity provider (no IDPSSODescriptor)")
	}
	idp := ed.IDPSSODescriptors[0]
	out := &Metadata{EntityID: ed.EntityID}
	// HTTP-Redirect is preferred for AuthnRequests (short, unsigned requests
	// fit a URL); HTTP-POST is the fallback every IdP supports.
	for _, binding := range []string{crewsaml.HTTPRedirectBinding, crewsaml.HTTPPostBinding} {
		for _, sso := range idp.SingleSignOnServices {
			if sso.Binding == binding && out.SSOURL == "" {
				u, err := url.Parse(sso.Location)
				if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
					return nil, nil, bad(fmt.Sprintf("the SingleSignOnService location %q is not an http or https URL", sso.Location))
				}
				out.SSOURL, out.SSOBinding = sso.Location, binding
			}
		}
	}
	if out.SSOURL == "" {
		return nil, nil, bad("the metadata has no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding")
	}

	var warnings []string
	seen := map[string]bool{}
	valid := 0
	for _, kd := range idp.KeyDescriptors {
		if kd.Use != "" && kd.Use != "signing" {
			continue
		}
		for _, xc := range kd.KeyInfo.X509Data.X509Certificates {
			der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(xc.Data), ""))
			if err != nil {
				return nil, nil, bad("a signing certificate is not base64")
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, nil, bad("a signing certificate is not a valid X.509 certificate: " + err.Error())
			}
			fp := Fingerprint(cert)
			if seen[fp] {
				continue
			}
			seen[fp] = true
			out.Certificates = append(out.Certificates, cert)
			if now.After(cert.NotAfter) {
				warnings = append(warnings, fmt.Sprintf("signing certificate %q (SHA-256 %s) expired on %s",
					cert.Subject.String(), fp, cert.NotAfter.UTC().Format(time.RFC3339)))
			} else {
				valid++
			}
		}
	}
	switch {
	case len(out.Certificates) == 0:
		return nil, nil, bad("the metadata has no signing certificate (KeyDescriptor use=\"signing\" with an X509Certificate)")
	case valid == 0:
		return nil, nil, bad("every signing certificate in the metadata has expired: " + strings.Join(warnings, "; "))
	}
	return out, warnings, nil
}

// Fingerprint is a certificate's SHA-256, in hex.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// SP is this service as a SAML service provider, at a public base URL.
type SP struct {
	publicURL string
	parsed    *metadataCache
}

// NewSP returns the service provider reached at publicURL.
func NewSP(publicURL string) SP {
	return SP{publicURL: strings.TrimRight(publicURL, "/"), parsed: &metadataCache{}}
}

// URLs are the URLs of this service provider for a tenant.
type URLs struct {
	EntityID, ACS, Metadata string
}

// URLs returns the SP URLs of a tenant. The entity ID is the metadata URL, as
// SAML 2.0 metadata (section 4.1) recommends: it is unique per tenant and
// resolvable.
func (sp SP) URLs(tenantID string) URLs {
	base := sp.publicURL + "/saml/" + tenantID
	return URLs{EntityID: base + "/metadata", ACS: base + "/acs", Metadata: base + "/metadata"}
}

// MetadataXML renders the SP metadata of a tenant with crewjam/saml.
func (sp SP) MetadataXML(tenantID string) (string, error) {
	urls := sp.URLs(tenantID)
	acs, err := url.Parse(urls.ACS)
	if err != nil {
		return "", fmt.Errorf("ACS URL: %w", err)
	}
	md, err := url.Parse(urls.Metadata)
	if err != nil {
		return "", fmt.Errorf("metadata URL: %w", err)
	}
	// Okta and Entra send the email as NameID by default; the login matches
	// it against user_name.
	p := crewsaml.ServiceProvider{EntityID: urls.EntityID, AcsURL: *acs, MetadataURL: *md, AuthnNameIDFormat: crewsaml.EmailAddressNameIDFormat}
	m := p.Metadata()
	// Responses come by HTTP-POST only: the Artifact binding crewjam also
	// advertises would need a back channel to the IdP, which is not built.
	for i := range m.SPSSODescriptors {
		var post []crewsaml.IndexedEndpoint
		for _, acs := range m.SPSSODescriptors[i].AssertionConsumerServices {
			if acs.Binding == crewsaml.HTTPPostBinding {
				post = append(post, acs)
			}
		}
		m.SPSSODescriptors[i].AssertionConsumerServices = post
	}
	b, err := xml.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", fmt.Errorf("render SP metadata: %w", err)
	}
	return xml.Header + string(b), nil
}
