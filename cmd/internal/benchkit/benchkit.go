// Package benchkit holds what the benchmark programs share: the throwaway
// key-encryption key of their databases and an IdP metadata document, since a
// tenant needs SAML configured before SCIM can be enabled.
package benchkit

import (
	_ "embed"

	"github.com/acme/identity/server/signing"
)

// KEK encrypts the throwaway signing keys of a benchmark database.
var KEK = make([]byte, signing.KeySize)

// MetadataXML is an Okta-shaped IdP metadata document.
//
//go:embed okta_metadata.xml
var MetadataXML string
