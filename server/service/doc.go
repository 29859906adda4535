// Package service implements the identity.v1 gRPC services. Each service is
// constructed with exactly what it uses (the database for reads, the writer,
// the index, the clock); each method converts the request, reads or runs one
// store.Writer transaction (a write is one transaction and one revision), and
// converts back. Authentication,
// validation, authorization and the request's scope happen before a method
// runs (package server), and errors are mapped to gRPC status after it.
package service
