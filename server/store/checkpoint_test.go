package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/server/store"
	"github.com/acme/identity/server/store/scope"
)

// TestCheckpoint: with SQLite's automatic checkpoint off (Open), Checkpoint
// keeps the write-ahead log from growing: after it ran, the next writes reuse
// the log from its start instead of appending.
func TestCheckpoint(t *testing.T) {
	ctx, cancel := context.WithCancel(scope.System(context.Background()))
	defer cancel()
	dir := t.TempDir()
	db, now := openTenant(ctx, t, store.SQLiteURL(dir))

	walSize := func() int64 {
		fi, err := os.Stat(filepath.Join(dir, "identity.db-wal"))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	n := 0
	writeSome := func() {
		for range 20 {
			rows := make([]*ent.UserCreate, 100)
			for i := range rows {
				n++
				name := fmt.Sprintf("user%05d@example.com", n)
				rows[i] = db.User.Create().SetID(fmt.Sprint(n)).SetTenantID("t").SetUserName(name).
					SetUserNameKey(store.Fold(name)).SetCreateTime(now).SetUpdateTime(now).SetVersion(1)
			}
			db.User.CreateBulk(rows...).ExecX(ctx)
		}
	}
	writeSome()
	first := walSize()
	if err := store.Checkpoint(ctx, db); err != nil {
		t.Fatal(err)
	}
	writeSome()
	if second := walSize(); second > first*3/2 {
		t.Fatalf("the log grew from %d to %d bytes over a checkpoint: not checkpointed", first, second)
	}
}
