package server

import (
	"context"
	"errors"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// utf8Codec is gRPC's proto codec, except that a request holding a string
// that is not valid UTF-8 reaches the interceptor chain marked instead of
// failing in the transport: grpc-go reports every decoding failure as
// Internal, which would call a client's bad input a server error. The chain
// then answers it InvalidArgument (refuseInvalidUTF8). grpc-go offers no
// other hook between decoding and the status it answers.
type utf8Codec struct{ encoding.CodecV2 }

// undecodable holds the request messages utf8Codec marked, until the chain
// takes them.
var undecodable sync.Map

func newUTF8Codec() utf8Codec { return utf8Codec{encoding.GetCodecV2("proto")} }

func (c utf8Codec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.CodecV2.Unmarshal(data, v)
	var bad interface{ InvalidUTF8() bool }
	if errors.As(err, &bad) && bad.InvalidUTF8() {
		if m, ok := v.(proto.Message); ok {
			proto.Reset(m)
		}
		undecodable.Store(v, struct{}{})
		return nil
	}
	return err
}

var errInvalidUTF8 = status.Error(codes.InvalidArgument, "the request holds a string that is not valid UTF-8")

func refuseInvalidUTF8(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if _, bad := undecodable.LoadAndDelete(req); bad {
		return nil, errInvalidUTF8
	}
	return handler(ctx, req)
}

func refuseInvalidUTF8Stream(impl any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(impl, utf8Stream{ss})
}

type utf8Stream struct{ grpc.ServerStream }

func (s utf8Stream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if _, bad := undecodable.LoadAndDelete(m); bad {
		return errInvalidUTF8
	}
	return err
}
