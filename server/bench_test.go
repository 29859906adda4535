package server_test

import (
	"fmt"
	"testing"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// BenchmarkRPC measures the core RPCs through the full interceptor chain over
// a gRPC connection on embedded SQLite, beside the health Check (no
// authentication, no storage) as the baseline of the same run: compare their
// ns/op as ratios, not as absolute figures.
func BenchmarkRPC(b *testing.B) {
	for _, db := range databases() {
		b.Run(db.name, func(b *testing.B) {
			e := newEnv(b, db)
			tid := e.tenant(b)
			var ids []string
			for i := range 1000 {
				ids = append(ids, e.user(b, tid, fmt.Sprintf("user%04d@example.com", i)).GetId())
			}
			health := healthpb.NewHealthClient(e.conn)

			b.Run("HealthCheck", func(b *testing.B) {
				for b.Loop() {
					if _, err := health.Check(e.ctx, &healthpb.HealthCheckRequest{}); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("GetUser", func(b *testing.B) {
				i := 0
				for b.Loop() {
					i++
					if _, err := e.users.GetUser(e.ctx, &identityv1.GetUserRequest{TenantId: tid, UserId: ids[i%len(ids)]}); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("ListUsersByUserName", func(b *testing.B) {
				i := 0
				for b.Loop() {
					i++
					resp, err := e.users.ListUsers(e.ctx, &identityv1.ListUsersRequest{TenantId: tid,
						Filter: &identityv1.UserFilter{UserName: eq(fmt.Sprintf("USER%04d@example.com", i%1000))}})
					if err != nil || len(resp.GetUsers()) != 1 {
						b.Fatal(resp, err)
					}
				}
			})
			b.Run("CreateUser", func(b *testing.B) {
				i := 0
				for b.Loop() {
					i++
					if _, err := e.users.CreateUser(e.ctx, &identityv1.CreateUserRequest{TenantId: tid,
						User: &identityv1.User{UserName: fmt.Sprintf("new%d-%s@example.com", i, b.Name())}}); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("AddGroupMember", func(b *testing.B) {
				g := e.group(b, tid, "bench-"+b.Name())
				i := 0
				for b.Loop() {
					i++
					if _, err := e.groups.AddGroupMembers(e.ctx, &identityv1.AddGroupMembersRequest{TenantId: tid, GroupId: g.GetId(),
						UserIds: []string{ids[i%len(ids)]}}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
