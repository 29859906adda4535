// Package instancetest runs an identityd instance for the tests of its
// clients (the REST and SCIM gateways, the binary), as httptest runs HTTP
// servers: a fresh SQLite database with a project, the production
// interceptor chain behind a gRPC connection, and the HTTP handler identityd
// serves. Nothing in production imports it.
package instancetest

import (
	"bytes"
	"context"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/acme/identity/server/authn"
	"github.com/acme/identity/server/instance"
	"github.com/acme/identity/server/signing"
	"github.com/acme/identity/server/store"
)

// PublicURL is the public base URL the test server believes it has.
const PublicURL = "https://id.example.com"

// Server is a running instance with its HTTP side.
type Server struct {
	// HTTP serves the instance's HTTP handler, as identityd's HTTP listener
	// does.
	HTTP *httptest.Server
	// Conn is a gRPC connection to the core.
	Conn *grpc.ClientConn
	// Credential is the root credential, `<ProjectID>:<AccessKey>`.
	Credential string
}

// KeyEncryptionKey is the tests' key-encryption key: every instance of a test
// database must have the same one.
var KeyEncryptionKey = bytes.Repeat([]byte{0x5a}, signing.KeySize)

// Start runs an instance on a new SQLite store for the test and stops it at
// cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartOn(t, store.SQLiteURL(t.TempDir()))
}

// StartOn runs an instance on the database at url (see Databases) for the
// test and stops it at cleanup; options change its configuration.
func StartOn(t testing.TB, url string, options ...func(*instance.Config)) *Server {
	t.Helper()
	ctx := context.Background()
	cfg := instance.Config{
		DatabaseURL:      url,
		PublicURL:        PublicURL,
		Metrics:          prometheus.NewRegistry(),
		KeyEncryptionKey: KeyEncryptionKey,
	}
	for _, o := range options {
		o(&cfg)
	}
	inst, err := instance.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(inst.Close)
	cred, err := authn.InitProject(ctx, inst.DB, "test")
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(inst.HTTP)
	t.Cleanup(hs.Close)
	return &Server{HTTP: hs, Conn: inst.Conn, Credential: cred}
}

// Context returns a context whose gRPC calls carry cred.
func Context(cred string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+cred)
}
