package service

// Reading, version-checking, updating and deleting one resource.

import (
	"context"
	"fmt"
	"slices"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/server/apierr"
	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/store"
)

// only returns the one row q selects; NotFound (kind id) when there is none.
// The store's scope confines q to what the request may see.
func only[T any](ctx context.Context, q interface {
	Only(context.Context) (T, error)
}, kind, id string) (T, error) {
	row, err := q.Only(ctx)
	if ent.IsNotFound(err) {
		return row, apierr.NotFound(kind, id)
	}
	if err != nil {
		return row, fmt.Errorf("read %s: %w", kind, err)
	}
	return row, nil
}

// masked returns whether an update mask names a path ("*" names all).
func masked(paths []string) func(string) bool {
	return func(path string) bool { return slices.Contains(paths, "*") || slices.Contains(paths, path) }
}

// deleteOne deletes one resource with del (which returns how many rows it
// deleted) and records deleted; NotFound when there was none. Rows it owns go
// with it by cascading foreign keys.
func deleteOne(ctx context.Context, w *store.Writer, kind, id string, deleted changelog.Event,
	del func(ctx context.Context, tx *store.Tx) (int, error)) (int64, error) {
	return w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		n, err := del(ctx, tx)
		if err != nil {
			return fmt.Errorf("delete %s: %w", kind, err)
		}
		if n == 0 {
			return apierr.NotFound(kind, id)
		}
		tx.Record(deleted)
		return nil
	})
}

// versionIs checks the version a query selects (one row's version field)
// against expected; a missing row is left to the caller's delete to report.
func versionIs(ctx context.Context, q interface {
	Ints(context.Context) ([]int, error)
}, expected int64) error {
	if expected == 0 {
		return nil
	}
	vs, err := q.Ints(ctx)
	if err != nil {
		return fmt.Errorf("read version: %w", err)
	}
	if len(vs) == 0 {
		return nil
	}
	return apierr.CheckVersion(int64(vs[0]), expected)
}

// requireVersion fails with NotFound when the query selects no row (kind id)
// and with VERSION_MISMATCH unless the row is at the expected version (0:
// any).
func requireVersion(ctx context.Context, q interface {
	Ints(context.Context) ([]int, error)
}, kind, id string, expected int64) error {
	vs, err := q.Ints(ctx)
	if err != nil {
		return fmt.Errorf("find %s: %w", kind, err)
	}
	if len(vs) == 0 {
		return apierr.NotFound(kind, id)
	}
	return apierr.CheckVersion(int64(vs[0]), expected)
}
