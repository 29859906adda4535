package scim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/acme/identity/gateway/requestid"
	"github.com/acme/identity/gateway/scim/resource"
	identityv1 "github.com/acme/identity/gen/identity/v1"
)

const (
	contentType = "application/scim+json"
	// MaxBodyBytes bounds a request body; a group push of 1,000 members is
	// well below it.
	MaxBodyBytes = 1 << 20
	// Prefix is where the SCIM endpoints are served.
	Prefix = "/scim/v2"
)

// Server is the SCIM gateway: an http.Handler over a gRPC connection to the
// core.
type Server struct {
	scim  identityv1.ScimServiceClient
	base  string // the public SCIM base URL, for locations and references
	pages *pageCache
	mux   *http.ServeMux
	// ops serves the resource endpoints without authentication: the
	// operations of a Bulk request, which was authenticated as a whole.
	ops *http.ServeMux
	// audit records every authenticated request on the audit trail.
	audit identityv1.AuditServiceClient
	log   *slog.Logger
	hints *tenantHints
}

// New returns the SCIM gateway. publicURL is the base URL identityd is
// reached at from outside; log receives the requests the audit trail could
// not record.
func New(conn grpc.ClientConnInterface, publicURL string, log *slog.Logger) *Server {
	s := &Server{
		scim:  identityv1.NewScimServiceClient(conn),
		audit: identityv1.NewAuditServiceClient(conn),
		log:   log,
		base:  strings.TrimRight(publicURL, "/") + Prefix,
		pages: newPageCache(),
		hints: newTenantHints(),
		mux:   http.NewServeMux(),
		ops:   http.NewServeMux(),
	}
	route := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		s.mux.Handle(pattern, s.authenticated(h))
		s.ops.Handle(pattern, errorsWritten(h))
	}
	handler[resource.User, *resource.User]{s, users{identityv1.NewUserServiceClient(conn), identityv1.NewGroupServiceClient(conn), s.base}}.routes(route)
	handler[resource.Group, *resource.Group]{s, groups{identityv1.NewGroupServiceClient(conn), s.base}}.routes(route)
	route("GET "+Prefix+"/ServiceProviderConfig", s.serviceProviderConfig)
	route("GET "+Prefix+"/ResourceTypes", s.resourceTypes)
	route("GET "+Prefix+"/ResourceTypes/{name}", s.resourceType)
	route("GET "+Prefix+"/Schemas", s.schemas)
	route("GET "+Prefix+"/Schemas/{id}", s.schema)
	s.mux.Handle("POST "+Prefix+"/Bulk", s.authenticated(s.bulk))
	s.mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(http.StatusNotFound, "", "%s %s is not a SCIM endpoint of this service", r.Method, r.URL.Path))
	})
	return s
}

// ServeHTTP serves a request; every answer, errors included, is SCIM JSON.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	}
	s.mux.ServeHTTP(w, r)
}

type tenantKey struct{}

// authenticated resolves the tenant from the credential (the core decides:
// a SCIM token, or an access key with Tenant Admin on exactly one tenant; a
// recent answer is reused, see tenantHints), then runs h with the credential
// forwarded on every gRPC call.
func (s *Server) authenticated(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if auth == "" {
			writeError(w, errorf(http.StatusUnauthorized, "", "send Authorization: %s", credentialForms))
			return
		}
		ctx := requestid.Outgoing(metadata.AppendToOutgoingContext(r.Context(), "authorization", auth), requestid.SCIM)
		key := hintKey(auth)
		who, ok := s.hints.get(key)
		if !ok {
			var err error
			if who, err = s.scim.ResolveScimTenant(ctx, &identityv1.ResolveScimTenantRequest{}); err != nil {
				writeError(w, err)
				return
			}
			s.hints.put(key, who)
		}
		ctx = context.WithValue(ctx, tenantKey{}, who.GetTenantId())
		if status := s.audited(w, r.WithContext(ctx), who.GetTenantId(), errorsWritten(h)); status == http.StatusUnauthorized || status == http.StatusForbidden {
			s.hints.drop(key)
		}
	})
}

// errorsWritten serves h, answering its error as a SCIM error.
func errorsWritten(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, err)
		}
	})
}

func tenantOf(ctx context.Context) string {
	t, _ := ctx.Value(tenantKey{}).(string)
	return t
}

// readJSON decodes a request body of a SCIM or JSON media type into v.
func readJSON(r *http.Request, v any) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != contentType && mt != "application/json") {
			return nil, errorf(http.StatusUnsupportedMediaType, "invalidSyntax", "send the body as %s or application/json, not %s", contentType, ct)
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errorf(http.StatusRequestEntityTooLarge, "tooLarge", "the body is larger than %d bytes", MaxBodyBytes)
		}
		return nil, errorf(http.StatusBadRequest, "invalidSyntax", "the body could not be read")
	}
	noteBody(r.Context(), body)
	if !utf8.Valid(body) {
		// encoding/json would replace the bytes with U+FFFD: two different
		// names would silently become one.
		return nil, errorf(http.StatusBadRequest, "invalidSyntax", "the body is not valid UTF-8")
	}
	if v == nil {
		return body, nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, errorf(http.StatusBadRequest, "invalidValue", "%s: expected %s, got %s", typeErr.Field, jsonKind(typeErr.Type), typeErr.Value)
		}
		return nil, errorf(http.StatusBadRequest, "invalidSyntax", "the body is not valid JSON: %v", err)
	}
	return body, nil
}

// jsonKind names the JSON value a Go type decodes from, for messages that
// must not show Go's type names.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "a number"
}

// writeJSON writes a SCIM resource with its status, and its ETag when known.
func writeJSON(w http.ResponseWriter, status int, v any, etag string) {
	w.Header().Set("Content-Type", contentType)
	if etag != "" {
		w.Header().Set("ETag", etag)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
