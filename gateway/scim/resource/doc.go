// Package resource holds the SCIM User and Group resources (RFC 7643) as
// typed structs, and one mapping function per direction between them and
// the messages of the gRPC API.
package resource
