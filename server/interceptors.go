package server

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"buf.build/go/protovalidate"
	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	protovalidatemw "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/protovalidate"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/acme/identity/ent/auditevent"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/apierr"
	"github.com/acme/identity/server/audit"
	"github.com/acme/identity/server/authn"
	"github.com/acme/identity/server/authz"
	"github.com/acme/identity/server/ratelimit"
	"github.com/acme/identity/server/store/scope"
)

// MaxRequestTime bounds every RPC, whatever deadline the caller sent.
const MaxRequestTime = 30 * time.Second

// chain is the interceptor chain of every call.
type chain struct {
	log          *slog.Logger
	authenticate auth.AuthFunc
	validator    protovalidate.Validator
	metrics      *grpcprom.ServerMetrics // nil: none
	limiter      *ratelimit.Limiter      // nil: no rate limits
}

// interceptors returns the chain, in this order: refuse undecodable strings
// → recover → log → metrics → time limit → authenticate → validate →
// authorize and scope → rate limit → map errors.
// Public methods skip authentication and authorization; those that name an
// OAuth client or a tenant are rate-limited by them instead.
func (c chain) interceptors() ([]grpc.UnaryServerInterceptor, []grpc.StreamServerInterceptor) {
	recoverOpt := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		c.log.ErrorContext(ctx, "panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return status.Error(codes.Internal, "internal error")
	})
	logger := logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		c.log.Log(ctx, slog.Level(lvl), msg, fields...)
	})
	// Every call is counted in the metrics; the log gets the calls that
	// failed, and successful ones only at debug level, so the hot role-check
	// path does not write a log line per request.
	logOpts := []logging.Option{
		logging.WithLogOnEvents(logging.FinishCall),
		logging.WithLevels(func(code codes.Code) logging.Level {
			// Refusals for load are counted in the metrics, not logged one by
			// one: a flood must not become a flood of log lines.
			if code == codes.OK || code == codes.ResourceExhausted {
				return logging.LevelDebug
			}
			return logging.DefaultServerCodeToLevel(code)
		}),
	}
	protected := selector.MatchFunc(func(_ context.Context, m interceptors.CallMeta) bool { return !isPublic(m) })
	// The SCIM gateway's record of a request it already admitted is not a
	// request of its own: it takes none of the IdP's allowance. Anyone
	// else's call of it (refused) is limited like any other.
	limited := selector.MatchFunc(func(ctx context.Context, m interceptors.CallMeta) bool {
		return !isPublic(m) && !(fromGateway(ctx) && m.Service == identityv1.AuditService_ServiceDesc.ServiceName &&
			m.FullMethod() == identityv1.AuditService_RecordScimRequest_FullMethodName)
	})

	// refuseInvalidUTF8 comes first: it takes what the codec marked, so
	// nothing may end a call before it (see codec.go).
	unary := []grpc.UnaryServerInterceptor{
		refuseInvalidUTF8,
		recovery.UnaryServerInterceptor(recoverOpt),
		logging.UnaryServerInterceptor(logger, logOpts...),
	}
	stream := []grpc.StreamServerInterceptor{
		refuseInvalidUTF8Stream,
		recovery.StreamServerInterceptor(recoverOpt),
		logging.StreamServerInterceptor(logger, logOpts...),
	}
	if c.metrics != nil {
		unary = append(unary, c.metrics.UnaryServerInterceptor())
		stream = append(stream, c.metrics.StreamServerInterceptor())
	}
	unary = append(unary,
		limitTime,
		selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(c.authenticate), protected),
		protovalidatemw.UnaryServerInterceptor(c.validator),
		selector.UnaryServerInterceptor(c.authorizeUnary, protected),
		selector.UnaryServerInterceptor(c.limitUnary, limited),
		selector.UnaryServerInterceptor(c.limitPublic, selector.MatchFunc(func(_ context.Context, m interceptors.CallMeta) bool { return isPublic(m) })),
		auditRequest,
		selector.UnaryServerInterceptor(c.logWrites, protected),
		c.mapErrors,
	)
	stream = append(stream,
		selector.StreamServerInterceptor(auth.StreamServerInterceptor(c.authenticate), protected),
		protovalidatemw.StreamServerInterceptor(c.validator),
		selector.StreamServerInterceptor(c.authorizeStream, protected),
		selector.StreamServerInterceptor(c.limitStream, protected),
		c.mapStreamErrors,
	)
	return unary, stream
}

// isPublic says which methods answer without a credential: health checks
// (load balancers carry none), reflection (it describes the public API) and
// the public methods of the identity services.
func isPublic(m interceptors.CallMeta) bool {
	switch m.Service {
	case healthpb.Health_ServiceDesc.ServiceName,
		"grpc.reflection.v1.ServerReflection",
		"grpc.reflection.v1alpha.ServerReflection":
		return true
	}
	return authz.IsPublic(m.Service, m.Method)
}

func limitTime(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, MaxRequestTime)
	defer cancel()
	return handler(ctx, req)
}

// authorize checks that the caller may call method with req and returns ctx
// scoped to what the request may touch: the caller's project and, for a
// tenant-scoped method, the tenant it names. Storage confines every query to
// that scope (package scope); a method that answers about the caller gets no
// scope, so it reads nothing until it narrows one itself.
func (c chain) authorize(ctx context.Context, method string, req any) (context.Context, error) {
	p := authn.From(ctx)
	target, err := authz.Authorize(p.Grants, method, req)
	switch {
	case err != nil:
		return nil, apierr.ToStatus(ctx, c.log, method, err)
	case target.CallerOnly:
		return ctx, nil
	case target.TenantID != "" && target.TenantID == p.KnownScimTenant():
		// An IdP provisioning through its own credential: the tenant is
		// known to be the project's without a query.
		return scope.WithKnownTenant(ctx, p.ProjectID, target.TenantID), nil
	case target.TenantID != "":
		return scope.WithTenant(ctx, p.ProjectID, target.TenantID), nil
	}
	return scope.WithProject(ctx, p.ProjectID), nil
}

func (c chain) authorizeUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := c.authorize(ctx, info.FullMethod, req)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// authorizeStream authorizes a streaming call on its first request message,
// which names the tenant, before the handler sees it.
func (c chain) authorizeStream(impl any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(impl, &authorizedStream{ServerStream: ss, chain: c, method: info.FullMethod, ctx: ss.Context()})
}

type authorizedStream struct {
	grpc.ServerStream
	chain  chain
	method string
	ctx    context.Context
	done   bool
}

// Context is the scoped context once the first message is authorized.
func (s *authorizedStream) Context() context.Context { return s.ctx }

func (s *authorizedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if !s.done {
		s.done = true
		ctx, err := s.chain.authorize(s.ctx, s.method, m)
		if err != nil {
			return err
		}
		s.ctx = ctx
	}
	return nil
}

// allow takes a token of the caller's credential and of the request's
// tenant (waiting briefly for one, see ratelimit.Limiter.Wait), or answers
// RESOURCE_EXHAUSTED with the wait in RetryInfo.
func (c chain) allow(ctx context.Context) error {
	s, scoped := scope.From(ctx)
	if c.limiter == nil || !scoped {
		return nil // a call about the caller (the SCIM gateway's resolution of its tenant) touches nothing
	}
	p := authn.From(ctx)
	credential := p.KeyID
	if credential == "" {
		credential = "scim:" + p.ScimTenantID // a tenant's SCIM tokens share one bucket
	}
	ok, wait := c.limiter.Wait(ctx, credential, s.TenantID)
	if ok {
		return nil
	}
	return exhausted("too many requests from this credential or for this tenant: retry after the delay given", wait)
}

// limitUnary applies the rate limits, then holds one of the tenant's slots
// for the call: past the tenant's concurrency bound a call waits briefly for
// a slot, then is refused like a call over the rate.
func (c chain) limitUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := c.allow(ctx); err != nil {
		return nil, err
	}
	if s, scoped := scope.From(ctx); c.limiter != nil && scoped {
		leave, ok := c.limiter.Enter(ctx, s.TenantID)
		if !ok {
			return nil, exhausted("too many calls in progress for this tenant: retry after the delay given", ratelimit.QueueWait)
		}
		defer leave()
	}
	return handler(ctx, req)
}

// limitPublic rate-limits the public calls that name an OAuth client or a
// tenant (the sign-in calls, the SP metadata): each client is a credential
// of its own, and a tenant's sign-ins share its bucket, so a flood of
// authorization requests against one tenant or from one client leaves the
// others theirs. Calls that name neither (the JWKS, health) are cheap reads
// and are not limited.
func (c chain) limitPublic(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	var client, tenantID string
	if r, ok := req.(interface{ GetClientId() string }); ok {
		client = r.GetClientId()
	}
	if r, ok := req.(interface{ GetTenantId() string }); ok {
		tenantID = r.GetTenantId()
	}
	if c.limiter != nil && (client != "" || tenantID != "") {
		credential := "public-client:" + client
		if client == "" {
			credential = "public-tenant:" + tenantID // the ACS: the tenant's IdP posts
		}
		// Sign-ins have a tenant bucket of their own ("signin:"), so that
		// unauthenticated requests cannot use up the tenant's API and SCIM
		// allowance.
		signinTenant := ""
		if tenantID != "" {
			signinTenant = "signin:" + tenantID
		}
		if ok, wait := c.limiter.Wait(ctx, credential, signinTenant); !ok {
			return nil, exhausted("too many sign-in requests for this client or tenant: retry after the delay given", wait)
		}
	}
	return handler(ctx, req)
}

// exhausted is RESOURCE_EXHAUSTED with the wait in RetryInfo.
func exhausted(msg string, wait time.Duration) error {
	st := status.New(codes.ResourceExhausted, msg)
	if withInfo, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(wait)}); err == nil {
		st = withInfo
	}
	return st.Err()
}

// limitStream limits a stream once it is authorized (its first message
// names the tenant).
func (c chain) limitStream(impl any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(impl, &limitedStream{ServerStream: ss, chain: c})
}

type limitedStream struct {
	grpc.ServerStream
	chain chain
	done  bool
}

func (s *limitedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if !s.done {
		s.done = true
		return s.chain.allow(s.Context())
	}
	return nil
}

// mapStreamErrors is mapErrors for streaming methods.
func (c chain) mapStreamErrors(impl any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return apierr.ToStatus(ss.Context(), c.log, info.FullMethod, handler(impl, ss))
}

// mapErrors turns whatever a service method returns into a gRPC status, once,
// right at the handler.
func (c chain) mapErrors(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if err != nil {
		return nil, apierr.ToStatus(ctx, c.log, info.FullMethod, err)
	}
	return resp, nil
}

// logWrites logs one info line per successful write (a method the
// permission table gives a write permission): method, actor, project,
// tenant, revision and duration, never the request's content. Reads are
// counted in the metrics, not logged, so the hot role-check path writes no
// line per call.
func (c chain) logWrites(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	if err != nil || !authz.Writes(info.FullMethod) {
		return resp, err
	}
	var revision int64
	if m, ok := resp.(proto.Message); ok {
		if f := m.ProtoReflect().Descriptor().Fields().ByName("revision"); f != nil {
			revision = m.ProtoReflect().Get(f).Int()
		}
	}
	r := audit.From(ctx) // who, as auditRequest found
	actor := "key " + r.ActorID
	if r.ActorKind == auditevent.ActorKindScimToken {
		actor = "SCIM token " + r.ActorID
	}
	tenant, _ := authz.RequestTenant(req)
	c.log.InfoContext(ctx, "write", "method", info.FullMethod, "actor", actor, "project", authn.From(ctx).ProjectID, "tenant", tenant,
		"revision", revision, "request_id", r.RequestID, "duration", time.Since(start).String())
	return resp, nil
}

// auditRequest puts who made the call, through which door and under which
// request id into ctx, for the audit event of any write the call makes; a
// direct gRPC caller gets the request id back in the x-request-id header.
func auditRequest(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	p := authn.From(ctx)
	r := audit.Request{Method: info.FullMethod, ActorKind: auditevent.ActorKindAnonymous, Gateway: fromGateway(ctx)}
	r.RequestID, r.Source = audit.Incoming(ctx, r.Gateway)
	switch {
	case p.KeyID != "":
		r.ActorKind, r.ActorID = auditevent.ActorKindAccessKey, p.KeyID
	case p.ScimTenantID != "":
		r.ActorKind, r.ActorID = auditevent.ActorKindScimToken, p.ScimTokenID
	}
	if r.Source == auditevent.SourceGrpc {
		_ = grpc.SetHeader(ctx, metadata.Pairs(audit.RequestIDKey, r.RequestID))
	}
	return handler(audit.With(ctx, r), req)
}
