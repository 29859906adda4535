package server_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/acme/identity/ent"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server"
)

// database is one storage backend the suites run on.
type database struct {
	name string
	// url returns the URL of a new, empty database owned by the test.
	url func(t testing.TB) string
}

// databases returns SQLite always, and PostgreSQL when IDENTITY_TEST_POSTGRES
// holds a connection URL (each test then creates and drops its own database).
func databases() []database {
	dbs := []database{{name: "sqlite", url: func(t testing.TB) string {
		return server.SQLiteURL(t.TempDir())
	}}}
	if base := os.Getenv("IDENTITY_TEST_POSTGRES"); base != "" {
		dbs = append(dbs, database{name: "postgres", url: func(t testing.TB) string { return newPostgresDatabase(t, base) }})
	}
	return dbs
}

func newPostgresDatabase(t testing.TB, base string) string {
	t.Helper()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "identity_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop database: %v", err)
		}
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse IDENTITY_TEST_POSTGRES: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// forEachDB runs a test once per database.
func forEachDB(t *testing.T, fn func(t *testing.T, db database)) {
	for _, db := range databases() {
		t.Run(db.name, func(t *testing.T) { fn(t, db) })
	}
}

// env is a running server over a real gRPC connection (bufconn) with the
// production interceptor chain, and clients carrying the root credential.
type env struct {
	url        string // the database's URL
	clock      *fakeClock
	db         *ent.Client
	conn       *grpc.ClientConn
	credential string
	ctx        context.Context // carries the root credential
	logs       *syncBuffer

	projects identityv1.ProjectServiceClient
	tenants  identityv1.TenantServiceClient
	users    identityv1.UserServiceClient
	groups   identityv1.GroupServiceClient
	roles    identityv1.RoleServiceClient
	keys     identityv1.AccessKeyServiceClient
	sso      identityv1.SsoServiceClient
	scim     identityv1.ScimServiceClient
}

// fakeClock is the server's clock in tests: real time, moved forward on demand.
type fakeClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

func newEnv(t testing.TB, db database, options ...func(*server.Options)) *env {
	t.Helper()
	ctx := context.Background()
	dbURL := db.url(t)
	client, err := server.OpenDatabase(ctx, dbURL)
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	cred, err := server.InitProject(ctx, client, "test")
	if err != nil {
		t.Fatalf("init project: %v", err)
	}
	logs := &syncBuffer{}
	clock := &fakeClock{}
	conn := startInstance(t, client, logs, clock, options...)
	e := env{url: dbURL, clock: clock, db: client, credential: cred, ctx: withCredential(ctx, cred), logs: logs}
	return e.withConn(conn)
}

// withConn returns a copy of e whose clients use conn.
func (e env) withConn(conn *grpc.ClientConn) *env {
	e.conn = conn
	e.projects = identityv1.NewProjectServiceClient(conn)
	e.tenants = identityv1.NewTenantServiceClient(conn)
	e.users = identityv1.NewUserServiceClient(conn)
	e.groups = identityv1.NewGroupServiceClient(conn)
	e.roles = identityv1.NewRoleServiceClient(conn)
	e.keys = identityv1.NewAccessKeyServiceClient(conn)
	e.sso = identityv1.NewSsoServiceClient(conn)
	e.scim = identityv1.NewScimServiceClient(conn)
	return &e
}

func (e *env) authz() identityv1.AuthzServiceClient { return identityv1.NewAuthzServiceClient(e.conn) }

// startInstance runs a server over client, as one identityd instance, and
// returns a connection to it.
func startInstance(t testing.TB, client *ent.Client, logs *syncBuffer, clock *fakeClock, options ...func(*server.Options)) *grpc.ClientConn {
	t.Helper()
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := server.Options{PublicURL: "https://id.example.com", Now: clock.Now}
	for _, o := range options {
		o(&opts)
	}
	srv := server.New(client, log, opts)
	runCtx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	if err := srv.Start(runCtx); err != nil {
		t.Fatalf("start: %v", err)
	}
	s, _, err := srv.NewGRPCServer(nil)
	if err != nil {
		t.Fatalf("grpc server: %v", err)
	}
	lis := bufconn.Listen(1 << 20)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	conn, err := grpc.NewClient("passthrough:///test",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// secondInstance runs another server on the same database, as a second
// identityd instance would, with its own database connections.
func (e *env) secondInstance(t testing.TB) *env {
	t.Helper()
	client, err := server.OpenDatabase(context.Background(), e.url)
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	other := *e
	other.db = client
	return other.withConn(startInstance(t, client, e.logs, e.clock))
}

func withCredential(ctx context.Context, cred string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+cred)
}

func (e *env) tenant(t testing.TB) string {
	t.Helper()
	resp, err := e.tenants.CreateTenant(e.ctx, &identityv1.CreateTenantRequest{DisplayName: "t"})
	if err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	return resp.GetTenant().GetId()
}

func (e *env) user(t testing.TB, tenantID, userName string) *identityv1.User {
	t.Helper()
	resp, err := e.users.CreateUser(e.ctx, &identityv1.CreateUserRequest{
		TenantId: tenantID,
		User:     &identityv1.User{UserName: userName, DisplayName: userName},
	})
	if err != nil {
		t.Fatalf("create user %q: %v", userName, err)
	}
	return resp.GetUser()
}

func (e *env) group(t testing.TB, tenantID, name string, members ...string) *identityv1.Group {
	t.Helper()
	resp, err := e.groups.CreateGroup(e.ctx, &identityv1.CreateGroupRequest{
		TenantId: tenantID, Group: &identityv1.Group{DisplayName: name}, MemberUserIds: members,
	})
	if err != nil {
		t.Fatalf("create group %q: %v", name, err)
	}
	return resp.GetGroup()
}

func (e *env) role(t testing.TB, tenantID, name string) *identityv1.Role {
	t.Helper()
	resp, err := e.roles.CreateRole(e.ctx, &identityv1.CreateRoleRequest{
		TenantId: tenantID, Role: &identityv1.Role{Name: name, Permissions: []string{"x:read"}},
	})
	if err != nil {
		t.Fatalf("create role %q: %v", name, err)
	}
	return resp.GetRole()
}

// wantCode fails the test unless err carries code.
func wantCode(t *testing.T, err error, code codes.Code) {
	t.Helper()
	if got := status.Code(err); got != code {
		t.Fatalf("got code %v (%v), want %v", got, err, code)
	}
}

// newUUID returns a well-formed id that names nothing.
func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-8" + h[17:20] + "-" + h[20:32]
}

func statusCode(err error) codes.Code { return status.Code(err) }
