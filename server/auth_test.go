package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"github.com/acme/identity/ent/accesskey"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server"
)

func TestAuthentication(t *testing.T) {
	e := newEnv(t, databases()[0])
	projectID, key, _ := strings.Cut(e.credential, ":")
	keyID, _, _ := strings.Cut(key, ".")

	// A second key of the same project, revoked; and one that has expired.
	addKey := func(name string, revoked, expired bool) string {
		id, k, hash, err := server.NewAccessKey()
		if err != nil {
			t.Fatal(err)
		}
		c := e.db.AccessKey.Create().SetID(id).SetProjectID(projectID).SetName(name).SetSecretHash(hash).
			SetRoot(true).SetCreateTime(time.Now())
		if revoked {
			c.SetRevokeTime(time.Now())
		}
		if expired {
			c.SetExpireTime(time.Now().Add(-time.Minute))
		}
		c.SaveX(context.Background())
		return server.FormatCredential(projectID, k)
	}
	revoked := addKey("revoked", true, false)
	expired := addKey("expired", false, true)
	valid := addKey("valid", false, false)
	_ = keyID

	tests := []struct {
		name   string
		header string // "" sends no authorization header
		want   codes.Code
	}{
		{"no header", "", codes.Unauthenticated},
		{"not bearer", "Basic " + e.credential, codes.Unauthenticated},
		{"malformed", "Bearer non-token", codes.Unauthenticated},
		{"no secret", "Bearer " + projectID + ":" + keyID, codes.Unauthenticated},
		{"wrong secret", "Bearer " + projectID + ":" + keyID + ".AAAA", codes.Unauthenticated},
		{"wrong project", "Bearer " + newUUID() + ":" + key, codes.Unauthenticated},
		{"revoked", "Bearer " + revoked, codes.Unauthenticated},
		{"expired", "Bearer " + expired, codes.Unauthenticated},
		{"root key", "Bearer " + e.credential, codes.OK},
		{"second valid key", "Bearer " + valid, codes.OK},
		{"scheme in lower case", "bearer " + e.credential, codes.OK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.header != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", tc.header)
			}
			_, err := e.tenants.ListTenants(ctx, &identityv1.ListTenantsRequest{})
			wantCode(t, err, tc.want)
		})
	}

	t.Run("health needs no credential", func(t *testing.T) {
		_, err := healthpb.NewHealthClient(e.conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
		wantCode(t, err, codes.OK)
	})
	t.Run("reflection needs no credential", func(t *testing.T) {
		stream, err := reflectionpb.NewServerReflectionClient(e.conn).ServerReflectionInfo(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&reflectionpb.ServerReflectionRequest{
			MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
		}); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		wantCode(t, err, codes.OK)
		if len(resp.GetListServicesResponse().GetService()) < 5 {
			t.Fatalf("reflection lists %v", resp.GetListServicesResponse().GetService())
		}
	})
}

// TestSecretsStayOutOfLogsAndDatabase scans the logs and every stored key row
// for the secret of the root credential.
func TestSecretsStayOutOfLogsAndDatabase(t *testing.T) {
	e := newEnv(t, databases()[0])
	_, key, _ := strings.Cut(e.credential, ":")
	_, secret, _ := strings.Cut(key, ".")
	// Some traffic, good and bad, so that there is something to log.
	e.tenant(t)
	_, _ = e.tenants.GetTenant(e.ctx, &identityv1.GetTenantRequest{TenantId: newUUID()})
	_, _ = e.tenants.ListTenants(withCredential(context.Background(), e.credential+"x"), &identityv1.ListTenantsRequest{})
	if strings.Contains(e.logs.String(), secret) {
		t.Fatal("the access key secret appears in the logs")
	}
	for _, k := range e.db.AccessKey.Query().Where(accesskey.Root(true)).AllX(context.Background()) {
		if strings.Contains(string(k.SecretHash), secret) || strings.Contains(k.String(), secret) {
			t.Fatal("the access key secret is stored")
		}
	}
}
