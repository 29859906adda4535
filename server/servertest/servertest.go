// Package servertest runs the identity core in process for the tests of its
// clients (the REST and SCIM gateways), as httptest runs HTTP servers: a
// fresh SQLite database, a project, the production interceptor chain behind a
// gRPC connection, and the HTTP handler identityd serves.
package servertest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"testing"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"

	"github.com/acme/identity/gateway"
	"github.com/acme/identity/server"
)

// PublicURL is the public base URL the test server believes it has.
const PublicURL = "https://id.example.com"

// Server is a running core with its HTTP side.
type Server struct {
	// HTTP serves the gateway handler, as identityd's HTTP listener does.
	HTTP *httptest.Server
	// Conn is a gRPC connection to the core.
	Conn *grpc.ClientConn
	// Credential is the root credential, `<ProjectID>:<AccessKey>`.
	Credential string
}

// Start runs a server for the test and stops it at cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	ctx := context.Background()
	db, err := server.OpenDatabase(ctx, server.SQLiteURL(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cred, err := server.InitProject(ctx, db, "test")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	metrics := grpcprom.NewServerMetrics()
	reg.MustRegister(metrics)
	srv := server.New(db, slog.New(slog.NewTextHandler(io.Discard, nil)), server.Options{PublicURL: PublicURL})
	runCtx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	if err := srv.Start(runCtx); err != nil {
		t.Fatal(err)
	}
	s, health, err := srv.NewGRPCServer(metrics)
	if err != nil {
		t.Fatal(err)
	}
	health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	lis := bufconn.Listen(1 << 20)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	conn, err := grpc.NewClient("passthrough:///test",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	h, err := gateway.New(ctx, conn, reg, PublicURL)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return &Server{HTTP: hs, Conn: conn, Credential: cred}
}

// Context returns a context whose gRPC calls carry cred.
func Context(cred string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+cred)
}
