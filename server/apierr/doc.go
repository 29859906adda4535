// Package apierr holds the domain errors of the identity core (a gRPC code, a
// stable reason sent as ErrorInfo, a message for people) and the one mapping of
// any error to a gRPC status at the edge.
package apierr
