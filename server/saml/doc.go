// Package saml is identityd as a SAML service provider: IdP metadata fetched
// and validated, and the SP's own URLs and metadata per tenant.
package saml
