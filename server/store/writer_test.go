package store_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/instance/instancetest"
	"github.com/acme/identity/server/store"
	"github.com/acme/identity/server/store/scope"
)

// TestInsertsBesideTenantWrites holds a write of a tenant open on
// PostgreSQL (its row locked, as a membership change or a deactivation holds
// it) and requires a user create of the same tenant (Writer.Insert) to commit
// meanwhile: an IdP's creates do not queue behind the tenant's other writes.
// (On SQLite every write runs alone.)
func TestInsertsBesideTenantWrites(t *testing.T) {
	var pg *instancetest.Database
	for _, d := range instancetest.Databases() {
		if d.Name == "postgres" {
			pg = &d
		}
	}
	if pg == nil {
		t.Skip("IDENTITY_TEST_POSTGRES is not set")
	}
	ctx := scope.System(context.Background())
	url := pg.URL(t)
	db, now := openTenant(ctx, t, url)
	log := slog.New(slog.DiscardHandler)
	f := changelog.NewFollower(db, log, store.Settler(log))
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	if err := f.Start(runCtx); err != nil {
		t.Fatal(err)
	}
	w := store.NewWriter(db, log, time.Now, f, false, store.WriteLock(url))
	tenantCtx := scope.WithTenant(context.Background(), "p", "t")

	locked, release := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		_, err := w.Write(tenantCtx, func(ctx context.Context, tx *store.Tx) error {
			close(locked)
			<-release
			return nil
		})
		held <- err
	}()
	<-locked
	insertCtx, cancel := context.WithTimeout(tenantCtx, 10*time.Second)
	defer cancel()
	_, err := w.Insert(insertCtx, func(ctx context.Context, tx *store.Tx) error {
		if err := tx.User.Create().SetID("u").SetTenantID("t").SetUserName("ada").SetUserNameKey("ada").
			SetCreateTime(now).SetUpdateTime(now).SetVersion(1).Exec(ctx); err != nil {
			return err
		}
		tx.Record(changelog.UserCreated{Tenant: "t", User: "u"})
		return nil
	})
	close(release)
	if err != nil {
		t.Fatalf("a user create while a write of its tenant is open: %v", err)
	}
	if err := <-held; err != nil {
		t.Fatal(err)
	}
}
