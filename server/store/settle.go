package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/tenantcount"
	"github.com/acme/identity/server/audit"
	"github.com/acme/identity/server/changelog"
)

// A write's audit event and the changes to its tenant's counts are settled
// when the write is numbered, not by the write itself, on databases where
// writes are numbered after they commit (PostgreSQL): the write stores them,
// encoded, on its first change-log entry, and the sequencer settles every
// write of its batch in the transaction that numbers them (Settler). A user
// create then runs the statements its rows need and nothing else, and the
// audit events and counts of a batch take one statement each instead of one
// per write. Where a write numbers itself (SQLite), it settles itself, in
// its own transaction.
//
// Nothing reads the difference: a write answers its revision once numbered,
// so its audit event is stored and its count is added by then; a count read
// meanwhile adds the settlements still waiting (Total).

// settlement is what one write leaves to its numbering.
type settlement struct {
	Audit  audit.Write  `json:"audit"`
	Counts []countDelta `json:"counts,omitempty"`
}

// countDelta is a change to the number of a tenant's rows of one kind.
type countDelta struct {
	TenantID string           `json:"tenant_id"`
	Kind     tenantcount.Kind `json:"kind"`
	N        int64            `json:"n"`
}

// Settler returns what the changelog's sequencer calls for each batch it
// numbers (changelog.Settle): it stores, in the batch's transaction, what the
// batch's writes left to their numbering, as Writer encoded it on their
// entries. A settlement that does not decode (written by a newer version) is
// logged and skipped rather than stopping the log.
func Settler(log *slog.Logger) changelog.Settle {
	return func(ctx context.Context, tx *ent.Tx, encoded [][]byte) error {
		all := make([]settlement, 0, len(encoded))
		for _, b := range encoded {
			var s settlement
			if err := json.Unmarshal(b, &s); err != nil {
				log.ErrorContext(ctx, "a write's settlement does not decode: its audit event and counts are skipped", "error", err)
				continue
			}
			all = append(all, s)
		}
		return settle(ctx, tx, all)
	}
}

func settle(ctx context.Context, tx *ent.Tx, all []settlement) error {
	if len(all) == 0 {
		return nil
	}
	writes := make([]audit.Write, len(all))
	var counts []countDelta
	for i, s := range all {
		writes[i] = s.Audit
		counts = append(counts, s.Counts...)
	}
	if err := audit.RecordWrites(ctx, tx, writes); err != nil {
		return err
	}
	return addCounts(ctx, tx, counts)
}

// addCounts adds the deltas to their tenants' counts, one statement per
// tenant and kind. A tenant deleted since its write committed is skipped
// (its counts went with it): the statement inserts nothing for it, where a
// plain upsert would fail its foreign key and, with it, the whole batch. (A
// tenant deleted between the statement's read and its foreign-key check
// still fails the batch, once: the next poll numbers it without the tenant.)
func addCounts(ctx context.Context, tx *ent.Tx, deltas []countDelta) error {
	type key struct {
		tenant string
		kind   tenantcount.Kind
	}
	sum := map[key]int64{}
	for _, d := range deltas {
		sum[key{d.TenantID, d.Kind}] += d.N
	}
	// in a fixed order, so that sequencers of two instances lock the rows
	// in the same order
	keys := slices.SortedFunc(maps.Keys(sum), func(a, b key) int {
		return cmp.Or(cmp.Compare(a.tenant, b.tenant), cmp.Compare(a.kind, b.kind))
	})
	for _, k := range keys {
		if sum[k] == 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, addCountSQL, k.tenant, string(k.kind), sum[k]); err != nil {
			return fmt.Errorf("count %s: %w", k.kind, err)
		}
	}
	return nil
}
