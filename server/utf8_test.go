package server_test

import (
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// rawCodec sends bytes as they are, so a test can send what a correct
// client library would refuse to encode.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}
func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error { return nil }
func (rawCodec) Name() string                                { return "proto" }

// TestInvalidUTF8OverGRPC sends requests whose strings are not UTF-8: the
// answer is InvalidArgument (grpc-go alone answers Internal), for a unary and
// a streaming method, and the server keeps serving.
func TestInvalidUTF8OverGRPC(t *testing.T) {
	e := newEnv(t, databases()[0])
	tid := e.tenant(t)
	msg := protowire.AppendTag(nil, 1, protowire.BytesType)
	msg = protowire.AppendString(msg, tid)
	msg = protowire.AppendTag(msg, 2, protowire.BytesType)
	msg = protowire.AppendString(msg, "\xff\xfe")

	err := e.conn.Invoke(e.ctx, identityv1.UserService_GetUser_FullMethodName, msg, new(struct{}), grpc.ForceCodecV2(rawCodec{}))
	wantCode(t, err, codes.InvalidArgument)

	s, err := e.conn.NewStream(e.ctx, &grpc.StreamDesc{ServerStreams: true}, identityv1.AuthzService_WatchRoleChanges_FullMethodName,
		grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	// WatchRoleChangesRequest's one string is its tenant_id.
	badTenant := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "\xff\xfe")
	if err := s.SendMsg(badTenant); err != nil {
		t.Fatal(err)
	}
	_ = s.CloseSend()
	wantCode(t, s.RecvMsg(new(struct{})), codes.InvalidArgument)

	if _, err := e.tenants.GetTenant(e.ctx, &identityv1.GetTenantRequest{TenantId: tid}); err != nil {
		t.Fatal(err)
	}
}
