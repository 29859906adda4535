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
	ActorKind auditevent.ActorKind `json:"actor_kind"`
	ActorID   string               `json:"actor_id,omitempty"`
	Source    auditevent.Source    `json:"source"`
	RequestID string               `json:"request_id,omitempty"`
	// Method is the gRPC method (or the command) that wrote.
	Method string `json:"method,omitempty"`
	// Gateway says the call came from one of this process's gateways (the
	// in-process connection), whose source and request id are vouched for.
	// It decides how the request is recorded, and is not itself recorded.
	Gateway bool `json:"-"`
}

type requestKey struct{}

// With returns ctx carrying r.
func With(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// From returns the request of ctx. A write without one is the server's own
// (signing key rotation).
func From(ctx context.Context) Request {
	r, ok := ctx.Value(requestKey{}).(Request)
	if !ok {
		return Request{ActorKind: auditevent.ActorKindSystem, Source: auditevent.SourceInternal}
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

// Incoming reads the request id a call carries and its source. Only the
// in-process gateways (gateway true) name a source (rest, scim, sign_in);
// any other caller is gRPC, whatever it claims. A caller's own request id is
// kept when usable.
func Incoming(ctx context.Context, gateway bool) (requestID string, source auditevent.Source) {
	source = auditevent.SourceGrpc
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(SourceKey); gateway && len(v) == 1 {
		switch s := auditevent.Source(v[0]); s {
		case auditevent.SourceRest, auditevent.SourceScim, auditevent.SourceSignIn:
			source = s
		}
	}
	var id string
	if v := md.Get(RequestIDKey); len(v) == 1 {
		id = v[0]
	}
	return RequestID(id), source
}
