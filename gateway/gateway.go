package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/acme/identity/gateway/requestid"
	"github.com/acme/identity/gateway/scim"
	"github.com/acme/identity/gateway/signin"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/gen/openapi"
)

// MaxBodyBytes bounds every request body; the largest valid request (a group
// with 1,000 initial members) is far below it.
const MaxBodyBytes = 1 << 20

// Handlers are identityd's HTTP handlers: Public serves REST, SCIM, sign-in
// and the SP metadata; Admin serves /metrics, /healthz and /readyz, on the
// public listener too unless the operator gives it its own (--admin-addr).
type Handlers struct {
	Public, Admin http.Handler
}

// through registers a service's REST handlers with a client of it.
func through[C any](register func(context.Context, *runtime.ServeMux, C) error, client func(grpc.ClientConnInterface) C) func(context.Context, *runtime.ServeMux, grpc.ClientConnInterface) error {
	return func(ctx context.Context, mux *runtime.ServeMux, conn grpc.ClientConnInterface) error {
		return register(ctx, mux, client(conn))
	}
}

// New returns the HTTP handlers of identityd over a connection to the core.
// reg receives the HTTP metrics and is served at /metrics, together with
// whatever else is registered there (the gRPC metrics). publicURL is the base
// URL clients reach identityd at; SCIM locations are built on it.
// log receives the requests that failed with a 5xx. With separateAdmin the
// public handler leaves the admin endpoints out.
func New(ctx context.Context, conn grpc.ClientConnInterface, reg *prometheus.Registry, publicURL string, log *slog.Logger, separateAdmin bool) (Handlers, error) {
	rest := runtime.NewServeMux(
		runtime.WithErrorHandler(errorHandler(log)),
		runtime.WithRoutingErrorHandler(routingError),
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{
			Marshaler: &runtime.JSONPb{
				// Unknown fields are refused, so a misspelt field is a 400
				// naming it instead of a silently ignored value.
				UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
				// Every field is answered, false, 0 and "" included: proto3
				// JSON would leave them out, and a denied check would read
				// {"revision":"49"} instead of {"allowed":false,...}.
				MarshalOptions: protojson.MarshalOptions{EmitUnpopulated: true},
			},
		}),
		runtime.SetQueryParameterParser(&strictQuery{}),
		runtime.WithMetadata(requestid.Metadata(requestid.REST)),
		runtime.WithIncomingHeaderMatcher(requestid.HeaderMatcher),
		runtime.WithHealthzEndpoint(healthpb.NewHealthClient(conn)),
	)
	for _, register := range []func(context.Context, *runtime.ServeMux, grpc.ClientConnInterface) error{
		through(identityv1.RegisterProjectServiceHandlerClient, identityv1.NewProjectServiceClient),
		through(identityv1.RegisterTenantServiceHandlerClient, identityv1.NewTenantServiceClient),
		through(identityv1.RegisterUserServiceHandlerClient, identityv1.NewUserServiceClient),
		through(identityv1.RegisterGroupServiceHandlerClient, identityv1.NewGroupServiceClient),
		through(identityv1.RegisterRoleServiceHandlerClient, identityv1.NewRoleServiceClient),
		through(identityv1.RegisterAccessKeyServiceHandlerClient, identityv1.NewAccessKeyServiceClient),
		through(identityv1.RegisterOAuthClientServiceHandlerClient, identityv1.NewOAuthClientServiceClient),
		through(identityv1.RegisterSigningKeyServiceHandlerClient, identityv1.NewSigningKeyServiceClient),
		through(identityv1.RegisterSessionServiceHandlerClient, identityv1.NewSessionServiceClient),
		through(identityv1.RegisterSsoServiceHandlerClient, identityv1.NewSsoServiceClient),
		through(identityv1.RegisterScimServiceHandlerClient, identityv1.NewScimServiceClient),
		through(identityv1.RegisterAuthzServiceHandlerClient, identityv1.NewAuthzServiceClient),
		through(identityv1.RegisterAuditServiceHandlerClient, identityv1.NewAuditServiceClient),
	} {
		if err := register(ctx, rest, conn); err != nil {
			return Handlers{}, fmt.Errorf("register REST handler: %w", err)
		}
	}

	admin := http.NewServeMux()
	admin.Handle("GET /healthz", rest)
	admin.Handle("GET /readyz", ready(healthpb.NewHealthClient(conn)))
	admin.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	mux := http.NewServeMux()
	mux.Handle("/v1/", readWholeBody(longLived(rest)))
	if !separateAdmin {
		for _, p := range []string{"GET /healthz", "GET /readyz", "GET /metrics"} {
			mux.Handle(p, admin)
		}
	}
	mux.HandleFunc("GET /v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openapi.JSON)
	})
	mux.Handle("GET /saml/{tenant_id}/metadata", spMetadata(identityv1.NewSsoServiceClient(conn)))
	signin.Register(mux, conn, publicURL, log)
	mux.Handle(scim.Prefix+"/", scim.New(conn, publicURL, log))

	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "identityd_http_requests_total",
		Help: "HTTP requests by route (rest, scim, signin, admin, other), method and status code.",
	}, []string{"route", "method", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "identityd_http_request_duration_seconds",
		Help:    "HTTP request latency by route (rest, scim, signin, admin, other), method and status code.",
		Buckets: prometheus.DefBuckets,
	}, []string{"route", "method", "code"})
	if err := reg.Register(requests); err != nil {
		return Handlers{}, fmt.Errorf("register metrics: %w", err)
	}
	if err := reg.Register(duration); err != nil {
		return Handlers{}, fmt.Errorf("register metrics: %w", err)
	}
	return Handlers{Public: instrumented(requestid.Middleware(limitBody(validUTF8(mux))), requests, duration),
		Admin: instrumented(admin, requests, duration)}, nil
}

// routeOf names the part of the service a path belongs to, for the metrics.
func routeOf(path string) string {
	switch {
	case strings.HasPrefix(path, "/v1/"):
		return "rest"
	case strings.HasPrefix(path, scim.Prefix+"/"):
		return "scim"
	case strings.HasPrefix(path, "/saml/"), strings.HasPrefix(path, "/oauth2/"), strings.HasPrefix(path, "/.well-known/"):
		return "signin"
	case path == "/metrics", path == "/healthz", path == "/readyz":
		return "admin"
	}
	return "other"
}

// instrumented counts and times h's requests by route, method and code, each
// route through its own curried metrics (built once, not per request).
func instrumented(h http.Handler, requests *prometheus.CounterVec, duration *prometheus.HistogramVec) http.Handler {
	byRoute := map[string]http.Handler{}
	for _, route := range []string{"rest", "scim", "signin", "admin", "other"} {
		labels := prometheus.Labels{"route": route}
		byRoute[route] = promhttp.InstrumentHandlerCounter(requests.MustCurryWith(labels),
			promhttp.InstrumentHandlerDuration(duration.MustCurryWith(labels), h))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		byRoute[routeOf(r.URL.Path)].ServeHTTP(w, r)
	})
}

// ready answers 200 while the instance serves and 503 once it shuts down;
// the HTTP side is served only after the role index is built, so a ready
// instance answers role checks from a complete index.
func ready(health healthpb.HealthClient) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := health.Check(r.Context(), &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			writeError(w, http.StatusServiceUnavailable, codes.Unavailable, "not ready: the instance is starting or shutting down")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ready"}` + "\n"))
	})
}

// longLived lifts the server's write timeout from the REST watch, a stream
// meant to stay open for hours: the timeout would cut it (and lose the event
// in flight) after a minute. Its heartbeats keep proxies from closing it.
func longLived(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ":watchRoleChanges") || strings.HasSuffix(r.URL.Path, "/auditEvents:stream") {
			_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
		}
		next.ServeHTTP(w, r)
	})
}

// readWholeBody reads a REST request's body before the mapping does, so that
// one larger than MaxBodyBytes is answered 413 (the mapping would report the
// cut-off read as a malformed body, 400).
func readWholeBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			body, err := io.ReadAll(r.Body)
			var tooBig *http.MaxBytesError
			switch {
			case errors.As(err, &tooBig):
				writeError(w, http.StatusRequestEntityTooLarge, codes.ResourceExhausted,
					fmt.Sprintf("the request body is larger than %d bytes", MaxBodyBytes))
				return
			case err != nil:
				writeError(w, http.StatusBadRequest, codes.InvalidArgument, "the request body could not be read")
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		next.ServeHTTP(w, r)
	})
}

func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}
