package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/instance"
	"github.com/acme/identity/server/service"
)

// TestAuditTrail checks, on both databases, that every write is an audit
// event with its actor, source, request id and typed changes, that role
// consequences are explained, that the filters and paging select what they
// say, that tenants see only their own events, that a failed write leaves
// none, and that the stream and the retention work.
func TestAuditTrail(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		e := newEnv(t, db, func(c *instance.Config) { c.AuditStreamSettle = time.Nanosecond })
		audit := identityv1.NewAuditServiceClient(e.conn)
		tid, other := e.tenant(t), e.tenant(t)
		keys, err := e.keys.ListAccessKeys(e.ctx, &identityv1.ListAccessKeysRequest{})
		if err != nil {
			t.Fatal(err)
		}
		rootKey := keys.GetAccessKeys()[0].GetId()

		ctx := metadata.AppendToOutgoingContext(e.ctx, "x-request-id", "req-create-ada")
		created, err := e.users.CreateUser(ctx, &identityv1.CreateUserRequest{TenantId: tid, User: &identityv1.User{UserName: "ada"}})
		if err != nil {
			t.Fatal(err)
		}
		ada := created.GetUser().GetId()
		group := e.group(t, tid, "Engineering")
		// The group's role: made for it, since a pushed group becomes a role.
		roles, err := e.roles.ListRoles(e.ctx, &identityv1.ListRolesRequest{TenantId: tid})
		if err != nil || len(roles.GetRoles()) != 1 {
			t.Fatalf("roles: %v, %v", roles, err)
		}
		role := roles.GetRoles()[0]
		if _, err := e.groups.AddGroupMembers(e.ctx, &identityv1.AddGroupMembersRequest{TenantId: tid, GroupId: group.GetId(), UserIds: []string{ada}}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.users.UpdateUser(e.ctx, &identityv1.UpdateUserRequest{User: &identityv1.User{TenantId: tid, Id: ada, Active: proto.Bool(false)},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"active"}}}); err != nil {
			t.Fatal(err)
		}
		// A failed write (the name is taken) leaves no event.
		if _, err := e.users.CreateUser(e.ctx, &identityv1.CreateUserRequest{TenantId: tid, User: &identityv1.User{UserName: "ada"}}); err == nil {
			t.Fatal("a second ada was created")
		}
		e.user(t, other, "grace")

		list := func(f *identityv1.AuditFilter) []*identityv1.AuditEvent {
			t.Helper()
			resp, err := audit.ListAuditEvents(e.ctx, &identityv1.ListAuditEventsRequest{Filter: f})
			if err != nil {
				t.Fatalf("list %v: %v", f, err)
			}
			return resp.GetEvents()
		}
		events := list(&identityv1.AuditFilter{TenantId: tid})
		var methods []string
		for _, ev := range events {
			methods = append(methods, ev.GetMethod()[strings.LastIndex(ev.GetMethod(), "/")+1:])
			if ev.GetTenantId() != tid || ev.GetKind() != identityv1.AuditEventKind_AUDIT_EVENT_KIND_WRITE ||
				ev.GetActor().GetKind() != identityv1.AuditActor_KIND_ACCESS_KEY || ev.GetActor().GetId() != rootKey ||
				ev.GetSource() != identityv1.AuditSource_AUDIT_SOURCE_GRPC || ev.GetRequestId() == "" || ev.GetRevision() == 0 || len(ev.GetChanges()) == 0 {
				t.Errorf("event %v", ev)
			}
		}
		if got, want := strings.Join(methods, " "), "UpdateUser AddGroupMembers CreateGroup CreateUser CreateTenant"; got != want {
			t.Fatalf("events of the tenant, newest first: %s, want %s", got, want)
		}
		if c := events[3].GetChanges()[0]; events[3].GetRequestId() != "req-create-ada" || c.GetKind() != "user" || c.GetOperation() != "create" || c.GetResourceId() != ada {
			t.Errorf("user creation: %v", events[3])
		}

		// The consequences: gained through the group, lost by deactivation.
		want := map[string]string{
			"AddGroupMembers": "user " + ada + " gained role Engineering because added to group " + group.GetId(),
			"UpdateUser":      "user " + ada + " lost role Engineering because deactivated",
		}
		for _, ev := range events {
			name := ev.GetMethod()[strings.LastIndex(ev.GetMethod(), "/")+1:]
			var got []string
			for _, c := range ev.GetRoleConsequences() {
				got = append(got, c.GetExplanation())
				if c.GetRoleId() != role.GetId() || c.GetUserId() != ada {
					t.Errorf("%s: consequence %v", name, c)
				}
			}
			if strings.Join(got, "; ") != want[name] {
				t.Errorf("%s explains %q, want %q", name, got, want[name])
			}
		}

		// Filters.
		count := func(f *identityv1.AuditFilter) int { t.Helper(); return len(list(f)) }
		tests := []struct {
			name   string
			filter *identityv1.AuditFilter
			want   int
		}{
			{"resource: the user", &identityv1.AuditFilter{TenantId: tid, ResourceId: ada}, 3},
			{"resource: the group", &identityv1.AuditFilter{TenantId: tid, ResourceId: group.GetId()}, 2},
			{"request id", &identityv1.AuditFilter{RequestId: "req-create-ada"}, 1},
			{"actor", &identityv1.AuditFilter{TenantId: tid, ActorId: rootKey}, 5},
			{"another actor", &identityv1.AuditFilter{TenantId: tid, ActorId: "nobody"}, 0},
			{"kind", &identityv1.AuditFilter{TenantId: tid, Kind: identityv1.AuditEventKind_AUDIT_EVENT_KIND_SCIM_REQUEST}, 0},
			{"the future", &identityv1.AuditFilter{StartTime: timestamppb.New(time.Now().Add(time.Hour))}, 0},
			{"the past", &identityv1.AuditFilter{EndTime: timestamppb.New(time.Now().Add(-time.Hour))}, 0},
			{"the whole project", &identityv1.AuditFilter{}, 8}, // + identityd init, the other tenant and its user
		}
		for _, tc := range tests {
			if got := count(tc.filter); got != tc.want {
				t.Errorf("%s: %d events, want %d", tc.name, got, tc.want)
			}
		}

		// Paging: pages of 4 hold every event once.
		seen := map[string]bool{}
		token := ""
		for page := 0; ; page++ {
			resp, err := audit.ListAuditEvents(e.ctx, &identityv1.ListAuditEventsRequest{PageSize: 4, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range resp.GetEvents() {
				if seen[ev.GetId()] {
					t.Fatalf("event %s twice", ev.GetId())
				}
				seen[ev.GetId()] = true
			}
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		if len(seen) != 8 {
			t.Errorf("paged through %d events, want 8", len(seen))
		}

		// Isolation: a Tenant Admin reads its tenant only; the whole project
		// needs Project Admin.
		admin := withCredential(context.Background(), e.tenantAdminKey(t, tid))
		if resp, err := audit.ListAuditEvents(admin, &identityv1.ListAuditEventsRequest{Filter: &identityv1.AuditFilter{TenantId: tid}}); err != nil || len(resp.GetEvents()) != 5 {
			t.Errorf("tenant admin: %d events, %v", len(resp.GetEvents()), err)
		}
		_, err = audit.ListAuditEvents(admin, &identityv1.ListAuditEventsRequest{Filter: &identityv1.AuditFilter{TenantId: other}})
		wantCode(t, err, codes.NotFound)
		_, err = audit.ListAuditEvents(admin, &identityv1.ListAuditEventsRequest{})
		wantCode(t, err, codes.PermissionDenied)
		_, err = audit.ListAuditEvents(e.ctx, &identityv1.ListAuditEventsRequest{Filter: &identityv1.AuditFilter{
			StartTime: timestamppb.Now(), EndTime: timestamppb.New(time.Now().Add(-time.Hour))}})
		wantCode(t, err, codes.InvalidArgument)

		// The stream: everything oldest first, then what comes.
		sctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
		defer cancel()
		stream, err := audit.StreamAuditEvents(sctx, &identityv1.StreamAuditEventsRequest{Filter: &identityv1.AuditFilter{TenantId: tid}, Follow: true})
		if err != nil {
			t.Fatal(err)
		}
		var last string
		for i := range 5 {
			msg, err := stream.Recv()
			if err != nil {
				t.Fatal(err)
			}
			ev := msg.GetEvent()
			if i == 0 && !strings.HasSuffix(ev.GetMethod(), "CreateTenant") {
				t.Errorf("the stream begins with %s", ev.GetMethod())
			}
			last = ev.GetId()
		}
		e.user(t, tid, "linus")
		msg, err := stream.Recv()
		ev := msg.GetEvent()
		if err != nil || !strings.HasSuffix(ev.GetMethod(), "CreateUser") || number(ev.GetId()) <= number(last) {
			t.Fatalf("followed: %v, %v", ev, err)
		}
		cancel()
		if _, err := stream.Recv(); err == nil || errors.Is(err, io.EOF) {
			t.Errorf("the stream went on after the caller left: %v", err)
		}

		// A followed stream with nothing to send says at once that it is open.
		qctx, qcancel := context.WithTimeout(e.ctx, 20*time.Second)
		defer qcancel()
		quiet, err := audit.StreamAuditEvents(qctx, &identityv1.StreamAuditEventsRequest{
			Filter: &identityv1.AuditFilter{ActorId: "nobody"}, Follow: true})
		if err != nil {
			t.Fatal(err)
		}
		if msg, err := quiet.Recv(); err != nil || !msg.GetHeartbeat() || msg.GetEvent() != nil {
			t.Errorf("a quiet stream's first message: %v, %v", msg, err)
		}

		// A deleted tenant's trail, its deletion included, stays readable.
		if _, err := e.tenants.DeleteTenant(e.ctx, &identityv1.DeleteTenantRequest{TenantId: other}); err != nil {
			t.Fatal(err)
		}
		if got := list(&identityv1.AuditFilter{TenantId: other}); len(got) != 3 || !strings.HasSuffix(got[0].GetMethod(), "DeleteTenant") {
			t.Errorf("the deleted tenant's trail: %v", got)
		}

		// Retention: nothing younger than the retention goes; everything
		// older does.
		trail := service.NewAuditService(e.db, nil, nil, e.clock.Now, nil, 0, time.Minute)
		if err := trail.Prune(context.Background(), 90*24*time.Hour); err != nil {
			t.Fatal(err)
		}
		if n := count(&identityv1.AuditFilter{}); n != 11 {
			t.Errorf("after pruning nothing old: %d events", n)
		}
		e.clock.Advance(91 * 24 * time.Hour)
		if err := trail.Prune(context.Background(), 90*24*time.Hour); err != nil {
			t.Fatal(err)
		}
		if n := count(&identityv1.AuditFilter{}); n != 0 {
			t.Errorf("after pruning 91 days later: %d events, want none", n)
		}
	})
}

func number(id string) int64 {
	n, _ := strconv.ParseInt(id, 10, 64)
	return n
}

// TestAuditEventBounds: a write of more changes than an event shows keeps
// the first 100 and counts the others, and so do its role consequences.
func TestAuditEventBounds(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		e := newEnv(t, db)
		tid := e.tenant(t)
		var ids []string
		for i := range 130 {
			ids = append(ids, e.user(t, tid, fmt.Sprintf("u%d", i)).GetId())
		}
		e.group(t, tid, "Everyone", ids...) // a role of its name, granted to all 130
		resp, err := identityv1.NewAuditServiceClient(e.conn).ListAuditEvents(e.ctx, &identityv1.ListAuditEventsRequest{
			Filter: &identityv1.AuditFilter{TenantId: tid}, PageSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		ev := resp.GetEvents()[0]
		// the group, its role and 130 memberships
		if len(ev.GetChanges()) != 100 || ev.GetChangesOmitted() != 32 ||
			len(ev.GetRoleConsequences()) != 100 || ev.GetRoleConsequencesOmitted() != 30 {
			t.Fatalf("%d changes (%d omitted), %d consequences (%d omitted)", len(ev.GetChanges()), ev.GetChangesOmitted(),
				len(ev.GetRoleConsequences()), ev.GetRoleConsequencesOmitted())
		}
	})
}
