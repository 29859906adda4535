package changelog

import (
	"context"
	"fmt"
	"iter"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/project"
	"github.com/acme/identity/server/apierr"
	"github.com/acme/identity/server/store/scope"
)

// PollInterval is how often a Follower reads the change log when this
// instance has not written.
//
// Propagation is by polling (every PollInterval, and at once when this
// instance commits a write; a write on SQLite, which numbers itself, hands
// itself to this instance's readers instead: Applied): it works the same on
// SQLite and PostgreSQL,
// needs no extra connection per instance, and because each poll first numbers
// the committed writes no one has numbered yet (see sequence) and a revision
// is only ever given to committed entries, reading "revision > last applied"
// never skips a write. A write through another instance therefore reaches
// this one within PollInterval plus one apply, well under a second.
// LISTEN/NOTIFY would shave the poll wait on PostgreSQL only, at the cost of a
// held connection per instance and a second code path.
const PollInterval = 100 * time.Millisecond

// Linger is how long a poll waits, when only writes already answered wait
// for it (Detach), for the writes committing meanwhile to join them: one
// numbering transaction then covers more writes (with an IdP provisioning
// at full speed on PostgreSQL: about 5% more users a second, 5% less of
// identityd's CPU per user). Anyone waiting for a poll cuts it short.
const Linger = 10 * time.Millisecond

// A Reader keeps state from the change log.
type Reader interface {
	// Apply receives a project's records in revision order, each revision
	// whole. It may receive records again after an error (its own or another
	// reader's), so applying must be idempotent.
	Apply(ctx context.Context, projectID string, records []Record) error
}

// A Loader is a Reader that starts from the database's current state.
type Loader interface {
	Reader
	// Load reads the current state, before the first Apply; the first Apply
	// then replays what changed while Load read (harmless: idempotent).
	Load(ctx context.Context) error
	// Loaded is called once the replay after Load is applied; revision
	// returns each project's revision at that point.
	Loaded(revision func(projectID string) int64)
}

// Follower reads each project's change log after it is written and hands
// new records to its readers.
type Follower struct {
	db      *ent.Client
	log     *slog.Logger
	settle  Settle
	readers []Reader
	poke    chan struct{}
	nudge   chan struct{} // a poll is wanted, within Linger

	mu       sync.RWMutex
	projects map[string]*projectState

	// applyMu makes the readers' Apply calls one at a time, whether the
	// poll makes them or a write handing itself over (Applied).
	applyMu sync.Mutex

	// writes holds this instance's writes that have committed or are about
	// to, by write id, with their revision once a poll has seen it (0
	// before). learned is closed and replaced whenever one of them gets its
	// revision.
	writesMu sync.Mutex
	writes   map[string]int64
	learned  chan struct{}
	// answered holds those of writes answered before their numbering.
	answered map[string]struct{}

	// polls counts polls begun and ended; polled is closed and replaced
	// whenever one ends.
	pollsBegun, pollsEnded atomic.Int64
	polledMu               sync.Mutex
	polled                 chan struct{}
}

type projectState struct {
	applied atomic.Int64 // every reader holds every change up to this revision
	// committed is the highest revision this instance committed; reads
	// without an explicit revision wait for it, which gives read-after-write
	// on this instance.
	committed atomic.Int64
	// detached counts the writes answered before their numbering (Detach)
	// that the readers may not hold yet; reads wait for those of their
	// tenant answered before they began.
	detached atomic.Int64
	mu       sync.Mutex
	advanced chan struct{}       // closed and replaced whenever applied grows or a detached write is held
	tickets  map[string]*tickets // by tenant ("" for writes of the project)
}

// NewFollower returns a follower of db's change log feeding readers, in
// order; settle stores what the writes it numbers left to their numbering.
func NewFollower(db *ent.Client, log *slog.Logger, settle Settle, readers ...Reader) *Follower {
	return &Follower{db: db, log: log, settle: settle, readers: readers, poke: make(chan struct{}, 1), nudge: make(chan struct{}, 1),
		projects: map[string]*projectState{}, writes: map[string]int64{}, answered: map[string]struct{}{}, learned: make(chan struct{}),
		polled: make(chan struct{})}
}

// Start loads the readers and applies the log up to now, then keeps following
// it until ctx ends. It must return before the server takes requests.
func (f *Follower) Start(ctx context.Context) error {
	ctx = scope.System(ctx)
	projects, err := f.db.Project.Query().Select(project.FieldID, project.FieldRevision).All(ctx)
	if err != nil {
		return fmt.Errorf("read projects: %w", err)
	}
	for _, p := range projects {
		f.project(p.ID).applied.Store(p.Revision)
	}
	for _, r := range f.readers {
		if l, ok := r.(Loader); ok {
			if err := l.Load(ctx); err != nil {
				return err
			}
		}
	}
	if err := f.poll(ctx); err != nil {
		return err
	}
	for _, r := range f.readers {
		if l, ok := r.(Loader); ok {
			l.Loaded(func(projectID string) int64 { return f.project(projectID).applied.Load() })
		}
	}
	go f.run(ctx)
	return nil
}

func (f *Follower) project(id string) *projectState {
	f.mu.RLock()
	p := f.projects[id]
	f.mu.RUnlock()
	if p != nil {
		return p
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if p = f.projects[id]; p == nil {
		p = &projectState{advanced: make(chan struct{})}
		f.projects[id] = p
	}
	return p
}

// wake asks the poller to read the change log now.
func (f *Follower) wake() {
	select {
	case f.poke <- struct{}{}:
	default:
	}
}

// wakeLazily asks the poller to read the change log within Linger.
func (f *Follower) wakeLazily() {
	select {
	case f.nudge <- struct{}{}:
	default:
	}
}

// Committing announces a write of this instance before it commits, with the
// revision it numbered itself (SQLite) or 0, so that the poll that numbers or
// reads it keeps its revision for Committed.
func (f *Follower) Committing(writeID string, rev int64) {
	f.writesMu.Lock()
	f.writes[writeID] = rev
	f.writesMu.Unlock()
}

// Abandoned forgets a write announced by Committing that did not commit.
func (f *Follower) Abandoned(writeID string) {
	f.writesMu.Lock()
	delete(f.writes, writeID)
	delete(f.answered, writeID)
	f.writesMu.Unlock()
}

// Committed waits until the committed write writeID is numbered and every
// reader holds it, so that a read that starts after the write returned sees
// it, and returns its revision.
func (f *Follower) Committed(ctx context.Context, projectID, writeID string) (int64, error) {
	defer f.Abandoned(writeID)
	for {
		polled := f.polledChan()
		f.writesMu.Lock()
		rev, learned := f.writes[writeID], f.learned
		_, answered := f.answered[writeID]
		f.writesMu.Unlock()
		if rev > 0 {
			p := f.project(projectID)
			p.commit(rev)
			// A write answered at commit has no caller waiting: the poll
			// that numbered it hands it over, and any other within
			// Linger.
			return rev, f.waitFor(ctx, p, rev, answered)
		}
		// The poll that numbers the write says so before it hands the
		// write to the readers (learned); one that ended without it (the
		// write committed after it looked) is followed by another.
		if answered {
			f.wakeLazily()
		} else {
			f.wake()
		}
		select {
		case <-learned:
		case <-polled:
		case <-ctx.Done():
			return 0, fmt.Errorf("wait for write %s to be numbered: %w", writeID, ctx.Err())
		}
	}
}

// Applied hands the committed write writeID of this instance, numbered rev
// inside its own transaction (SQLite, where writes run one at a time), to the
// readers directly, as records of events, when they hold every revision
// before it: the poll would read back from the database what the write has in
// hand. It reports false when they do not (a write of another process came
// between, or an earlier Apply failed) or a reader fails; the caller then
// waits for the poll (Committed), which applies the write again (applying is
// idempotent).
func (f *Follower) Applied(ctx context.Context, projectID, writeID string, rev int64, events []Event) bool {
	ctx = scope.System(ctx) // the readers read as the poll does, not as the writing request may
	p := f.project(projectID)
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	switch applied := p.applied.Load(); {
	case applied >= rev: // a poll got there first
	case applied != rev-1:
		return false
	default:
		records := make([]Record, len(events))
		for i, e := range events {
			records[i] = Record{Revision: rev, Event: e}
		}
		for _, r := range f.readers {
			if err := r.Apply(ctx, projectID, records); err != nil {
				f.log.WarnContext(ctx, "apply a write", "write", writeID, "error", err)
				return false
			}
		}
		p.advance(rev)
	}
	p.commit(rev)
	f.Abandoned(writeID)
	return true
}

// commit records that this instance committed revision rev of the project.
func (p *projectState) commit(rev int64) {
	for {
		cur := p.committed.Load()
		if cur >= rev || p.committed.CompareAndSwap(cur, rev) {
			return
		}
	}
}

// Current returns a revision of the project that reflects every write
// committed before the call (it waits for a poll that begins after the call,
// which numbers and applies them).
func (f *Follower) Current(ctx context.Context, projectID string) (int64, error) {
	target := f.pollsBegun.Load() + 1
	for f.pollsEnded.Load() < target {
		polled := f.polledChan()
		if f.pollsEnded.Load() >= target {
			break
		}
		f.wake()
		select {
		case <-polled:
		case <-ctx.Done():
			return 0, fmt.Errorf("wait for the change log: %w", ctx.Err())
		}
	}
	return f.project(projectID).applied.Load(), nil
}

func (f *Follower) polledChan() chan struct{} {
	f.polledMu.Lock()
	defer f.polledMu.Unlock()
	return f.polled
}

// awaited says whether a write of this instance waits for its revision.
func (f *Follower) awaited() bool {
	f.writesMu.Lock()
	defer f.writesMu.Unlock()
	for _, rev := range f.writes {
		if rev == 0 {
			return true
		}
	}
	return false
}

// learn keeps the revisions of this instance's writes among revs (write id,
// revision).
func (f *Follower) learn(revs iter.Seq2[string, int64]) {
	f.writesMu.Lock()
	defer f.writesMu.Unlock()
	if len(f.writes) == 0 {
		return
	}
	learned := false
	for w, rev := range revs {
		if cur, ok := f.writes[w]; ok && cur == 0 {
			f.writes[w] = rev
			learned = true
		}
	}
	if learned {
		close(f.learned)
		f.learned = make(chan struct{})
	}
}

// Await waits until the readers hold revision atLeast of the project, every
// write this instance committed before the call, and every write of the
// tenant (every tenant: "") this instance answered at commit before the call
// (Detach), and returns the revision they hold.
//
// A revision beyond the project's latest committed one is refused at once
// (OutOfRange): no wait could reach it, and a caller only ever receives
// revisions that are committed.
func (f *Follower) Await(ctx context.Context, projectID, tenantID string, atLeast int64) (int64, error) {
	p := f.project(projectID)
	if err := f.awaitDetached(ctx, p, tenantID); err != nil {
		return 0, err
	}
	target := max(atLeast, p.committed.Load())
	if p.applied.Load() >= target {
		return p.applied.Load(), nil
	}
	if atLeast > p.applied.Load() {
		latest, err := f.db.Project.Query().Where(project.ID(projectID)).Select(project.FieldRevision).Int(scope.System(ctx))
		if err != nil {
			return 0, fmt.Errorf("read revision: %w", err)
		}
		if atLeast > int64(latest) {
			return 0, &apierr.Error{Code: codes.OutOfRange, Reason: "REVISION_NOT_COMMITTED", Message: fmt.Sprintf(
				"at_least_revision %d is beyond the latest committed revision %d: pass a revision a write answered", atLeast, latest)}
		}
	}
	if err := f.waitFor(ctx, p, target, false); err != nil {
		return 0, err
	}
	return p.applied.Load(), nil
}

// waitFor waits until the readers hold revision rev of the project, asking
// for a poll at once, or lazily (within Linger).
func (f *Follower) waitFor(ctx context.Context, p *projectState, rev int64, lazily bool) error {
	for {
		p.mu.Lock()
		advanced := p.advanced
		p.mu.Unlock()
		if p.applied.Load() >= rev {
			return nil
		}
		if lazily {
			f.wakeLazily()
		} else {
			f.wake()
		}
		select {
		case <-advanced:
		case <-ctx.Done():
			return fmt.Errorf("wait for revision %d: %w", rev, ctx.Err())
		}
	}
}

func (p *projectState) advance(rev int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if rev > p.applied.Load() {
		p.applied.Store(rev)
		p.notifyLocked()
	}
}

// notifyLocked wakes whoever waits on advanced (p.mu held).
func (p *projectState) notifyLocked() {
	close(p.advanced)
	p.advanced = make(chan struct{})
}
