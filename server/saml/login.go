package saml

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"
	crewsaml "github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"
)

// ClockSkew is the leeway allowed between the IdP's clock and ours on an
// assertion's NotBefore and NotOnOrAfter (crewjam/saml's MaxClockSkew).
var ClockSkew = crewsaml.MaxClockSkew

// Failure codes of a refused SAML response, as users and administrators see
// them (the reason itself goes to the server log only).
const (
	FailMalformed          = "malformed_response"
	FailSignature          = "invalid_signature"
	FailIssuer             = "wrong_issuer"
	FailAudience           = "wrong_audience"
	FailRecipient          = "wrong_recipient"
	FailExpired            = "assertion_expired"
	FailNotYetValid        = "assertion_not_yet_valid"
	FailInResponseTo       = "wrong_in_response_to"
	FailMultipleAssertions = "multiple_assertions"
	FailNoNameID           = "no_name_id"
)

// LoginError is a refused SAML response: Code for the user, Reason for the
// log.
type LoginError struct {
	Code   string
	Reason error
}

func (e *LoginError) Error() string { return e.Code + ": " + e.Reason.Error() }

// Login is what a verified SAML response says.
type Login struct {
	// AssertionID is the assertion's ID, to be accepted once.
	AssertionID string
	// NameID is the subject's NameID, as the IdP sent it.
	NameID string
	// Expires is when the assertion stops being valid (its NotOnOrAfter plus
	// the skew): remember its id until then.
	Expires time.Time
}

// provider returns crewjam's service provider for a tenant and its IdP (a
// fresh value: callers may set its options).
func (sp SP) provider(tenantID, idpMetadataXML string) (*crewsaml.ServiceProvider, error) {
	idp, err := sp.parsed.get(idpMetadataXML)
	if err != nil {
		return nil, fmt.Errorf("stored IdP metadata: %w", err)
	}
	urls := sp.URLs(tenantID)
	acs, err := url.Parse(urls.ACS)
	if err != nil {
		return nil, err
	}
	md, err := url.Parse(urls.Metadata)
	if err != nil {
		return nil, err
	}
	return &crewsaml.ServiceProvider{
		EntityID: urls.EntityID, AcsURL: *acs, MetadataURL: *md,
		IDPMetadata:       idp,
		AuthnNameIDFormat: crewsaml.EmailAddressNameIDFormat,
		// Only SP-initiated responses: InResponseTo must be the request's.
		AllowIDPInitiated: false,
	}, nil
}

// AuthnRequest is a SAML AuthnRequest on its way to the IdP.
type AuthnRequest struct {
	// ID is the request's ID; the response's InResponseTo must equal it.
	ID string
	// RedirectURL is set for the HTTP-Redirect binding: send the browser there.
	RedirectURL string
	// PostURL and PostForm are set for the HTTP-POST binding: the browser
	// posts SAMLRequest and RelayState there.
	PostURL, SAMLRequest string
}

// NewAuthnRequest makes an AuthnRequest of tenantID to the IdP its metadata
// describes, carrying relayState.
func (sp SP) NewAuthnRequest(tenantID, idpMetadataXML, ssoURL, binding, relayState string) (*AuthnRequest, error) {
	p, err := sp.provider(tenantID, idpMetadataXML)
	if err != nil {
		return nil, err
	}
	req, err := p.MakeAuthenticationRequest(ssoURL, binding, crewsaml.HTTPPostBinding)
	if err != nil {
		return nil, fmt.Errorf("authn request: %w", err)
	}
	out := &AuthnRequest{ID: req.ID}
	if binding == crewsaml.HTTPRedirectBinding {
		u, err := req.Redirect(relayState, p)
		if err != nil {
			return nil, fmt.Errorf("authn request: %w", err)
		}
		out.RedirectURL = u.String()
		return out, nil
	}
	doc := etree.NewDocument()
	doc.SetRoot(req.Element())
	raw, err := doc.WriteToBytes()
	if err != nil {
		return nil, err
	}
	out.PostURL, out.SAMLRequest = ssoURL, base64.StdEncoding.EncodeToString(raw)
	return out, nil
}

// Verify checks a SAMLResponse (base64, as posted) for tenantID against that
// tenant's IdP only: the signature (over the Response or the Assertion) by
// one of the certificates of its stored metadata, the Issuer, the Audience
// (our entity ID), Destination and Recipient (our ACS URL), the validity
// window with ClockSkew, and InResponseTo equal to requestID (absent when
// requestID is empty: an IdP-initiated login). A response with
// more than one assertion is refused outright: no one sends it but an
// attacker wrapping a signed assertion.
func (sp SP) Verify(tenantID, idpMetadataXML, samlResponse, requestID string) (*Login, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(samlResponse), ""))
	if err != nil {
		return nil, &LoginError{FailMalformed, fmt.Errorf("SAMLResponse is not base64: %w", err)}
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil || doc.Root() == nil {
		return nil, &LoginError{FailMalformed, fmt.Errorf("SAMLResponse is not XML: %v", err)}
	}
	assertions := 0
	for _, el := range doc.Root().ChildElements() {
		if el.Tag == "Assertion" || el.Tag == "EncryptedAssertion" {
			assertions++
		}
	}
	if assertions > 1 {
		return nil, &LoginError{FailMultipleAssertions, fmt.Errorf("%d assertions in one response", assertions)}
	}
	p, err := sp.provider(tenantID, idpMetadataXML)
	if err != nil {
		return nil, err
	}
	// IdP-initiated (no request): crewjam/saml then skips every InResponseTo
	// check, so the response and its assertion are checked here to answer no
	// request at all.
	unsolicited := requestID == ""
	p.AllowIDPInitiated = unsolicited
	if unsolicited && doc.Root().SelectAttrValue("InResponseTo", "") != "" {
		return nil, &LoginError{FailInResponseTo, errors.New("an unsolicited response answers a request")}
	}
	a, err := p.ParseXMLResponse(raw, []string{requestID}, p.AcsURL)
	if err != nil {
		var ire *crewsaml.InvalidResponseError
		if errors.As(err, &ire) {
			err = ire.PrivateErr
		}
		return nil, &LoginError{classify(err), err}
	}
	if a.Subject == nil || a.Subject.NameID == nil || strings.TrimSpace(a.Subject.NameID.Value) == "" {
		return nil, &LoginError{FailNoNameID, errors.New("the assertion has no NameID")}
	}
	// crewjam/saml checks the audience and recipient it finds, but passes an
	// assertion that has none: an IdP signing for many SPs with one key
	// could then be replayed here. Both are required.
	if !hasAudience(a, p.EntityID) {
		return nil, &LoginError{FailAudience, errors.New("the assertion is not restricted to this SP")}
	}
	if !hasBearerRecipient(a, p.AcsURL.String()) {
		return nil, &LoginError{FailRecipient, errors.New("no bearer SubjectConfirmation names this ACS")}
	}
	if unsolicited {
		for _, sc := range a.Subject.SubjectConfirmations {
			if sc.SubjectConfirmationData != nil && sc.SubjectConfirmationData.InResponseTo != "" {
				return nil, &LoginError{FailInResponseTo, errors.New("an unsolicited assertion answers a request")}
			}
		}
	}
	expires := time.Now().Add(ClockSkew)
	if a.Conditions != nil && !a.Conditions.NotOnOrAfter.IsZero() {
		expires = a.Conditions.NotOnOrAfter.Add(ClockSkew)
	}
	return &Login{AssertionID: a.ID, NameID: a.Subject.NameID.Value, Expires: expires}, nil
}

// classify names what crewjam/saml refused, from its (private) reason.
func classify(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "signature"), strings.Contains(msg, "Signature"), strings.Contains(msg, "certificate"):
		return FailSignature
	case strings.Contains(msg, "InResponseTo"), strings.Contains(msg, "request IDs"):
		return FailInResponseTo
	case strings.Contains(msg, "ssuer"):
		return FailIssuer
	case strings.Contains(msg, "udience"):
		return FailAudience
	case strings.Contains(msg, "Destination"), strings.Contains(msg, "Recipient"):
		return FailRecipient
	case strings.Contains(msg, "not yet valid"):
		return FailNotYetValid
	case strings.Contains(msg, "expired"):
		return FailExpired
	}
	return FailMalformed
}

// metadataCache keeps stored IdP metadata parsed, by the document's SHA-256:
// parsing it is a good part of a login's cost, and it changes only when an
// administrator sets it. The parsed documents are only read.
type metadataCache struct {
	mu   sync.Mutex
	docs map[[sha256.Size]byte]*crewsaml.EntityDescriptor
}

// maxCachedMetadata bounds the cache; past it, it starts over.
const maxCachedMetadata = 1024

func (c *metadataCache) get(xmlDoc string) (*crewsaml.EntityDescriptor, error) {
	key := sha256.Sum256([]byte(xmlDoc))
	c.mu.Lock()
	ed := c.docs[key]
	c.mu.Unlock()
	if ed != nil {
		return ed, nil
	}
	ed, err := samlsp.ParseMetadata([]byte(xmlDoc))
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.docs == nil || len(c.docs) >= maxCachedMetadata {
		c.docs = map[[sha256.Size]byte]*crewsaml.EntityDescriptor{}
	}
	c.docs[key] = ed
	c.mu.Unlock()
	return ed, nil
}

func hasAudience(a *crewsaml.Assertion, entityID string) bool {
	if a.Conditions == nil {
		return false
	}
	for _, r := range a.Conditions.AudienceRestrictions {
		if r.Audience.Value == entityID {
			return true
		}
	}
	return false
}

func hasBearerRecipient(a *crewsaml.Assertion, acs string) bool {
	for _, sc := range a.Subject.SubjectConfirmations {
		if sc.Method == "urn:oasis:names:tc:SAML:2.0:cm:bearer" && sc.SubjectConfirmationData != nil &&
			sc.SubjectConfirmationData.Recipient == acs {
			return true
		}
	}
	return false
}
