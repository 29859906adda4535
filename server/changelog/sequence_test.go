package changelog_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/change"
	"github.com/acme/identity/ent/project"
	"github.com/acme/identity/server/authn"
	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/instance/instancetest"
	"github.com/acme/identity/server/store"
	"github.com/acme/identity/server/store/scope"
)

// TestSequencer commits entries unnumbered, as writes do on PostgreSQL, on
// each database, and requires a starting follower to number them: all
// entries of one write take one revision, writes take the project's next
// revisions in the order of their first entry, and the project's counter
// ends at the last.
func TestSequencer(t *testing.T) {
	for _, d := range instancetest.Databases() {
		t.Run(d.Name, func(t *testing.T) {
			ctx := scope.System(context.Background())
			db, err := store.Open(ctx, d.URL(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			cred, err := authn.InitProject(ctx, db, "p")
			if err != nil {
				t.Fatal(err)
			}
			projectID, _, _ := strings.Cut(cred, ":")
			before, err := db.Project.Query().Where(project.ID(projectID)).Only(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// Entries of writes a, b and c, their ids interleaved as
			// concurrent writes' can be.
			var ids []int64
			for _, w := range []string{"a", "b", "a", "c"} {
				row, err := db.Change.Create().SetProjectID(projectID).SetWriteID(w).SetKind(change.KindUser).
					SetOperation(change.OperationCreate).SetResourceID(w).SetCreateTime(time.Now()).Save(ctx)
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, row.ID)
			}
			f := changelog.NewFollower(db, slog.New(slog.DiscardHandler))
			runCtx, stop := context.WithCancel(ctx)
			defer stop()
			if err := f.Start(runCtx); err != nil {
				t.Fatal(err)
			}
			rows, err := db.Change.Query().Where(change.IDIn(ids...)).Order(ent.Asc(change.FieldID)).All(ctx)
			if err != nil {
				t.Fatal(err)
			}
			r := before.Revision
			want := map[string]int64{"a": r + 1, "b": r + 2, "c": r + 3}
			for _, row := range rows {
				if row.Revision != want[row.WriteID] {
					t.Errorf("entry %d of write %s: revision %d, want %d", row.ID, row.WriteID, row.Revision, want[row.WriteID])
				}
			}
			after, err := db.Project.Query().Where(project.ID(projectID)).Only(ctx)
			if err != nil || after.Revision != r+3 {
				t.Fatalf("project revision %v (%v), want %d", after, err, r+3)
			}
			if got, err := f.Await(ctx, projectID, r+3); err != nil || got != r+3 {
				t.Fatalf("follower holds %d (%v), want %d", got, err, r+3)
			}
		})
	}
}
