package instance_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/authn"
	"github.com/acme/identity/server/instance"
	"github.com/acme/identity/server/instance/instancetest"
	"github.com/acme/identity/server/store"
)

// TestWatchHeartbeatAndDrain: a quiet watch receives a heartbeat at once
// and after each quiet interval, and Drain
// ends it at once with Unavailable naming the revision to resume from.
func TestWatchHeartbeatAndDrain(t *testing.T) {
	ctx := context.Background()
	inst, err := instance.Start(ctx, instance.Config{
		DatabaseURL: store.SQLiteURL(t.TempDir()), Metrics: prometheus.NewRegistry(),
		KeyEncryptionKey: instancetest.KeyEncryptionKey, WatchHeartbeat: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	cred, err := authn.InitProject(ctx, inst.DB, "test")
	if err != nil {
		t.Fatal(err)
	}
	actx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+cred)
	tenant, err := identityv1.NewTenantServiceClient(inst.Conn).CreateTenant(actx, &identityv1.CreateTenantRequest{DisplayName: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	watch, err := identityv1.NewAuthzServiceClient(inst.Conn).WatchRoleChanges(actx, &identityv1.WatchRoleChangesRequest{
		TenantId: tenant.GetTenant().GetId(), FromRevision: tenant.GetRevision()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // at once, then after a quiet interval
		msg, err := watch.Recv()
		if err != nil || !msg.GetHeartbeat() || msg.GetRevision() != tenant.GetRevision() || len(msg.GetChanges()) != 0 {
			t.Fatalf("message %d of a quiet watch: %v, %v", i, msg, err)
		}
	}
	inst.Drain()
	for {
		_, err = watch.Recv()
		if err != nil {
			break // heartbeats may precede the end
		}
	}
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "from_revision=") {
		t.Fatalf("a drained watch ended with %v", err)
	}
}
