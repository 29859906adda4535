package server_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/acme/identity/ent"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/authn"
	"github.com/acme/identity/server/instance"
	"github.com/acme/identity/server/instance/instancetest"
)

// database is one storage backend the suites run on.
type database struct {
	name string
	// url returns the URL of a new, empty database owned by the test.
	url func(t testing.TB) string
}

// databases returns the databases of instancetest.Databases.
func databases() []database {
	var out []database
	for _, d := range instancetest.Databases() {
		out = append(out, database{name: d.Name, url: d.URL})
	}
	return out
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

func newEnv(t testing.TB, db database, options ...func(*instance.Config)) *env {
	t.Helper()
	ctx := context.Background()
	dbURL := db.url(t)
	logs := &syncBuffer{}
	clock := &fakeClock{}
	inst := startInstance(t, dbURL, logs, clock, options...)
	cred, err := authn.InitProject(ctx, inst.DB, "test")
	if err != nil {
		t.Fatalf("init project: %v", err)
	}
	e := env{url: dbURL, clock: clock, db: inst.DB, credential: cred, ctx: withCredential(ctx, cred), logs: logs}
	return e.withConn(inst.Conn)
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

// startInstance runs an identityd instance on the database at dbURL, with
// its own database connections.
func startInstance(t testing.TB, dbURL string, logs *syncBuffer, clock *fakeClock, options ...func(*instance.Config)) *instance.Instance {
	t.Helper()
	cfg := instance.Config{
		DatabaseURL:      dbURL,
		PublicURL:        "https://id.example.com",
		Log:              slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:              clock.Now,
		KeyEncryptionKey: instancetest.KeyEncryptionKey,
	}
	for _, o := range options {
		o(&cfg)
	}
	inst, err := instance.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(inst.Close)
	return inst
}

// secondInstance runs another instance on the same database, as a second
// identityd process would.
func (e *env) secondInstance(t testing.TB) *env {
	t.Helper()
	inst := startInstance(t, e.url, e.logs, e.clock)
	other := *e
	other.db = inst.DB
	return other.withConn(inst.Conn)
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
