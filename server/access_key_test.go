package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/acme/identity/gen/identity/v1"
)

func TestAccessKeys(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		e := newEnv(t, db)
		tid := e.tenant(t)
		auditors := e.roles
		if _, err := auditors.CreateRole(e.ctx, &identityv1.CreateRoleRequest{TenantId: tid, Role: &identityv1.Role{
			Name: "Auditors", Permissions: []string{"user.read", "invoices:read"},
		}}); err != nil {
			t.Fatal(err)
		}

		refused := []struct {
			name string
			req  *identityv1.CreateAccessKeyRequest
			want codes.Code
		}{
			{"no binding", &identityv1.CreateAccessKeyRequest{Name: "k"}, codes.InvalidArgument},
			{"Project Admin on a tenant", &identityv1.CreateAccessKeyRequest{Name: "k", RoleBindings: []*identityv1.RoleBinding{{Role: "Project Admin", TenantId: tid}}}, codes.InvalidArgument},
			{"Tenant Admin without tenant", &identityv1.CreateAccessKeyRequest{Name: "k", RoleBindings: []*identityv1.RoleBinding{{Role: "Tenant Admin"}}}, codes.InvalidArgument},
			{"unknown tenant", &identityv1.CreateAccessKeyRequest{Name: "k", RoleBindings: []*identityv1.RoleBinding{tenantAdmin(newUUID())}}, codes.NotFound},
			{"unknown role", &identityv1.CreateAccessKeyRequest{Name: "k", RoleBindings: []*identityv1.RoleBinding{{Role: "Nobody", TenantId: tid}}}, codes.InvalidArgument},
			{"expired at birth", &identityv1.CreateAccessKeyRequest{Name: "k", RoleBindings: []*identityv1.RoleBinding{projectAdmin()},
				ExpireTime: timestamppb.New(time.Now().Add(-time.Second))}, codes.InvalidArgument},
		}
		for _, tc := range refused {
			t.Run(tc.name, func(t *testing.T) {
				_, err := e.keys.CreateAccessKey(e.ctx, tc.req)
				wantCode(t, err, tc.want)
			})
		}

		// A tenant role grants its API permissions on its tenant only.
		cred, id := e.createKey(t, "auditor", nil, &identityv1.RoleBinding{Role: "auditors", TenantId: tid})
		ctx := withCredential(context.Background(), cred)
		_, err := e.users.ListUsers(ctx, &identityv1.ListUsersRequest{TenantId: tid})
		wantCode(t, err, codes.OK)
		_, err = e.users.CreateUser(ctx, &identityv1.CreateUserRequest{TenantId: tid, User: &identityv1.User{UserName: "x"}})
		wantCode(t, err, codes.PermissionDenied)
		_, err = e.groups.ListGroups(ctx, &identityv1.ListGroupsRequest{TenantId: tid})
		wantCode(t, err, codes.PermissionDenied)
		_, err = e.users.ListUsers(ctx, &identityv1.ListUsersRequest{TenantId: e.tenant(t)})
		wantCode(t, err, codes.NotFound)

		// last_used_time is written off the request path (a busy key costs one
		// write a minute), so it shows up shortly after the use, not with it.
		var k *identityv1.AccessKey
		for range 100 {
			got, err := e.keys.GetAccessKey(e.ctx, &identityv1.GetAccessKeyRequest{AccessKeyId: id})
			if err != nil {
				t.Fatal(err)
			}
			if k = got.GetAccessKey(); k.GetLastUsedTime() != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if k.GetLastUsedTime() == nil || k.GetCreatedBy() == "" || k.GetName() != "auditor" || len(k.GetRoleBindings()) != 1 {
			t.Fatalf("key %v", k)
		}
		if strings.Contains(k.String(), strings.SplitN(cred, ".", 2)[1]) {
			t.Fatal("GetAccessKey returned the secret")
		}

		// Promote it to Tenant Admin: takes effect on the next request.
		if _, err := e.keys.UpdateAccessKey(e.ctx, &identityv1.UpdateAccessKeyRequest{
			AccessKey: &identityv1.AccessKey{Id: id, RoleBindings: []*identityv1.RoleBinding{tenantAdmin(tid)}}, UpdateMask: maskOf("role_bindings"),
		}); err != nil {
			t.Fatal(err)
		}
		_, err = e.groups.ListGroups(ctx, &identityv1.ListGroupsRequest{TenantId: tid})
		wantCode(t, err, codes.OK)

		list, err := e.keys.ListAccessKeys(e.ctx, &identityv1.ListAccessKeysRequest{PageSize: 1})
		if err != nil || len(list.GetAccessKeys()) != 1 || list.GetNextPageToken() == "" {
			t.Fatalf("list %v %v", list, err)
		}
		if _, err := e.keys.DeleteAccessKey(e.ctx, &identityv1.DeleteAccessKeyRequest{AccessKeyId: id}); err != nil {
			t.Fatal(err)
		}
		_, err = e.users.ListUsers(ctx, &identityv1.ListUsersRequest{TenantId: tid})
		wantCode(t, err, codes.Unauthenticated)
		_, err = e.keys.GetAccessKey(e.ctx, &identityv1.GetAccessKeyRequest{AccessKeyId: id})
		wantCode(t, err, codes.NotFound)
	})
}

// TestLastProjectAdmin: the project's last usable Project Admin key cannot
// be revoked, deleted or rebound (FailedPrecondition LAST_PROJECT_ADMIN);
// an expired or revoked admin key does not count as another.
func TestLastProjectAdmin(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		e := newEnv(t, db)
		tid := e.tenant(t)
		_, rest, _ := strings.Cut(e.credential, ":")
		rootID, _, _ := strings.Cut(rest, ".")
		lastAdmin := func(err error) {
			t.Helper()
			wantCode(t, err, codes.FailedPrecondition)
			if !strings.Contains(err.Error(), "last usable key with Project Admin") {
				t.Fatalf("the refusal does not say why: %v", err)
			}
		}
		_, err := e.keys.RevokeAccessKey(e.ctx, &identityv1.RevokeAccessKeyRequest{AccessKeyId: rootID})
		lastAdmin(err)
		_, err = e.keys.DeleteAccessKey(e.ctx, &identityv1.DeleteAccessKeyRequest{AccessKeyId: rootID})
		lastAdmin(err)
		rebind := func(ctx context.Context, id string, b *identityv1.RoleBinding) error {
			_, err := e.keys.UpdateAccessKey(ctx, &identityv1.UpdateAccessKeyRequest{
				AccessKey: &identityv1.AccessKey{Id: id, RoleBindings: []*identityv1.RoleBinding{b}}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"role_bindings"}}})
			return err
		}
		lastAdmin(rebind(e.ctx, rootID, tenantAdmin(tid)))
		_, err = e.keys.UpdateAccessKey(e.ctx, &identityv1.UpdateAccessKeyRequest{
			AccessKey:  &identityv1.AccessKey{Id: rootID, ExpireTime: timestamppb.New(time.Now().Add(time.Hour))},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"expire_time"}}})
		lastAdmin(err) // it would lock the project out an hour later

		// an admin key that expires does not count once expired
		_, expiring := e.createKey(t, "expiring", timestamppb.New(time.Now().Add(time.Hour)), projectAdmin())
		e.clock.Advance(2 * time.Hour)
		_, err = e.keys.RevokeAccessKey(e.ctx, &identityv1.RevokeAccessKeyRequest{AccessKeyId: rootID})
		lastAdmin(err)
		_ = expiring

		// with a second admin, the first goes; then the second is the last
		second, secondID := e.createKey(t, "second admin", nil, projectAdmin())
		if _, err := e.keys.RevokeAccessKey(e.ctx, &identityv1.RevokeAccessKeyRequest{AccessKeyId: rootID}); err != nil {
			t.Fatal(err)
		}
		ctx := withCredential(context.Background(), second)
		lastAdmin(rebind(ctx, secondID, tenantAdmin(tid)))
		_, err = e.keys.DeleteAccessKey(ctx, &identityv1.DeleteAccessKeyRequest{AccessKeyId: secondID})
		lastAdmin(err)
		// a revoked key may still be deleted: it authenticates nothing
		if _, err := e.keys.DeleteAccessKey(ctx, &identityv1.DeleteAccessKeyRequest{AccessKeyId: rootID}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestWritesAreLogged: a successful write logs one line with its method,
// actor, tenant and revision; a read logs none.
func TestWritesAreLogged(t *testing.T) {
	e := newEnv(t, databases()[0])
	tid := e.tenant(t)
	before := strings.Count(e.logs.String(), `msg=write`)
	created, err := e.users.CreateUser(e.ctx, &identityv1.CreateUserRequest{TenantId: tid, User: &identityv1.User{UserName: "logged"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.users.ListUsers(e.ctx, &identityv1.ListUsersRequest{TenantId: tid}); err != nil {
		t.Fatal(err)
	}
	logs := e.logs.String()
	if n := strings.Count(logs, `msg=write`) - before; n != 1 {
		t.Fatalf("%d write lines for one write and one read:\n%s", n, logs)
	}
	line := logs[strings.LastIndex(logs, `msg=write`):]
	line = line[:strings.IndexByte(line, '\n')]
	for _, want := range []string{"identity.v1.UserService/CreateUser", "tenant=" + tid, fmt.Sprintf("revision=%d", created.GetRevision()), `actor="key `} {
		if !strings.Contains(line, want) {
			t.Errorf("the write line lacks %s: %s", want, line)
		}
	}
	if strings.Contains(line, "logged") {
		t.Error("the write line holds the request's content")
	}
}
