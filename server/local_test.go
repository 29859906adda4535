package server

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// probe is a health service that reports what its handler saw.
type probe struct {
	healthpb.UnimplementedHealthServer
	seen func(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error)
}

func (p probe) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	return p.seen(ctx, req)
}

type callerKey struct{}

// TestLocal pins what a unary call through Local carries, as a call over a
// connection would: the interceptors in order, the caller's metadata and
// deadline but none of its context's values, the handler's headers and
// trailers, errors as statuses, and copies (the handler's answer is not the
// caller's message).
func TestLocal(t *testing.T) {
	var order []string
	mark := func(name string) grpc.UnaryServerInterceptor {
		return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			order = append(order, name+" "+info.FullMethod)
			return handler(ctx, req)
		}
	}
	answer := &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}
	var handlerErr error
	var seenCtx context.Context
	svc := probe{seen: func(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
		seenCtx = ctx
		_ = grpc.SetHeader(ctx, metadata.Pairs("x-request-id", "abc"))
		grpc.SetTrailer(ctx, metadata.Pairs("x-trailer", req.GetService()))
		return answer, handlerErr
	}}
	local := serveProbe(t, svc, mark("first"), mark("second"))

	ctx := context.WithValue(context.Background(), callerKey{}, "gateway state")
	ctx = metadata.AppendToOutgoingContext(ctx, "Authorization", "Bearer x")
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var header, trailer metadata.MD
	got, err := healthpb.NewHealthClient(local).Check(ctx, &healthpb.HealthCheckRequest{Service: "svc"}, grpc.Header(&header), grpc.Trailer(&trailer))
	if err != nil {
		t.Fatal(err)
	}
	method := healthpb.Health_Check_FullMethodName
	if want := []string{"first " + method, "second " + method}; !slices.Equal(order, want) {
		t.Errorf("interceptors ran %q, want %q", order, want)
	}
	if got == answer || got.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("answer %v (the handler's own message: %v)", got, got == answer)
	}
	if header.Get("x-request-id")[0] != "abc" || trailer.Get("x-trailer")[0] != "svc" {
		t.Errorf("header %v, trailer %v", header, trailer)
	}
	md, _ := metadata.FromIncomingContext(seenCtx)
	if v := md.Get("authorization"); len(v) != 1 || v[0] != "Bearer x" {
		t.Errorf("handler saw metadata %v", md)
	}
	if seenCtx.Value(callerKey{}) != nil {
		t.Error("the handler saw a value of the caller's context")
	}
	if !fromGateway(seenCtx) {
		t.Error("a call through Local is not marked as the gateway's")
	}
	want, _ := ctx.Deadline()
	if dl, ok := seenCtx.Deadline(); !ok || !dl.Equal(want) {
		t.Errorf("handler's deadline %v, want %v", dl, want)
	}
	if m, ok := grpc.Method(seenCtx); !ok || m != method {
		t.Errorf("grpc.Method %q", m)
	}
	if fromGateway(context.Background()) {
		t.Error("a context that did not come through Local is marked as the gateway's")
	}

	for _, c := range []struct {
		name string
		err  error
		want codes.Code
	}{
		{"status", status.Error(codes.NotFound, "no such thing"), codes.NotFound},
		{"plain error", errors.New("boom"), codes.Unknown},
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded},
	} {
		t.Run(c.name, func(t *testing.T) {
			handlerErr = c.err
			_, err := healthpb.NewHealthClient(local).Check(ctx, &healthpb.HealthCheckRequest{})
			if status.Code(err) != c.want {
				t.Errorf("got %v, want %v", err, c.want)
			}
		})
	}
	handlerErr = nil

	unknown := local.Invoke(ctx, "/grpc.health.v1.Health/Nope", &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{})
	if status.Code(unknown) != codes.Unimplemented {
		t.Errorf("unknown method: %v", unknown)
	}
	// A string that is not UTF-8 does not encode, as over a connection.
	bad := local.Invoke(ctx, method, &healthpb.HealthCheckRequest{Service: "\xff"}, &healthpb.HealthCheckResponse{})
	if status.Code(bad) != codes.Internal {
		t.Errorf("invalid UTF-8: %v", bad)
	}
}

// serveProbe serves svc in memory behind the chain unary, until the test
// ends, and returns the Local beside it.
func serveProbe(tb testing.TB, svc healthpb.HealthServer, unary ...grpc.UnaryServerInterceptor) *Local {
	core, err := inMemory(unary, func(r grpc.ServiceRegistrar) { healthpb.RegisterHealthServer(r, svc) }, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = core.Conn.Close()
		core.GRPC.Stop()
	})
	return core.Local
}

// BenchmarkLocal measures what a unary call costs through Local against the
// same call over a gRPC connection on an in-memory listener, the gateways'
// connection before Local, with the same chain (the time limit alone) and
// handler.
func BenchmarkLocal(b *testing.B) {
	answer := &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}
	svc := probe{seen: func(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
		return answer, nil
	}}
	local := serveProbe(b, svc, limitTime) // the chain's time limit derives a context, as every call's does
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer x")
	for _, c := range []struct {
		name string
		conn grpc.ClientConnInterface
	}{{"connection", local.conn}, {"local", local}} {
		client := healthpb.NewHealthClient(c.conn)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "identity"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
