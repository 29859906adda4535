package authn

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// Credentials: an access key is `<ProjectID>:<KeyID>.<Secret>`, a SCIM token
// `scim_<TokenID>.<Secret>`. The id locates the row; the secret (32 random
// bytes, base64url) is checked against its stored SHA-256 in constant time.
const (
	secretIDBytes = 16
	secretBytes   = 32
	// ScimPrefix starts every SCIM token.
	ScimPrefix = "scim_"
)

// newSecret returns a fresh id, the credential `<prefix><id>.<secret>` and the
// hash to store. The secret itself is never stored.
func newSecret(prefix string) (id, credential string, hash []byte, err error) {
	b := make([]byte, secretIDBytes+secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", nil, fmt.Errorf("random: %w", err)
	}
	id = hex.EncodeToString(b[:secretIDBytes])
	secret := base64.RawURLEncoding.EncodeToString(b[secretIDBytes:])
	return id, prefix + id + "." + secret, hashSecret(secret), nil
}

func hashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// NewAccessKey returns a fresh key id, the access key (`<KeyID>.<Secret>`) and
// the hash to store.
func NewAccessKey() (id, key string, hash []byte, err error) { return newSecret("") }

// NewScimToken returns a fresh token id, the SCIM token (`scim_<TokenID>.<Secret>`)
// and the hash to store.
func NewScimToken() (id, token string, hash []byte, err error) { return newSecret(ScimPrefix) }

// FormatCredential joins a project id and an access key as callers present them.
func FormatCredential(projectID, accessKey string) string {
	return projectID + ":" + accessKey
}

// splitSecret splits `<id>.<secret>` and checks the id's shape.
func splitSecret(s string) (id, secret string, ok bool) {
	id, secret, ok = strings.Cut(s, ".")
	return id, secret, ok && len(id) == 2*secretIDBytes && secret != ""
}

// NewOAuthClient returns a fresh OAuth client id (32 hex digits), a client
// secret (32 random bytes, base64url) and the hash to store.
func NewOAuthClient() (id, secret string, hash []byte, err error) {
	id, credential, hash, err := newSecret("")
	_, secret, _ = strings.Cut(credential, ".")
	return id, secret, hash, err
}

// NewOpaqueToken returns a random token to hand to a browser or a client
// (a RelayState, a code, a refresh token: 32 bytes, base64url) and the id to
// store it under, TokenID(token): the database never holds a usable token.
func NewOpaqueToken() (token, id string, err error) {
	_, token, _, err = NewOAuthClient()
	return token, TokenID(token), err
}

// TokenID is the id an opaque token is stored under: its SHA-256, in hex.
func TokenID(token string) string { return hex.EncodeToString(hashSecret(token)) }

// SecretMatches says, in constant time, whether secret is the one whose hash
// was stored.
func SecretMatches(hash []byte, secret string) bool {
	return subtle.ConstantTimeCompare(hashSecret(secret), hash) == 1
}
