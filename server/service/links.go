package service

import (
	"context"
	"fmt"
	"slices"

	"github.com/acme/identity/server/apierr"
	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/store"
)

// links are the rows that tie one owner (a group, a user) to targets (users,
// roles): memberships, role assignments, group-role mappings. Adding and
// removing them has set semantics and reads and writes only the rows of the
// named targets, never all of the owner's. Rows are confined to the
// request's tenant by the store's scope.
type links struct {
	kind string // of the targets, for NotFound
	// exist returns which of ids are targets in the tenant.
	exist func(ctx context.Context, tx *store.Tx, ids []string) ([]string, error)
	// linked returns which of ids are linked to the owner already.
	linked func(ctx context.Context, tx *store.Tx, ids []string) ([]string, error)
	// insert links ids to the owner.
	insert func(ctx context.Context, tx *store.Tx, ids []string) error
	// unlink removes the links to ids.
	unlink         func(ctx context.Context, tx *store.Tx, ids []string) error
	added, removed func(id string) changelog.Event
}

// add links the targets not linked yet and returns how many it linked. It
// fails with NotFound, before writing anything, when a target is not in the
// tenant.
func (l links) add(ctx context.Context, tx *store.Tx, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	found, err := l.exist(ctx, tx, ids)
	if err != nil {
		return 0, fmt.Errorf("find %ss: %w", l.kind, err)
	}
	if missing := firstMissing(ids, found); missing != "" {
		return 0, apierr.NotFound(l.kind, missing)
	}
	existing, err := l.linked(ctx, tx, ids)
	if err != nil {
		return 0, fmt.Errorf("find links: %w", err)
	}
	already := setOf(existing)
	var fresh []string
	for _, id := range ids {
		if !already[id] {
			already[id] = true
			fresh = append(fresh, id)
			tx.Record(l.added(id))
		}
	}
	if len(fresh) == 0 {
		return 0, nil
	}
	if err := l.insert(ctx, tx, fresh); err != nil {
		return 0, fmt.Errorf("link %ss: %w", l.kind, err)
	}
	return len(fresh), nil
}

// remove unlinks the targets that are linked and returns them.
func (l links) remove(ctx context.Context, tx *store.Tx, ids []string) ([]string, error) {
	gone, err := l.linked(ctx, tx, ids)
	if err != nil {
		return nil, fmt.Errorf("find links: %w", err)
	}
	if len(gone) == 0 {
		return nil, nil
	}
	if err := l.unlink(ctx, tx, gone); err != nil {
		return nil, fmt.Errorf("unlink %ss: %w", l.kind, err)
	}
	for _, id := range gone {
		tx.Record(l.removed(id))
	}
	return gone, nil
}

// Chunks keep each IN list well inside every database's parameter limit.
const chunkSize = 500

// addChunked is add for any number of targets.
func addChunked(ctx context.Context, tx *store.Tx, l links, ids []string) (int, error) {
	total := 0
	for chunk := range slices.Chunk(ids, chunkSize) {
		n, err := l.add(ctx, tx, chunk)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// removeChunked is remove for any number of targets; it returns how many it
// removed.
func removeChunked(ctx context.Context, tx *store.Tx, l links, ids []string) (int, error) {
	total := 0
	for chunk := range slices.Chunk(ids, chunkSize) {
		gone, err := l.remove(ctx, tx, chunk)
		if err != nil {
			return 0, err
		}
		total += len(gone)
	}
	return total, nil
}

// firstMissing returns the first of want that is not in have, or "".
func firstMissing(want, have []string) string {
	found := setOf(have)
	for _, id := range want {
		if !found[id] {
			return id
		}
	}
	return ""
}

func setOf(ids []string) map[string]bool {
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	return set
}
