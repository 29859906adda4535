package changelog_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/acme/identity/ent/auditevent"
	"github.com/acme/identity/ent/change"
	"github.com/acme/identity/ent/tenantcount"
	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/instance/instancetest"
	"github.com/acme/identity/server/store"
	"github.com/acme/identity/server/store/scope"
)

// TestSettle commits entries unnumbered with their writes' settlements, as
// writes do on PostgreSQL, in the stored form (which must keep decoding),
// on each database: before numbering, the tenant's totals already hold the
// pending counts; numbering stores each write's audit event once, adds its
// counts, and clears the settlements; a settlement of a tenant deleted
// meanwhile neither stops the batch nor leaves a count behind, and one that
// does not decode is skipped.
func TestSettle(t *testing.T) {
	for _, d := range instancetest.Databases() {
		t.Run(d.Name, func(t *testing.T) {
			ctx := scope.System(context.Background())
			db, projectID := d.OpenProject(ctx, t)
			now := time.Now().UTC().Truncate(time.Second)
			db.Tenant.Create().SetID("t").SetProjectID(projectID).SetDisplayName("t").SetCreateTime(now).SetUpdateTime(now).SetVersion(1).ExecX(ctx)
			db.TenantCount.Create().SetTenantID("t").SetKind(tenantcount.KindUser).SetShard(7).SetN(10).ExecX(ctx)
			settlement := func(write, tenant, counts string) []byte {
				return fmt.Appendf(nil, `{"audit":{"project_id":%q,"tenant_id":%q,"write_id":%q,"changes":1,`+
					`"request":{"actor_kind":"scim_token","actor_id":"tok","source":"scim","request_id":"r-%s","method":"/identity.v1.UserService/CreateUser"},`+
					`"time":%q},"counts":[%s]}`, projectID, tenant, write, write, now.Format(time.RFC3339), counts)
			}
			writes := []struct {
				write, tenant string
				settlement    []byte
			}{
				{"w1", "t", settlement("w1", "t", `{"tenant_id":"t","kind":"user","n":2}`)},
				{"w2", "t", settlement("w2", "t", `{"tenant_id":"t","kind":"user","n":-1},{"tenant_id":"t","kind":"group","n":1}`)},
				{"w3", "gone", settlement("w3", "gone", `{"tenant_id":"gone","kind":"user","n":1}`)},
				{"w4", "t", []byte(`{"audit":`)}, // does not decode: skipped, not a stop
			}
			for _, w := range writes {
				db.Change.Create().SetProjectID(projectID).SetWriteID(w.write).SetTenantID(w.tenant).SetKind(change.KindUser).
					SetOperation(change.OperationCreate).SetResourceID(w.write).SetCreateTime(now).SetSettlement(w.settlement).ExecX(ctx)
			}
			tenantCtx := scope.WithTenant(ctx, projectID, "t")
			totals := func(when string) {
				t.Helper()
				for kind, want := range map[tenantcount.Kind]int{tenantcount.KindUser: 11, tenantcount.KindGroup: 1} {
					if got, err := store.Total(tenantCtx, db, kind); err != nil || got != want {
						t.Errorf("%s: %s total %d (%v), want %d", when, kind, got, err, want)
					}
				}
			}
			totals("before numbering")

			f := changelog.NewFollower(db, slog.New(slog.DiscardHandler), store.Settler(slog.New(slog.DiscardHandler)))
			runCtx, stop := context.WithCancel(ctx)
			defer stop()
			if err := f.Start(runCtx); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Current(ctx, projectID); err != nil { // a second poll: nothing is settled twice
				t.Fatal(err)
			}
			totals("after numbering")
			for _, w := range writes[:3] {
				evs := db.AuditEvent.Query().Where(auditevent.WriteID(w.write)).AllX(ctx)
				if len(evs) != 1 || evs[0].TenantID != w.tenant || evs[0].ActorKind != auditevent.ActorKindScimToken ||
					evs[0].RequestID != "r-"+w.write || evs[0].Source != auditevent.SourceScim || !evs[0].CreateTime.Equal(now) {
					t.Errorf("write %s: audit events %v, want one, as settled", w.write, evs)
				}
			}
			if n := db.Change.Query().Where(change.SettlementNotNil()).CountX(ctx); n != 0 {
				t.Errorf("%d entries keep their settlement after numbering", n)
			}
			if n := db.Change.Query().Where(change.Revision(0)).CountX(ctx); n != 0 {
				t.Errorf("%d entries left unnumbered", n)
			}
			if n := db.TenantCount.Query().Where(tenantcount.TenantID("gone")).CountX(ctx); n != 0 {
				t.Errorf("a deleted tenant has %d count rows", n)
			}
		})
	}
}
