package store

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/server/apierr"
	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/store/scope"
)

// Committer learns of every committed write of this instance; the write
// returns once it has (the change-log follower, so that this instance's role
// index and credential cache hold the write before the caller sees it).
type Committer interface {
	Committed(ctx context.Context, projectID string, rev int64) error
}

// Writer runs writes: one transaction, one revision, its change-log events.
type Writer struct {
	db        *ent.Client
	log       *slog.Logger
	now       func() time.Time
	committed Committer
}

// NewWriter returns the writer of db. now is the clock (time.Now outside
// tests).
func NewWriter(db *ent.Client, log *slog.Logger, now func() time.Time, committed Committer) *Writer {
	return &Writer{db: db, log: log, now: now, committed: committed}
}

// Now returns the current time as stored: UTC with microsecond precision,
// which both SQLite and PostgreSQL keep exactly, so a value returned by a write
// equals the value a later read returns.
func Now(now func() time.Time) time.Time { return now().UTC().Truncate(time.Microsecond) }

// Tx is a write in progress: the transaction (scoped like the request), the
// revision it commits as, its time, and the events it records.
type Tx struct {
	*ent.Tx
	// ProjectID is the caller's project.
	ProjectID string
	// Revision is the revision this write commits as; resources it touches
	// take it as their version.
	Revision int64
	// Now is the write's time, as stored.
	Now    time.Time
	events []changelog.Event
}

// Record adds events to the write's change-log entries.
func (tx *Tx) Record(events ...changelog.Event) { tx.events = append(tx.events, events...) }

// Changed says whether the write has recorded an event: a write that records
// none changed nothing and rolls back.
func (tx *Tx) Changed() bool { return len(tx.events) > 0 }

// Write runs fn in one transaction of the caller's project (the scope of
// ctx) and appends its events in that same transaction, so the log never
// misses a committed write nor holds an uncommitted one. It returns the
// write's revision. When ctx is scoped to a tenant, the tenant is first found
// in the project inside the transaction (NotFound otherwise), and only then
// may fn create rows of it.
//
// Revision order is commit order: the transaction first increments the
// project's revision counter. On PostgreSQL that UPDATE takes the project row's
// lock, which the transaction holds until it commits or rolls back, so a
// second writer of the same project waits at its own increment and reads the
// committed value; revisions are therefore handed out one transaction at a
// time, and no revision becomes visible before a smaller one. On SQLite every
// transaction begins IMMEDIATE (see Open), which serializes writers of the
// whole database the same way. A rolled-back write leaves no gap.
//
// When fn records no event (an idempotent call that changed nothing), the
// transaction rolls back and Write returns the current revision, which already
// reflects the requested state.
func (w *Writer) Write(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) (int64, error) {
	sc, ok := scope.From(ctx)
	if !ok || sc.ProjectID == "" {
		return 0, scope.ErrUnscoped
	}
	etx, err := w.db.Tx(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	rollback := func(err error) (int64, error) {
		if rerr := etx.Rollback(); rerr != nil {
			w.log.WarnContext(ctx, "rollback failed", "error", rerr)
		}
		return 0, err
	}
	p, err := etx.Project.UpdateOneID(sc.ProjectID).AddRevision(1).Save(ctx)
	if err != nil {
		if ent.IsNotFound(err) {
			return rollback(apierr.NotFound("project", sc.ProjectID))
		}
		return rollback(fmt.Errorf("increment revision: %w", err))
	}
	if sc.TenantID != "" {
		if err := requireTenant(ctx, etx.Client(), sc.TenantID); err != nil {
			return rollback(err)
		}
		sc.MarkVerified()
	}
	tx := &Tx{Tx: etx, ProjectID: sc.ProjectID, Revision: p.Revision, Now: Now(w.now)}
	if err := fn(ctx, tx); err != nil {
		return rollback(err)
	}
	if len(tx.events) == 0 {
		if _, err := rollback(nil); err != nil {
			return 0, err
		}
		return p.Revision - 1, nil
	}
	rows := make([]*ent.ChangeCreate, len(tx.events))
	for i, e := range tx.events {
		rows[i] = changelog.Encode(etx, sc.ProjectID, p.Revision, tx.Now, e)
	}
	if err := etx.Change.CreateBulk(rows...).Exec(ctx); err != nil {
		return rollback(fmt.Errorf("append change log: %w", err))
	}
	if err := etx.Commit(); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	// The write returns once this instance's readers of the change log hold
	// it, so checks and revocations take effect from the next request. The
	// write is committed either way: a slow reader is logged, not failed.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := w.committed.Committed(wctx, sc.ProjectID, p.Revision); err != nil {
		w.log.WarnContext(ctx, "change-log readers behind a committed write", "revision", p.Revision, "error", err)
	}
	return p.Revision, nil
}
