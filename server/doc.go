// Package server implements the gRPC services of proto/identity/v1: the
// interceptor chain (recover, log, metrics, authenticate, validate, authorize)
// and one service type per proto service, each converting its request, running
// one ent transaction and converting back. It is the only package with
// business rules and the only one that touches storage.
package server
