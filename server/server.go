package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"buf.build/go/protovalidate"
	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/test/bufconn"

	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/authn"
	"github.com/acme/identity/server/ratelimit"
)

// Services are the implementations of the identity services. server.New
// registers each; a new service is a field here and a line in register.
type Services struct {
	Project   identityv1.ProjectServiceServer
	Tenant    identityv1.TenantServiceServer
	User      identityv1.UserServiceServer
	Group     identityv1.GroupServiceServer
	Role      identityv1.RoleServiceServer
	AccessKey identityv1.AccessKeyServiceServer
	Client    identityv1.OAuthClientServiceServer
	Keys      identityv1.SigningKeyServiceServer
	SignIn    identityv1.SignInServiceServer
	Sessions  identityv1.SessionServiceServer
	Sso       identityv1.SsoServiceServer
	Scim      identityv1.ScimServiceServer
	Authz     identityv1.AuthzServiceServer
	Audit     identityv1.AuditServiceServer
}

func (s Services) register(r grpc.ServiceRegistrar) {
	identityv1.RegisterProjectServiceServer(r, s.Project)
	identityv1.RegisterTenantServiceServer(r, s.Tenant)
	identityv1.RegisterUserServiceServer(r, s.User)
	identityv1.RegisterGroupServiceServer(r, s.Group)
	identityv1.RegisterRoleServiceServer(r, s.Role)
	identityv1.RegisterAccessKeyServiceServer(r, s.AccessKey)
	identityv1.RegisterOAuthClientServiceServer(r, s.Client)
	identityv1.RegisterSigningKeyServiceServer(r, s.Keys)
	identityv1.RegisterSignInServiceServer(r, s.SignIn)
	identityv1.RegisterSessionServiceServer(r, s.Sessions)
	identityv1.RegisterSsoServiceServer(r, s.Sso)
	identityv1.RegisterScimServiceServer(r, s.Scim)
	identityv1.RegisterAuthzServiceServer(r, s.Authz)
	identityv1.RegisterAuditServiceServer(r, s.Audit)
}

// streamWorkers is how many goroutines the server keeps to run calls on.
const streamWorkers = 64

// Core is the core's gRPC server, its health service and the gateways'
// in-process connection to it.
type Core struct {
	GRPC   *grpc.Server
	Health *health.Server
	// Conn is a gRPC connection to GRPC in memory (a real transport).
	Conn *grpc.ClientConn
	// Local reaches the same services through the same interceptor chain,
	// unary calls without a transport (see Local): the gateways use it.
	Local *Local
}

// New returns a gRPC server with the identity services, the standard health
// service and server reflection, behind the interceptor chain (see chain),
// serving in memory. Health and reflection need no credential. log receives
// internal errors and panics, never secrets or request bodies; metrics may be
// nil. limiter may be nil (no rate limits).
func New(log *slog.Logger, authenticator *authn.Authenticator, metrics *grpcprom.ServerMetrics, limiter *ratelimit.Limiter, services Services, opts ...grpc.ServerOption) (*Core, error) {
	validator, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("protovalidate: %w", err)
	}
	c := chain{log: log, authenticate: authenticator.Authenticate, validator: validator, metrics: metrics, limiter: limiter}
	unary, stream := c.interceptors()
	hs := health.NewServer()
	core, err := inMemory(unary, func(r grpc.ServiceRegistrar) {
		services.register(r)
		healthpb.RegisterHealthServer(r, hs)
	}, func(s *grpc.Server) {
		reflection.Register(s)
		if metrics != nil {
			metrics.InitializeMetrics(s)
		}
	}, append([]grpc.ServerOption{
		// Connections idle for 5 minutes are closed (clients reconnect on
		// their next call), and a client may not ping more often than every
		// 10 s, so idle or abusive connections do not pile up.
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 5 * time.Minute, Time: 2 * time.Minute, Timeout: 20 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.ChainStreamInterceptor(stream...),
	}, opts...)...)
	if err != nil {
		return nil, err
	}
	core.Health = hs
	return core, nil
}

// inMemory returns a gRPC server with opts behind the unary chain, with the
// services register registers and whatever setup adds to the server alone,
// serving an in-memory connection, and a Local beside it that runs the same
// unary calls through the same chain and codec.
func inMemory(unary []grpc.UnaryServerInterceptor, register func(grpc.ServiceRegistrar), setup func(*grpc.Server), opts ...grpc.ServerOption) (*Core, error) {
	codec := newUTF8Codec()
	s := grpc.NewServer(append(opts,
		grpc.ForceServerCodecV2(codec),
		grpc.ChainUnaryInterceptor(unary...),
		// Reused workers keep their grown stacks: a new goroutine per call
		// would grow its stack through the interceptor chain every time
		// (copying it several times: 6% of a SCIM create's CPU when the
		// gateways still called over a connection). A call holds its worker
		// while it waits for the database, so the pool is sized for calls
		// in flight, not for cores; an idle worker costs only its stack, and
		// calls beyond the pool still run, each on a new goroutine.
		grpc.NumStreamWorkers(streamWorkers),
	)...)
	local := &Local{methods: map[string]localMethod{}, unary: chainUnary(unary), codec: codec}
	register(s)
	register(local)
	if setup != nil {
		setup(s)
	}
	lis := bufconn.Listen(1 << 20)
	go func() { _ = s.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///identityd",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		s.Stop()
		return nil, fmt.Errorf("in-memory gRPC client: %w", err)
	}
	local.conn = conn
	return &Core{GRPC: s, Conn: conn, Local: local}, nil
}
