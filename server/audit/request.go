package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"regexp"

	"google.golang.org/grpc/metadata"

	"github.com/acme/identity/ent/auditevent"
)

// Metadata keys the gateways send with their gRPC calls: the request id they
// answered the HTTP client with, and the door the request came through.
const (
	RequestIDKey = "x-request-id"
	SourceKey    = "x-identity-source"
)

// Request is who made a request and how: what a write's audit event records.
type Request struct {
	ActorKind auditevent.ActorKind
	ActorID   string
	Source    auditevent.Source
	RequestID string
	// Method is the gRPC method (or the command) that wrote.
	Method string
}

type requestKey struct{}

// With returns ctx carrying r.
func With(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// From returns the request of ctx. A write without one (a background task)
// is recorded as the operator's.
func From(ctx context.Context) Request {
	r, ok := ctx.Value(requestKey{}).(Request)
	if !ok {
		return Request{ActorKind: auditevent.ActorKindOperator, Source: auditevent.SourceCli}
	}
	return r
}

// validRequestID accepts the ids proxies and clients commonly send (UUIDs,
// hex, base64url); anything else is replaced, so the trail never stores an
// attacker's free text as an id.
var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// RequestID returns id when it is a usable request id, else a new one.
func RequestID(id string) string {
	if validRequestID.MatchString(id) {
		return id
	}
	return NewRequestID()
}

// NewRequestID returns a random request id.
func NewRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Incoming reads the request id and source a gateway sent with a call.
// A direct gRPC caller is source grpc; an unknown source is ignored (the
// source describes the caller's own request; the actor is what the trail
// vouches for).
func Incoming(ctx context.Context) (requestID string, source auditevent.Source) {
	source = auditevent.SourceGrpc
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(SourceKey); len(v) == 1 {
		if s := auditevent.Source(v[0]); auditevent.SourceValidator(s) == nil && s != auditevent.SourceCli {
			source = s
		}
	}
	var id string
	if v := md.Get(RequestIDKey); len(v) == 1 {
		id = v[0]
	}
	return RequestID(id), source
}
