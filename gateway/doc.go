// Package gateway serves the HTTP side of identityd: the REST mapping of the
// gRPC API under /v1 (grpc-gateway, from the google.api.http annotations), its
// OpenAPI document, the SCIM 2.0 gateway under /scim/v2 (package scim), the
// SAML SP metadata, /healthz and /metrics. It is a plain gRPC client of the
// core: it owns no storage and no business rules.
package gateway
