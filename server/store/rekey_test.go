package store_test

import (
	"context"
	"database/sql"
	"log/slog"
	"testing"
	"time"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/server/store"
	"github.com/acme/identity/server/store/scope"
)

// openTenant opens the fresh database at url holding project "p" and
// its tenant "t", and returns it with the rows' creation time.
func openTenant(ctx context.Context, t *testing.T, url string) (*ent.Client, time.Time) {
	t.Helper()
	db, _, now := openTenantPool(ctx, t, url)
	return db, now
}

// openTenantPool is openTenant that also returns PostgreSQL's pool (nil on
// SQLite).
func openTenantPool(ctx context.Context, t *testing.T, url string) (*ent.Client, *sql.DB, time.Time) {
	t.Helper()
	db, pool, err := store.OpenWithPool(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Now().UTC()
	db.Project.Create().SetID("p").SetDisplayName("p").SetCreateTime(now).SetUpdateTime(now).ExecX(ctx)
	db.Tenant.Create().SetID("t").SetProjectID("p").SetDisplayName("t").SetCreateTime(now).SetUpdateTime(now).SetVersion(1).ExecX(ctx)
	return db, pool, now
}

// TestRekey stores names with keys of the earlier rule (plain case folding),
// as a database written before RFC 8265 keys holds them, and rekeys: keys
// move to the new rule, and of two look-alikes the second keeps its old key,
// so both stay reachable.
func TestRekey(t *testing.T) {
	ctx := scope.System(context.Background())
	db, now := openTenant(ctx, t, store.SQLiteURL(t.TempDir()))
	user := func(id, name string) {
		db.User.Create().SetID(id).SetTenantID("t").SetUserName(name).SetUserNameKey(store.Fold(name)).
			SetCreateTime(now).SetUpdateTime(now).SetVersion(1).ExecX(ctx)
	}
	user("u1", "ＡＤＡ")          // fullwidth: old key "ａｄａ", new "ada"
	user("u2", "jos\u00e9")    // precomposed: the same under both rules
	user("u3", "jose\u0301")   // decomposed: new key is u2's
	user("u4", "ada lovelace") // refused by the new rule: keeps its key
	db.Group.Create().SetID("g1").SetTenantID("t").SetDisplayName("Ｅng").SetDisplayNameKey(store.Fold("Ｅng")).
		SetCreateTime(now).SetUpdateTime(now).SetVersion(1).ExecX(ctx)

	if err := store.Rekey(ctx, db, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"u1": "ada", "u2": "jos\u00e9", "u3": "jose\u0301", "u4": "ada lovelace"}
	for id, key := range want {
		if got := db.User.GetX(ctx, id).UserNameKey; got != key {
			t.Errorf("%s: key %q, want %q", id, got, key)
		}
	}
	if got := db.Group.GetX(ctx, "g1").DisplayNameKey; got != store.NameLookup("Ｅng") {
		t.Errorf("group key %q", got)
	}
	// Idempotent: a second run changes nothing.
	if err := store.Rekey(ctx, db, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
}
