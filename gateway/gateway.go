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

	"github.com/acme/identity/gateway/scim"
	"github.com/acme/identity/gateway/signin"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/gen/openapi"
)

// MaxBodyBytes bounds every request body; the largest valid request (a group
// with 1,000 initial members) is far below it.
const MaxBodyBytes = 1 << 20

// New returns the HTTP handler of identityd over a connection to the core.
// reg receives the HTTP metrics and is served at /metrics, together with
// whatever else is registered there (the gRPC metrics). publicURL is the base
// URL clients reach identityd at; SCIM locations are built on it.
// log receives the requests that failed with a 5xx.
func New(ctx context.Context, conn *grpc.ClientConn, reg *prometheus.Registry, publicURL string, log *slog.Logger) (http.Handler, error) {
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
		runtime.WithHealthzEndpoint(healthpb.NewHealthClient(conn)),
	)
	for _, register := range []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		identityv1.RegisterProjectServiceHandler,
		identityv1.RegisterTenantServiceHandler,
		identityv1.RegisterUserServiceHandler,
		identityv1.RegisterGroupServiceHandler,
		identityv1.RegisterRoleServiceHandler,
		identityv1.RegisterAccessKeyServiceHandler,
		identityv1.RegisterOAuthClientServiceHandler,
		identityv1.RegisterSigningKeyServiceHandler,
		identityv1.RegisterSessionServiceHandler,
		identityv1.RegisterSsoServiceHandler,
		identityv1.RegisterScimServiceHandler,
		identityv1.RegisterAuthzServiceHandler,
	} {
		if err := register(ctx, rest, conn); err != nil {
			return nil, fmt.Errorf("register REST handler: %w", err)
		}
	}

	mux := http.NewServeMux()
	mux.Handle("/v1/", readWholeBody(longLived(rest)))
	mux.Handle("GET /healthz", rest)
	mux.HandleFunc("GET /v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openapi.JSON)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("GET /saml/{tenant_id}/metadata", spMetadata(identityv1.NewSsoServiceClient(conn)))
	signin.Register(mux, conn, publicURL, log)
	mux.Handle(scim.Prefix+"/", scim.New(conn, publicURL))

	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "identityd_http_requests_total",
		Help: "HTTP requests by method and status code.",
	}, []string{"method", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "identityd_http_request_duration_seconds",
		Help:    "HTTP request latency by method and status code.",
		Buckets: prometheus.DefBuckets,
	}, []string{"method", "code"})
	if err := reg.Register(requests); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	if err := reg.Register(duration); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	var h http.Handler = limitBody(validUTF8(mux))
	h = promhttp.InstrumentHandlerDuration(duration, h)
	h = promhttp.InstrumentHandlerCounter(requests, h)
	return h, nil
}

// longLived lifts the server's write timeout from the REST watch, a stream
// meant to stay open for hours: the timeout would cut it (and lose the event
// in flight) after a minute. Its heartbeats keep proxies from closing it.
func longLived(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ":watchRoleChanges") {
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
