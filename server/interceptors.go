package server

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
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
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
)

// MaxRequestTime bounds every RPC, whatever deadline the caller sent.
const MaxRequestTime = 30 * time.Second

// NewGRPCServer returns a gRPC server with the identity services, the standard
// health service and server reflection, behind the interceptor chain:
// recover → log → metrics → time limit → authenticate → validate → authorize →
// map errors. Health and reflection need no credential. metrics may be nil.
func (srv *Server) NewGRPCServer(metrics *grpcprom.ServerMetrics, opts ...grpc.ServerOption) (*grpc.Server, *health.Server, error) {
	validator, err := protovalidate.New()
	if err != nil {
		return nil, nil, fmt.Errorf("protovalidate: %w", err)
	}
	recoverOpt := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		srv.log.ErrorContext(ctx, "panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return status.Error(codes.Internal, "internal error")
	})
	logger := logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		srv.log.Log(ctx, slog.Level(lvl), msg, fields...)
	})
	// Every call is counted in the metrics; the log gets the calls that
	// failed, and successful ones only at debug level, so the hot role-check
	// path does not write a log line per request.
	logOpts := []logging.Option{
		logging.WithLogOnEvents(logging.FinishCall),
		logging.WithLevels(func(code codes.Code) logging.Level {
			if code == codes.OK {
				return logging.LevelDebug
			}
			return logging.DefaultServerCodeToLevel(code)
		}),
	}
	protected := selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool { return !isPublic(c) })

	unary := []grpc.UnaryServerInterceptor{
		recovery.UnaryServerInterceptor(recoverOpt),
		logging.UnaryServerInterceptor(logger, logOpts...),
	}
	stream := []grpc.StreamServerInterceptor{
		recovery.StreamServerInterceptor(recoverOpt),
		logging.StreamServerInterceptor(logger, logOpts...),
	}
	if metrics != nil {
		unary = append(unary, metrics.UnaryServerInterceptor())
		stream = append(stream, metrics.StreamServerInterceptor())
	}
	unary = append(unary,
		limitTime,
		selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(srv.authenticate), protected),
		protovalidatemw.UnaryServerInterceptor(validator),
		selector.UnaryServerInterceptor(srv.authorizeUnary, protected),
		srv.mapErrors,
	)
	stream = append(stream,
		selector.StreamServerInterceptor(auth.StreamServerInterceptor(srv.authenticate), protected),
		protovalidatemw.StreamServerInterceptor(validator),
		selector.StreamServerInterceptor(srv.authorizeStream, protected),
		srv.mapStreamErrors,
	)

	s := grpc.NewServer(append(opts,
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		// Reused workers keep their grown stacks: a new goroutine per call
		// would grow its stack through the interceptor chain every time.
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
	)...)
	srv.Register(s)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(s, hs)
	reflection.Register(s)
	if metrics != nil {
		metrics.InitializeMetrics(s)
	}
	return s, hs, nil
}

// isPublic says which methods answer without a credential: health checks
// (load balancers carry none), reflection (it describes the public API) and
// publicMethods.
func isPublic(c interceptors.CallMeta) bool {
	switch c.Service {
	case healthpb.Health_ServiceDesc.ServiceName,
		"grpc.reflection.v1.ServerReflection",
		"grpc.reflection.v1alpha.ServerReflection":
		return true
	}
	return publicMethods[c.FullMethod()]
}

func limitTime(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, MaxRequestTime)
	defer cancel()
	return handler(ctx, req)
}

func (srv *Server) authorizeUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := srv.authorize(ctx, info.FullMethod, req); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// authorizeStream authorizes a streaming call on its first request message,
// which names the tenant, before the handler sees it.
func (srv *Server) authorizeStream(impl any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(impl, &authorizedStream{ServerStream: ss, srv: srv, method: info.FullMethod})
}

type authorizedStream struct {
	grpc.ServerStream
	srv    *Server
	method string
	done   bool
}

func (s *authorizedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if !s.done {
		s.done = true
		return s.srv.authorize(s.Context(), s.method, m)
	}
	return nil
}

// mapStreamErrors is mapErrors for streaming methods.
func (srv *Server) mapStreamErrors(impl any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return srv.toStatus(ss.Context(), info.FullMethod, handler(impl, ss))
}

// mapErrors turns whatever a service method returns into a gRPC status, once,
// right at the handler.
func (srv *Server) mapErrors(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if err != nil {
		return nil, srv.toStatus(ctx, info.FullMethod, err)
	}
	return resp, nil
}
