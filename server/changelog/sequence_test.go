package changelog_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/change"
	"github.com/acme/identity/ent/project"
	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/instance/instancetest"
	"github.com/acme/identity/server/store"
	"github.com/acme/identity/server/store/scope"
)

// TestSequencer commits entries unnumbered, as writes do on PostgreSQL, on
// each database, and requires a starting follower to number them: all
// entries of one write take one revision, writes take the project's next
// revisions in the order of their first entry, and the project's counter
// ends at the last. Its reader receives them as numbered, in revision order.
func TestSequencer(t *testing.T) {
	for _, d := range instancetest.Databases() {
		t.Run(d.Name, func(t *testing.T) {
			ctx := scope.System(context.Background())
			db, projectID := d.OpenProject(ctx, t)
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
			got := &recorder{}
			f := changelog.NewFollower(db, slog.New(slog.DiscardHandler), store.Settler(slog.New(slog.DiscardHandler)), got)
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
			if got, err := f.Await(ctx, projectID, "", r+3); err != nil || got != r+3 {
				t.Fatalf("follower holds %d (%v), want %d", got, err, r+3)
			}
			user := func(id string) changelog.Event {
				return changelog.UserCreated{User: changelog.UserID(id)}
			}
			wantRecords := []changelog.Record{{Revision: r + 1, Event: user("a")}, {Revision: r + 1, Event: user("a")},
				{Revision: r + 2, Event: user("b")}, {Revision: r + 3, Event: user("c")}}
			if !slices.Equal(got.records(), wantRecords) {
				t.Errorf("reader received %v, want %v", got.records(), wantRecords)
			}
		})
	}
}

// TestSequencerBatch numbers more entries than one batch holds, of writes of
// two projects, with the batch's last write cut by its limit, on each
// database: every write gets one revision, each project's writes take its
// next revisions in the order of their first entry, and each counter ends at
// its last.
func TestSequencerBatch(t *testing.T) {
	for _, d := range instancetest.Databases() {
		t.Run(d.Name, func(t *testing.T) {
			ctx := scope.System(context.Background())
			db, first := d.OpenProject(ctx, t)
			now := time.Now()
			second, err := db.Project.Create().SetID("second").SetDisplayName("second").SetCreateTime(now).SetUpdateTime(now).Save(ctx)
			if err != nil {
				t.Fatal(err)
			}
			projects := []string{first, second.ID}
			start := map[string]int64{}
			for _, p := range projects {
				r, err := db.Project.Query().Where(project.ID(p)).Select(project.FieldRevision).Int(ctx)
				if err != nil {
					t.Fatal(err)
				}
				start[p] = int64(r)
			}
			before, err := db.Change.Query().IDs(ctx)
			if err != nil {
				t.Fatal(err)
			}
			last := slices.Max(append(before, 0))
			// 1,999 writes of one entry, alternating projects, then one of
			// three entries that the batch of 2,000 cuts after its first.
			type entry struct{ project, write string }
			var entries []entry
			for i := range 1999 {
				entries = append(entries, entry{projects[i%2], fmt.Sprintf("w%04d", i)})
			}
			for range 3 {
				entries = append(entries, entry{first, "cut"})
			}
			for chunk := range slices.Chunk(entries, 500) {
				creates := make([]*ent.ChangeCreate, len(chunk))
				for i, e := range chunk {
					creates[i] = db.Change.Create().SetProjectID(e.project).SetWriteID(e.write).SetKind(change.KindUser).
						SetOperation(change.OperationCreate).SetResourceID(e.write).SetCreateTime(now)
				}
				if err := db.Change.CreateBulk(creates...).Exec(ctx); err != nil {
					t.Fatal(err)
				}
			}
			f := changelog.NewFollower(db, slog.New(slog.DiscardHandler), store.Settler(slog.New(slog.DiscardHandler)))
			runCtx, stop := context.WithCancel(ctx)
			defer stop()
			if err := f.Start(runCtx); err != nil {
				t.Fatal(err)
			}
			rows, err := db.Change.Query().Where(change.IDGT(last)).Order(ent.Asc(change.FieldID)).All(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(entries) {
				t.Fatalf("read %d entries back, wrote %d", len(rows), len(entries))
			}
			next := maps.Clone(start)
			revs := map[string]int64{}
			for _, row := range rows {
				rev, seen := revs[row.WriteID]
				if !seen {
					next[row.ProjectID]++
					rev = next[row.ProjectID]
					revs[row.WriteID] = rev
				}
				if row.Revision != rev {
					t.Fatalf("entry %d of write %s in project %s: revision %d, want %d", row.ID, row.WriteID, row.ProjectID, row.Revision, rev)
				}
			}
			for _, p := range projects {
				got, err := db.Project.Query().Where(project.ID(p)).Select(project.FieldRevision).Int(ctx)
				if err != nil || int64(got) != next[p] {
					t.Fatalf("project %s at revision %d (%v), want %d", p, got, err, next[p])
				}
			}
		})
	}
}
