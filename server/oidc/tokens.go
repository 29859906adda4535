// Package oidc mints and verifies identityd's OpenID Connect tokens: the
// access token (a JWT carrying the user's effective roles) and the ID token,
// both signed by the project's signing key (package signing).
package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/acme/identity/server/signing"
)

const (
	// AccessTokenTTL is how long an access token is valid, unless its tenant
	// sets another lifetime (at most an hour).
	AccessTokenTTL = 5 * time.Minute
	// IDTokenTTL is how long an ID token is valid.
	IDTokenTTL = 5 * time.Minute
	// leeway is the clock skew allowed when verifying our own tokens.
	leeway = 30 * time.Second
)

// TenantGrants are a user's effective roles in a tenant, and the
// permissions they carry, at the revision the token reflects.
type TenantGrants struct {
	Roles       []string `json:"roles"`
	Permissions []string `json:"permissions"`
}

// AccessClaims are the claims of an access token.
type AccessClaims struct {
	jwt.Claims
	// SessionID ("sid") is the session the token was issued in.
	SessionID string `json:"sid"`
	// TenantID ("tid") is the user's tenant.
	TenantID string `json:"tid"`
	// Tenants maps the tenant id to the user's effective roles there.
	Tenants map[string]TenantGrants `json:"tenants"`
	// Revision ("rev") is the change-log revision the roles reflect.
	Revision int64  `json:"rev"`
	Scope    string `json:"scope,omitempty"`
}

// IDClaims are the claims of an ID token.
type IDClaims struct {
	jwt.Claims
	Nonce     string `json:"nonce,omitempty"`
	AuthTime  int64  `json:"auth_time"`
	SessionID string `json:"sid"`
	TenantID  string `json:"tid"`
	Email     string `json:"email,omitempty"`
	Name      string `json:"name,omitempty"`
}

// Issuer mints and verifies tokens for the issuer URL.
type Issuer struct {
	url  string
	keys *signing.Keyring
	now  func() time.Time
}

// NewIssuer returns the issuer at url (the public URL, exactly as the
// discovery document says), signing with keys.
func NewIssuer(url string, keys *signing.Keyring, now func() time.Time) *Issuer {
	return &Issuer{url: url, keys: keys, now: now}
}

// URL is the issuer identifier ("iss").
func (i *Issuer) URL() string { return i.url }

// JWT types (the "typ" header): an access token is "at+jwt" (RFC 9068), so
// an ID token, "JWT", is never taken for one.
const (
	accessTokenType = "at+jwt"
	idTokenType     = "JWT"
)

// MintAccess signs an access token with the signing key of the project ctx
// is scoped to.
func (i *Issuer) MintAccess(ctx context.Context, c AccessClaims) (string, error) {
	return i.mint(ctx, accessTokenType, c)
}

// MintID signs an ID token likewise.
func (i *Issuer) MintID(ctx context.Context, c IDClaims) (string, error) {
	return i.mint(ctx, idTokenType, c)
}

func (i *Issuer) mint(ctx context.Context, typ string, claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("token claims: %w", err)
	}
	return i.keys.Sign(ctx, typ, payload)
}

// ErrInvalidToken is any access token that is not one of ours, valid now.
var ErrInvalidToken = errors.New("the access token is invalid or expired")

// VerifyAccess checks an access token: its type, its signature by a
// published key of the project its tenant belongs to (projectOf answers
// it), its issuer and its validity window; it returns its claims.
func (i *Issuer) VerifyAccess(ctx context.Context, token string, projectOf func(tenantID string) (string, bool)) (*AccessClaims, error) {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{signing.Algorithm})
	if err != nil || len(tok.Headers) != 1 {
		return nil, ErrInvalidToken
	}
	if typ, _ := tok.Headers[0].ExtraHeaders[jose.HeaderType].(string); typ != accessTokenType {
		return nil, ErrInvalidToken
	}
	// The claims are read unverified only to find the tenant, hence the
	// project whose keys alone may have signed the token.
	var unverified AccessClaims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, ErrInvalidToken
	}
	projectID, ok := projectOf(unverified.TenantID)
	if !ok {
		return nil, ErrInvalidToken
	}
	key, ok, err := i.keys.VerificationKey(ctx, projectID, tok.Headers[0].KeyID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrInvalidToken
	}
	var c AccessClaims
	if err := tok.Claims(key, &c); err != nil {
		return nil, ErrInvalidToken
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: i.url, Time: i.now()}, leeway); err != nil || c.Subject == "" || c.TenantID == "" {
		return nil, ErrInvalidToken
	}
	return &c, nil
}
