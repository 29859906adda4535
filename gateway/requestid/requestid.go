// Package requestid gives every HTTP request an id, answered in the
// X-Request-Id header and sent with the request's gRPC calls, so that the
// audit trail links an IdP's SCIM request, or an operator's REST call, to
// the writes it made and to the log lines about it.
package requestid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"regexp"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/metadata"
)

// Header is the HTTP header of the request id, both ways.
const Header = "X-Request-Id"

// The metadata the core reads (server/audit): the request id, and the door
// the request came through.
const (
	mdRequestID = "x-request-id"
	mdSource    = "x-identity-source"
)

// Sources a gateway names on its calls.
const (
	REST   = "rest"
	SCIM   = "scim"
	SignIn = "sign_in"
)

// valid accepts the ids proxies and clients commonly send (UUIDs, hex,
// base64url); anything else is replaced by a new id.
var valid = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

type key struct{}

// Middleware takes the request's X-Request-Id when it is usable (a proxy in
// front set it), else makes one, and answers it.
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(Header)
		if !valid.MatchString(id) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set(Header, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), key{}, id)))
	})
}

// From returns the request id of ctx ("" outside Middleware).
func From(ctx context.Context) string {
	id, _ := ctx.Value(key{}).(string)
	return id
}

// Outgoing returns ctx whose gRPC calls carry the request id and source.
func Outgoing(ctx context.Context, source string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, mdRequestID, From(ctx), mdSource, source)
}

// Metadata is Outgoing's metadata for the REST mapping
// (runtime.WithMetadata).
func Metadata(source string) func(context.Context, *http.Request) metadata.MD {
	return func(_ context.Context, r *http.Request) metadata.MD {
		return metadata.Pairs(mdRequestID, From(r.Context()), mdSource, source)
	}
}

// HeaderMatcher is the REST mapping's default header forwarding, except
// that a client cannot send the request id or the source as gRPC metadata
// (Grpc-Metadata-X-Request-Id): Metadata sends them, once.
func HeaderMatcher(key string) (string, bool) {
	switch strings.ToLower(key) {
	case "grpc-metadata-" + mdRequestID, "grpc-metadata-" + mdSource:
		return "", false
	}
	return runtime.DefaultHeaderMatcher(key)
}
