package store

import (
	"slices"
	"testing"
	"time"

	"github.com/acme/identity/ent/change"
	"github.com/acme/identity/server/changelog"
)

// TestChangeRowCoversColumns keeps the change log's rows in step with the
// schema: every column but the database's id, with a value for each.
func TestChangeRowCoversColumns(t *testing.T) {
	r := changeRow(changelog.Encode("p", "w", 0, time.Now(), changelog.UserCreated{Tenant: "t", User: "u"}), []byte("{}"))
	want := slices.DeleteFunc(slices.Clone(change.Columns), func(c string) bool { return c == change.FieldID })
	if !slices.Equal(slices.Sorted(slices.Values(r.Columns)), slices.Sorted(slices.Values(want))) || len(r.Values) != len(r.Columns) {
		t.Fatalf("columns %v with %d values, want %v", r.Columns, len(r.Values), want)
	}
}

// TestInsertStatements: rows of one table and columns in a run share a
// statement, in order, their parameters numbered through.
func TestInsertStatements(t *testing.T) {
	a := func(v ...any) Row { return Row{Table: "a", Columns: []string{"x", "y"}, Values: v} }
	b := Row{Table: "b", Columns: []string{"z"}, Values: []any{5}}
	got := insertStatements([]Row{a(1, 2), a(3, 4), b, a(6, 7)})
	want := []statement{
		{"a", `INSERT INTO "a" ("x", "y") VALUES ($1, $2), ($3, $4)`, []any{1, 2, 3, 4}},
		{"b", `INSERT INTO "b" ("z") VALUES ($1)`, []any{5}},
		{"a", `INSERT INTO "a" ("x", "y") VALUES ($1, $2)`, []any{6, 7}},
	}
	if len(got) != len(want) {
		t.Fatalf("%d statements, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].table != want[i].table || got[i].sql != want[i].sql || !slices.Equal(got[i].args, want[i].args) {
			t.Errorf("statement %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
