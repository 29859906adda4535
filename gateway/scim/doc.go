// Package scim translates SCIM 2.0 (RFC 7643, RFC 7644) as Okta and
// Microsoft Entra ID speak it into calls of the gRPC API. It holds the
// protocol only: the tenant comes from the credential (ScimService
// ResolveScimTenant, whose answer is reused for a second: tenants.go), every
// read and write is a gRPC call, and errors from the core are rendered once,
// in errors.go.
package scim
