package changelog

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/change"
	"github.com/acme/identity/ent/project"
)

// sequenceBatch bounds the entries one sequencing transaction numbers.
const sequenceBatch = 2_000

// sequence numbers committed entries that have no revision yet: each write's
// entries get the next revision of their project, writes taken in the order
// of their entries' ids. It returns what it numbered of each project, the
// entries included (so that the follower hands them to its readers without
// reading them back), and whether entries may be left (a full batch).
// expected says that writes of this instance are waiting for their revision.
//
// Why numbering after commit: a revision taken inside the write (a counter row
// every write updates) holds that row's lock from the increment to the
// commit, so writes of a project, whatever their tenant, commit one at a time
// and at most as fast as one lock can be passed on (about 1,200 per second on
// the 2-core CI machine with PostgreSQL). Here a write takes no shared lock;
// the sequencer numbers a batch of writes in one short transaction.
//
// Why the order is right: a write appends its entries as its last statement,
// so its ids are taken after every lock it waited for and every row it read.
// If write B waited for or read write A, A had committed before B took its
// ids; A was therefore visible to any batch that sees B, and is numbered in
// that batch before B (smaller ids) or in an earlier one. Writes numbered in
// another order are concurrent and touch no common row, so readers applying
// them in either order reach the same state. Sequencers of several instances
// take the batch's rows FOR UPDATE on PostgreSQL (a second one waits, then
// skips rows the first has numbered) and update projects in id order, so they
// neither number an entry twice nor deadlock; on SQLite every transaction
// holds the database's write lock.
//
// settle stores, in the same transaction, what the numbered writes left to
// their numbering (their entries' settlements, in entry order).
func sequence(ctx context.Context, db *ent.Client, expected bool, settle Settle) ([]numbered, bool, error) {
	// Most polls find nothing to number (and on SQLite writes number
	// themselves): unless writes of this instance are waiting to be
	// numbered, look before taking a write transaction.
	if !expected {
		waiting, err := db.Change.Query().Where(unnumbered).Exist(ctx)
		if err != nil || !waiting {
			return nil, false, err
		}
	}
	tx, err := db.Tx(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("begin: %w", err)
	}
	batches, more, err := sequenceTx(ctx, tx, settle)
	if err != nil {
		_ = tx.Rollback()
		return nil, false, err
	}
	if err := tx.Commit(); err != nil {
		return nil, false, fmt.Errorf("commit: %w", err)
	}
	return batches, more, nil
}

// numbered is what one sequencing numbered of a project: revisions from
// through to, and their entries in the order the follower reads them
// (revision, then id), each holding its revision.
type numbered struct {
	project  string
	from, to int64
	entries  []*ent.Change
}

func sequenceTx(ctx context.Context, tx *ent.Tx, settle Settle) ([]numbered, bool, error) {
	rows, err := tx.Change.Query().
		Where(unnumbered).Unique(false).
		Order(ent.Asc(change.FieldID)).
		Limit(sequenceBatch).
		Modify(forUpdate).
		All(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("read unsequenced entries: %w", err)
	}
	if len(rows) == 0 {
		return nil, false, nil
	}
	more := len(rows) == sequenceBatch
	if more {
		// The batch may have cut a write: take the rest of its entries too,
		// so that all of them get its one revision.
		ids := make([]string, 0, len(rows))
		for _, r := range rows {
			ids = append(ids, r.WriteID)
		}
		rest, err := tx.Change.Query().
			Where(unnumbered, change.IDGT(rows[len(rows)-1].ID), change.WriteIDIn(ids...)).Unique(false).
			Order(ent.Asc(change.FieldID)).
			Modify(forUpdate).
			All(ctx)
		if err != nil {
			return nil, false, fmt.Errorf("read the rest of a write: %w", err)
		}
		rows = append(rows, rest...)
	}
	// Each project's writes, in the order of their first entry.
	type write struct {
		rows []*ent.Change
		rev  int64
	}
	writes := map[string][]*write{}
	byID := map[string]*write{}
	for _, r := range rows {
		w := byID[r.WriteID]
		if w == nil {
			w = &write{}
			byID[r.WriteID] = w
			writes[r.ProjectID] = append(writes[r.ProjectID], w)
		}
		w.rows = append(w.rows, r)
	}
	var out []numbered
	for _, p := range slices.Sorted(maps.Keys(writes)) {
		ws := writes[p]
		last, err := Advance(ctx, tx, p, int64(len(ws)))
		if err != nil {
			return nil, false, fmt.Errorf("advance project %s: %w", p, err)
		}
		n := numbered{project: p, from: last - int64(len(ws)-1), to: last}
		var ids []int64
		for i, w := range ws {
			w.rev = n.from + int64(i)
			for _, r := range w.rows {
				r.Revision = w.rev
				ids = append(ids, r.ID)
			}
			n.entries = append(n.entries, w.rows...)
		}
		out = append(out, n)
		// One statement numbers the project's batch: each entry takes its
		// write's revision, and drops its settlement (settled below).
		err = tx.Change.Update().Where(change.IDIn(ids...)).ClearSettlement().Modify(func(u *entsql.UpdateBuilder) {
			u.Set(change.FieldRevision, entsql.ExprFunc(func(b *entsql.Builder) {
				b.WriteString("CASE")
				for _, w := range ws {
					b.WriteString(" WHEN ").Ident(change.FieldID).WriteString(" IN (")
					for i, r := range w.rows {
						if i > 0 {
							b.Comma()
						}
						b.Arg(r.ID)
					}
					b.WriteString(") THEN CAST(").Arg(w.rev).WriteString(" AS BIGINT)")
				}
				b.WriteString(" END")
			}))
		}).Exec(ctx)
		if err != nil {
			return nil, false, fmt.Errorf("number writes: %w", err)
		}
	}
	var settlements [][]byte
	for _, r := range rows {
		if r.Settlement != nil {
			settlements = append(settlements, *r.Settlement)
			r.Settlement = nil // as stored now
		}
	}
	if len(settlements) > 0 {
		if err := settle(ctx, tx, settlements); err != nil {
			return nil, false, fmt.Errorf("settle numbered writes: %w", err)
		}
	}
	return out, more, nil
}

// Settle stores, in the transaction tx that numbers them, what writes left
// to their numbering: the settlements they stored on their entries (see
// store.Settler, which the changelog cannot import: the store imports it).
type Settle func(ctx context.Context, tx *ent.Tx, settlements [][]byte) error

// Advance adds n to the project's revision and returns the new value, in one
// statement (ent's update would read the row again after writing it): the
// sequencer numbers a batch with it, and a write on SQLite numbers itself.
// Both databases accept the statement as written: PostgreSQL and SQLite
// (3.35 and later) know RETURNING, and SQLite binds $1 and $2 in order.
func Advance(ctx context.Context, tx *ent.Tx, projectID string, n int64) (int64, error) {
	rows, err := tx.QueryContext(ctx, "UPDATE "+project.Table+" SET "+project.FieldRevision+" = "+project.FieldRevision+
		" + $1 WHERE "+project.FieldID+" = $2 RETURNING "+project.FieldRevision, n, projectID)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("no such project")
	}
	var rev int64
	if err := rows.Scan(&rev); err != nil {
		return 0, err
	}
	return rev, rows.Close()
}

// unnumbered selects entries the sequencer has not numbered. The 0 is
// written into the statement, not passed as a parameter, so that the planner
// matches the partial index on "revision = 0" (a prepared statement's generic
// plan cannot know the parameter is 0, and would scan the log).
func unnumbered(s *entsql.Selector) {
	s.Where(entsql.ExprP(s.C(change.FieldRevision) + " = 0"))
}

// forUpdate locks the selected rows on PostgreSQL; SQLite has no row locks
// (its transactions hold the database's write lock instead). The store has
// the same modifier; it imports this package, so this one cannot import it.
func forUpdate(s *entsql.Selector) {
	if s.Dialect() == dialect.Postgres {
		s.ForUpdate()
	}
}
