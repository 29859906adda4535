package changelog_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/acme/identity/ent/project"
	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/instance/instancetest"
	"github.com/acme/identity/server/store"
	"github.com/acme/identity/server/store/scope"
)

// recorder is a reader that keeps what it is handed.
type recorder struct {
	mu  sync.Mutex
	got []changelog.Record
}

func (r *recorder) Apply(_ context.Context, _ string, records []changelog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, records...)
	return nil
}

func (r *recorder) records() []changelog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// TestApplied: a write that numbered itself is handed to the readers
// directly only when they hold every revision before it, once, and the
// follower then counts it applied and committed; otherwise the write is left
// to the poll.
func TestApplied(t *testing.T) {
	ctx := scope.System(context.Background())
	db, projectID := instancetest.Databases()[0].OpenProject(ctx, t)
	rev, err := db.Project.Query().Where(project.ID(projectID)).Select(project.FieldRevision).Int(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{}
	f := changelog.NewFollower(db, slog.New(slog.DiscardHandler), store.Settler(slog.New(slog.DiscardHandler)), r)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	if err := f.Start(runCtx); err != nil {
		t.Fatal(err)
	}
	before := len(r.records())
	next := int64(rev) + 1
	created := changelog.UserCreated{Tenant: "t", User: "u"}

	if f.Applied(ctx, projectID, "gap", next+1, []changelog.Event{created}) {
		t.Fatal("a write after a revision the readers do not hold was applied")
	}
	if !f.Applied(ctx, projectID, "next", next, []changelog.Event{created}) {
		t.Fatal("the next revision was not applied")
	}
	if got := r.records()[before:]; len(got) != 1 || got[0] != (changelog.Record{Revision: next, Event: created}) {
		t.Fatalf("the readers got %v", got)
	}
	if !f.Applied(ctx, projectID, "next", next, []changelog.Event{created}) || len(r.records()) != before+1 {
		t.Fatal("a revision the readers hold was handed to them again")
	}
	if got, err := f.Await(ctx, projectID, "", 0); err != nil || got != next {
		t.Fatalf("after the write, readers hold %d (%v), want %d", got, err, next)
	}
}
