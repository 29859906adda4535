package audit_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/acme/identity/ent/auditevent"
	"github.com/acme/identity/server/audit"
	"github.com/acme/identity/server/store"
	"github.com/acme/identity/server/store/scope"
)

// TestRecorderStoresEverything: records made concurrently are all readable
// after a flush, and those still queued when the recorder stops are stored
// by the stop.
func TestRecorderStoresEverything(t *testing.T) {
	ctx := context.Background()
	url := store.SQLiteURL(t.TempDir())
	db, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	runCtx, stop := context.WithCancel(ctx)
	r := audit.NewRecorder(runCtx, db, store.WriteLock(url).For(""), slog.New(slog.DiscardHandler))
	record := func(n int) {
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rec := audit.ScimRequest{ProjectID: "p", TenantID: "t", Summary: []byte(`{}`), Time: time.Now(),
					Request: audit.Request{ActorKind: auditevent.ActorKindScimToken, Source: auditevent.SourceScim}}
				if err := r.Record(ctx, rec); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	count := func() int {
		n, err := db.AuditEvent.Query().Count(scope.System(ctx))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	record(300)
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 300 {
		t.Fatalf("after a flush: %d records, want 300", n)
	}
	record(50)
	stop()
	if err := r.Flush(ctx); err != nil { // returns once the stop has stored the queue
		t.Fatal(err)
	}
	if n := count(); n != 350 {
		t.Fatalf("after the stop: %d records, want 350", n)
	}
}
