package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/auditevent"
	"github.com/acme/identity/server/audit"
	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/store/scope"
)

// Committer learns of every write of this instance; the write returns once
// its revision is known and this instance's readers of the change log hold it
// (the change-log follower, so that this instance's role index and credential
// cache hold the write before the caller sees it), or, answered at commit,
// once this instance's reads wait for it (Detach).
type Committer interface {
	// Committing is called before the write commits, with the revision the
	// write numbered itself or 0; Abandoned when it does not commit.
	Committing(writeID string, rev int64)
	Abandoned(writeID string)
	// Committed waits for the committed write and returns its revision.
	Committed(ctx context.Context, projectID, writeID string) (int64, error)
	// Applied hands a committed write that numbered itself to this
	// instance's readers and reports whether it could; if not, the write
	// waits in Committed.
	Applied(ctx context.Context, projectID, writeID string, rev int64, events []changelog.Event) bool
	// Detach says a committed write of the tenant ("": of the project) is
	// answered before it is numbered: this instance's reads of the tenant
	// that begin from then on wait for it. held is called once Committed
	// has returned for it and its consequences are explained (or the writer
	// gave up).
	Detach(projectID, tenantID, writeID string) (held func())
	// Current returns a revision reflecting every write committed before
	// the call.
	Current(ctx context.Context, projectID string) (int64, error)
}

// Writer runs writes: each all or nothing, one revision, its change-log
// events.
type Writer struct {
	db        *ent.Client
	log       *slog.Logger
	now       func() time.Time
	committed Committer
	inline    bool
	explainer *audit.Explainer // nil: role consequences are not explained
	serial    *WriteTurns
	batches   *batcher // inline: writes commit in shared transactions
	fair      *fairShare
	pool      *sql.DB      // PostgreSQL's, for pipelined insertions (InsertRows); nil: none
	pipelined atomic.Int64 // insertions sent pipelined, for tests

	// detached counts the writes answered at commit still being numbered;
	// idle is closed when it falls to zero (nil while it is zero); once
	// draining, writes are answered once numbered again.
	detachedMu sync.Mutex
	detached   int
	idle       chan struct{}
	draining   bool
}

// maxDetached bounds the writes answered at commit whose numbering is still
// to come: when the sequencer falls behind, further writes wait for their
// numbering as any other (which slows their IdP down) instead of piling up,
// each with a goroutine, and making every read of their tenant wait longer.
const maxDetached = 1000

// PipelineOn makes the writer send insertions through pool, PostgreSQL's
// connection pool under its client, in one round trip each (see InsertRows).
func (w *Writer) PipelineOn(pool *sql.DB) { w.pool = pool }

// ExplainWith makes the writer store, after each write, the role consequences
// x finds for it on its audit event.
func (w *Writer) ExplainWith(x *audit.Explainer) { w.explainer = x }

// NewWriter returns the writer of db. now is the clock (time.Now outside
// tests). numberInline says the database runs one write transaction at a
// time (SQLite, see SerializesWrites): a write then takes its revision itself,
// from the project's counter, since holding that row costs nothing more.
//
// serial is, where the database runs one writer at a time (SQLite), the
// turns every writer of it in the process takes (WriteLock): this writer's
// batches (see batcher) take them, so writers queue there instead of on the
// database's busy handler, which sleeps milliseconds between tries.
func NewWriter(db *ent.Client, log *slog.Logger, now func() time.Time, committed Committer, numberInline bool, serial *WriteTurns) *Writer {
	w := &Writer{db: db, log: log, now: now, committed: committed, inline: numberInline, serial: serial, fair: newFairShare(time.Now, fairSlots(numberInline))}
	w.batches = &batcher{w: w}
	return w
}

// Now returns the current time as stored: UTC with microsecond precision,
// which both SQLite and PostgreSQL keep exactly, so a value returned by a write
// equals the value a later read returns.
func Now(now func() time.Time) time.Time { return now().UTC().Truncate(time.Microsecond) }

// Tx is a write in progress: the transaction (scoped like the request), its
// time, and the events it records. Resources it changes add one to their
// version.
type Tx struct {
	*ent.Tx
	// ProjectID is the caller's project.
	ProjectID string
	// Now is the write's time, as stored.
	Now    time.Time
	events []changelog.Event
	counts []countDelta
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
// Writes of one tenant run one at a time: the transaction first locks the
// tenant's row (on PostgreSQL, FOR NO KEY UPDATE, which the tenant's inserts
// do not wait for, see Insert; on SQLite every transaction begins IMMEDIATE,
// see Open, which serializes all writers), so a write's checks (a name
// taken, a member present, a version expected) hold until it commits. Writes
// of the project as a whole (tenants, access keys, roles, clients, keys) lock
// the project's row (FOR UPDATE). Writes of different tenants do not wait for
// each other; what must hold across tenants is a unique index.
//
// The events are appended last, with revision 0; the change log's sequencer
// numbers them after commit (see changelog.sequence for why that order is
// commit order where it matters) and settles the write's audit event and
// counts in the same transaction (see Settler), and Write returns once the
// write is numbered and this instance's readers hold it (a write of the SCIM
// gateway returns at commit, with revision 0: see answeredAtCommit). A
// rolled-back write leaves nothing to number, so revisions have no gaps. Where
// the database runs one write at a time anyway (SQLite), the write numbers
// itself from the project's counter before appending and settles itself, in
// the same transaction, and after committing hands its events to this
// instance's readers itself; there the Inserts queued while one commits commit
// together, each in a savepoint of its own, so each stays all or nothing (see
// batcher).
//
// When fn records no event (an idempotent call that changed nothing), the
// transaction rolls back and Write returns a revision that reflects every
// write committed before it, so it reflects the requested state.
func (w *Writer) Write(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) (int64, error) {
	return w.write(ctx, true, fn)
}

// Insert is Write for a write of a tenant that only adds rows, whose
// uniqueness a unique index guards, and checks nothing it read: it takes no
// lock on the tenant, so such writes (the users an IdP provisions, through
// InsertRows) run side by side with each other and with the tenant's other
// writes. When the scope already vouches for the tenant
// (scope.WithKnownTenant: the caller's SCIM credential names it), the tenant
// is not looked up again; fn must then insert a row with a foreign key to the
// tenant first, which fails if the tenant was deleted meanwhile.
func (w *Writer) Insert(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) (int64, error) {
	return w.write(ctx, false, fn)
}

func (w *Writer) write(ctx context.Context, exclusive bool, fn func(ctx context.Context, tx *Tx) error) (int64, error) {
	sc, ok := scope.From(ctx)
	if !ok || sc.ProjectID == "" {
		return 0, scope.ErrUnscoped
	}
	release, err := w.share(ctx, sc.TenantID)
	if err != nil {
		return 0, err
	}
	defer release()
	if w.inline {
		// on SQLite its share covers its batch, and its hand-over to
		// the readers (Applied), quick after it
		return w.batches.write(ctx, sc, exclusive, fn)
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
	st, err := w.stage(ctx, etx, sc, exclusive, fn)
	if err != nil {
		return rollback(err)
	}
	if st == nil {
		if _, err := rollback(nil); err != nil {
			return 0, err
		}
		return w.committed.Current(ctx, sc.ProjectID)
	}
	return w.commit(ctx, sc, st, release, func() error {
		if err := etx.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	})
}

// commit commits a staged write with do (its transaction's commit, or its
// pipeline), announced to the readers before, then releases its share of
// the machine (its transaction was its share) and answers it.
func (w *Writer) commit(ctx context.Context, sc *scope.Scope, st *staged, release func(), do func() error) (int64, error) {
	// counted before it commits, so that Drain, once begun, finds it
	detach := answeredAtCommit(ctx) && w.startDetached()
	w.committed.Committing(st.writeID, st.rev)
	if err := do(); err != nil {
		w.committed.Abandoned(st.writeID)
		if detach {
			w.endDetached()
		}
		return 0, err
	}
	release()
	return w.answer(ctx, sc, st, detach)
}

// share waits for the tenant's fair share of the database (see fairShare)
// and returns its release, which may be called more than once.
func (w *Writer) share(ctx context.Context, tenantID string) (release func(), err error) {
	if err := w.fair.acquire(ctx, tenantID); err != nil {
		return nil, err
	}
	released := false
	return func() {
		if !released {
			released = true
			w.fair.release(tenantID)
		}
	}, nil
}

// answer returns a committed write's revision once its readers hold it, or,
// detached (answered at commit), at once with revision 0 while a goroutine
// waits for its numbering.
func (w *Writer) answer(ctx context.Context, sc *scope.Scope, st *staged, detached bool) (int64, error) {
	if !detached {
		return w.committedWrite(ctx, sc.ProjectID, st, false)
	}
	held := w.committed.Detach(sc.ProjectID, sc.TenantID, st.writeID)
	go func() {
		defer w.endDetached()
		defer held()
		_, _ = w.committedWrite(context.WithoutCancel(ctx), sc.ProjectID, st, false)
	}()
	return 0, nil
}

// answeredAtCommit says whether a write numbered after its commit is answered
// at once, with revision 0, rather than once numbered: so are the writes of
// the SCIM gateway. SCIM has no revision to answer, and an IdP provisioning
// at its connections' pace would otherwise wait, on each request, for the
// sequencer's own transaction to commit after its write's (measured on
// PostgreSQL: a user create waited about 7 ms for its numbering after its 4
// ms transaction, and eight connections provisioned about two thirds of what
// they do answered at commit, which also gives the sequencer larger batches).
// SCIM reads the database, so the IdP's next request sees the write; this instance's
// readers of the change log (role checks, tokens) wait for it all the same
// (Committer.Detach); another instance's are, as for any write, a poll
// behind. The write's audit event is settled with its numbering and its
// role consequences explained after it, as for any write, only after the
// answer.
func answeredAtCommit(ctx context.Context) bool {
	return audit.From(ctx).Source == auditevent.SourceScim
}

// startDetached counts a write to be answered at commit and reports
// whether it may be: not once Drain has begun, nor past maxDetached. (A
// WaitGroup would count, but its Add may not race its Wait, and a request
// may still write while the instance stops.)
func (w *Writer) startDetached() bool {
	w.detachedMu.Lock()
	defer w.detachedMu.Unlock()
	if w.draining || w.detached >= maxDetached {
		return false
	}
	if w.detached == 0 {
		w.idle = make(chan struct{})
	}
	w.detached++
	return true
}

// endDetached ends a write counted by startDetached.
func (w *Writer) endDetached() {
	w.detachedMu.Lock()
	defer w.detachedMu.Unlock()
	w.detached--
	if w.detached == 0 {
		close(w.idle)
		w.idle = nil
	}
}

// Drain makes further writes wait for their numbering, and waits, at most
// until ctx ends, until the writes answered at commit are numbered and
// explained: an instance stops after them.
func (w *Writer) Drain(ctx context.Context) {
	w.detachedMu.Lock()
	w.draining = true
	idle := w.idle
	w.detachedMu.Unlock()
	if idle == nil {
		return
	}
	select {
	case <-idle:
	case <-ctx.Done():
	}
}

// staged is a write done inside its transaction (or pipelined), not yet
// committed.
type staged struct {
	events      []changelog.Event
	writeID     string
	rev         int64 // numbered by the write itself (inline), else 0
	auditTenant string
	settled     settlement
	now         time.Time
}

// newStaged returns the staged write of events, made at now.
func (w *Writer) newStaged(ctx context.Context, sc *scope.Scope, now time.Time, events []changelog.Event, counts []countDelta) *staged {
	st := &staged{events: events, writeID: NewID(), auditTenant: audit.Tenant(sc.TenantID, events), now: now}
	st.settled = settlement{Audit: audit.NewWrite(ctx, sc.ProjectID, st.auditTenant, st.writeID, len(events), now), Counts: counts}
	return st
}

// entries returns the rows of st's change-log entries; numbered after
// commit, the first carries the write's settlement for the sequencer.
func (w *Writer) entries(projectID string, st *staged) ([]Row, error) {
	var settlement []byte
	if !w.inline {
		var err error
		if settlement, err = json.Marshal(st.settled); err != nil {
			return nil, fmt.Errorf("encode the write's settlement: %w", err)
		}
	}
	rows := make([]Row, len(st.events))
	for i, e := range st.events {
		rows[i] = changeRow(changelog.Encode(projectID, st.writeID, st.rev, st.now, e), settlement)
		settlement = nil
	}
	return rows, nil
}

// stage runs a write inside etx: it finds (or locks) the tenant or locks the
// project, runs fn and appends the write's events. It returns nil when fn
// recorded no event (the transaction, or the write's part of it, is then
// rolled back).
func (w *Writer) stage(ctx context.Context, etx *ent.Tx, sc *scope.Scope, exclusive bool, fn func(ctx context.Context, tx *Tx) error) (*staged, error) {
	if sc.TenantID != "" {
		if exclusive || !sc.Verified() {
			var lock func(*entsql.Selector)
			if exclusive {
				lock = forNoKeyUpdate
			}
			if err := findTenant(ctx, etx.Client(), sc.TenantID, lock); err != nil {
				return nil, err
			}
			sc.MarkVerified()
		}
	} else if err := lockProject(ctx, etx.Client(), sc.ProjectID); err != nil {
		return nil, err
	}
	tx := &Tx{Tx: etx, ProjectID: sc.ProjectID, Now: Now(w.now)}
	if err := fn(ctx, tx); err != nil {
		return nil, err
	}
	if len(tx.events) == 0 {
		return nil, nil
	}
	st := w.newStaged(ctx, sc, tx.Now, tx.events, tx.counts)
	if w.inline {
		var err error
		if st.rev, err = changelog.Advance(ctx, etx, sc.ProjectID, 1); err != nil {
			return nil, fmt.Errorf("number the write: %w", err)
		}
	}
	rows, err := w.entries(sc.ProjectID, st)
	if err != nil {
		return nil, err
	}
	if err := insertRows(ctx, etx, rows); err != nil {
		return nil, fmt.Errorf("append change log: %w", err)
	}
	if w.inline {
		if err := settle(ctx, etx, []settlement{st.settled}); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// committedWrite finishes a committed write: it returns once this instance's
// readers of the change log hold it, so checks and revocations take effect
// from the next request (the write is committed either way: a slow reader
// is logged, not failed), then explains its role consequences. applied says
// that the write, numbered inline, was handed to the readers already.
func (w *Writer) committedWrite(ctx context.Context, projectID string, st *staged, applied bool) (int64, error) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	got := st.rev
	if !applied {
		var err error
		if got, err = w.committed.Committed(wctx, projectID, st.writeID); err != nil {
			// Unnumbered, the write answers revision 0, which asks no
			// reader to wait.
			w.log.WarnContext(ctx, "change-log readers behind a committed write", "write", st.writeID, "error", err)
			return st.rev, nil
		}
	}
	if w.explainer != nil {
		// storing the explanation is a write of its own: it takes its turn too
		tenantID := ""
		if sc, ok := scope.From(ctx); ok {
			tenantID = sc.TenantID
		}
		if err := w.explainer.Explain(wctx, w.serial.For(tenantID), projectID, st.auditTenant, st.writeID, got, st.events); err != nil {
			w.log.WarnContext(ctx, "explain a write's role consequences", "write", st.writeID, "error", err)
		}
	}
	return got, nil
}
