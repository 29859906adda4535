package server

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Local is this process's gateways' connection to the core. A unary call
// runs the server's interceptor chain and handler on the caller's goroutine,
// the request and the answer copied through the server's codec, as a call
// over the network would be decoded; a stream, and any call of a method Local
// does not hold, goes over conn (a real gRPC connection to the same server,
// which answers it).
//
// Why unary calls skip the transport: over an in-memory connection each one
// still paid HTTP/2 framing, header compression, flow control and four
// goroutine hand-offs, about 30 µs of CPU on the CI machine, and a SCIM
// write makes two (README, "Write speed"). Why not grpchan's inprocgrpc,
// which does the same: it runs every call on a new goroutine, whose stack
// then grows through the interceptor chain on every call, the cost the
// server's stream workers exist to avoid.
type Local struct {
	conn    grpc.ClientConnInterface
	methods map[string]localMethod
	unary   grpc.UnaryServerInterceptor
	codec   utf8Codec
}

type localMethod struct {
	impl    any
	handler grpc.MethodHandler
}

var _ grpc.ClientConnInterface = (*Local)(nil)

// RegisterService makes desc's unary methods callable through l; its
// streams go over l's connection, whose server has them.
func (l *Local) RegisterService(desc *grpc.ServiceDesc, impl any) {
	for _, m := range desc.Methods {
		l.methods["/"+desc.ServiceName+"/"+m.MethodName] = localMethod{impl: impl, handler: m.Handler}
	}
}

// localKey marks the context of a call that came through Local.
type localKey struct{}

// fromGateway says whether the call came through Local, that is from one of
// this process's gateways: nothing outside the process reaches it.
func fromGateway(ctx context.Context) bool {
	v, _ := ctx.Value(localKey{}).(bool)
	return v
}

// Invoke runs a unary call.
func (l *Local) Invoke(ctx context.Context, method string, req, reply any, opts ...grpc.CallOption) error {
	m, ok := l.methods[method]
	if !ok {
		return l.conn.Invoke(ctx, method, req, reply, opts...)
	}
	in, err := l.codec.Marshal(req)
	if err != nil {
		return status.Errorf(codes.Internal, "marshal the request: %v", err)
	}
	defer in.Free()
	st := &localStream{method: method}
	// The handler sees the caller's deadline, cancellation and metadata,
	// none of its context's values: those are the gateway's, not the call's.
	sctx := context.Context(noValues{ctx})
	if md, ok := metadata.FromOutgoingContext(ctx); ok {
		sctx = metadata.NewIncomingContext(sctx, md)
	}
	sctx = context.WithValue(grpc.NewContextWithServerTransportStream(sctx, st), localKey{}, true)
	resp, err := m.handler(m.impl, sctx, func(v any) error { return l.codec.Unmarshal(in, v) }, l.unary)
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.HeaderCallOption:
			*o.HeaderAddr = st.header
		case grpc.TrailerCallOption:
			*o.TrailerAddr = st.trailer
		}
	}
	if err != nil {
		// as the gRPC server answers an error that is not a status
		if _, ok := status.FromError(err); !ok {
			err = status.FromContextError(err).Err()
		}
		return err
	}
	out, err := l.codec.Marshal(resp)
	if err != nil {
		return status.Errorf(codes.Internal, "marshal the response: %v", err)
	}
	defer out.Free()
	return l.codec.CodecV2.Unmarshal(out, reply) // as a client decodes: no request to mark
}

// NewStream opens a stream over the connection.
func (l *Local) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return l.conn.NewStream(ctx, desc, method, opts...)
}

// noValues passes a context's deadline and cancellation on, and none of its
// values.
type noValues struct{ context.Context }

func (noValues) Value(any) any { return nil }

// AfterFunc lets a context derived from this one (the chain's time limit)
// learn of the cancellation without a goroutine of its own: hiding the
// values hides the parent the context package would otherwise find.
func (c noValues) AfterFunc(f func()) func() bool { return context.AfterFunc(c.Context, f) }

// localStream holds what a unary handler sets for the caller.
type localStream struct {
	method          string
	header, trailer metadata.MD
}

func (s *localStream) Method() string { return s.method }

func (s *localStream) SetHeader(md metadata.MD) error {
	s.header = metadata.Join(s.header, md)
	return nil
}

func (s *localStream) SendHeader(md metadata.MD) error { return s.SetHeader(md) }

func (s *localStream) SetTrailer(md metadata.MD) error {
	s.trailer = metadata.Join(s.trailer, md)
	return nil
}

// chainUnary runs interceptors in order around the handler, as
// grpc.ChainUnaryInterceptor does for the server (which offers it only as a
// server option).
func chainUnary(interceptors []grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return next(interceptors, info, handler)(ctx, req)
	}
}

func next(interceptors []grpc.UnaryServerInterceptor, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) grpc.UnaryHandler {
	if len(interceptors) == 0 {
		return handler
	}
	return func(ctx context.Context, req any) (any, error) {
		return interceptors[0](ctx, req, info, next(interceptors[1:], info, handler))
	}
}
