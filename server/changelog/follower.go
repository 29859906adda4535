package changelog

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/change"
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

// tickets number a tenant's detached writes 1, 2, … in the order they were
// answered (issued is the last); every ticket up to heldThrough is held by
// the readers, pending are the ones still waiting. A reader keeps the
// tickets it waits on: they are dropped from the project once none is
// pending, and a later write starts new ones.
type tickets struct {
	issued, heldThrough int64
	pending             map[int64]struct{}
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

// Detach says the committed write writeID of the project's tenant (""
// for a write of the project) is answered before it is numbered: this
// instance's reads of that tenant (and of the whole project) that begin from
// now on (Await) wait until the readers hold it, as they would for a write
// answered once numbered. held must be called exactly once, when the
// readers hold the write (or the writer gave up waiting for them).
func (f *Follower) Detach(projectID, tenantID, writeID string) (held func()) {
	f.writesMu.Lock()
	f.answered[writeID] = struct{}{}
	f.writesMu.Unlock()
	p := f.project(projectID)
	p.mu.Lock()
	if p.tickets == nil {
		p.tickets = map[string]*tickets{}
	}
	tk := p.tickets[tenantID]
	if tk == nil {
		tk = &tickets{pending: map[int64]struct{}{}}
		p.tickets[tenantID] = tk
	}
	tk.issued++
	ticket := tk.issued
	tk.pending[ticket] = struct{}{}
	p.detached.Add(1)
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		delete(tk.pending, ticket)
		p.detached.Add(-1)
		for tk.heldThrough < tk.issued {
			if _, waiting := tk.pending[tk.heldThrough+1]; waiting {
				break
			}
			tk.heldThrough++
		}
		if len(tk.pending) == 0 && p.tickets[tenantID] == tk {
			delete(p.tickets, tenantID)
		}
		close(p.advanced)
		p.advanced = make(chan struct{})
	}
}

// awaitDetached waits until the readers hold every write detached before
// the call of the tenant (and of the project), or of every tenant when
// tenantID is "".
func (f *Follower) awaitDetached(ctx context.Context, p *projectState, tenantID string) error {
	if p.detached.Load() == 0 { // the common case: no lock taken
		return nil
	}
	type target struct {
		tk     *tickets
		ticket int64
	}
	var targets []target
	p.mu.Lock()
	for t, tk := range p.tickets {
		if tenantID == "" || t == tenantID || t == "" {
			targets = append(targets, target{tk, tk.issued})
		}
	}
	p.mu.Unlock()
	for _, tg := range targets {
		for {
			p.mu.Lock()
			held, advanced := tg.tk.heldThrough >= tg.ticket, p.advanced
			p.mu.Unlock()
			if held {
				break
			}
			f.wake()
			select {
			case <-advanced:
			case <-ctx.Done():
				return fmt.Errorf("wait for the writes answered before this read: %w", ctx.Err())
			}
		}
	}
	return nil
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
		close(p.advanced)
		p.advanced = make(chan struct{})
	}
}

// run follows the change log until ctx ends.
func (f *Follower) run(ctx context.Context) {
	t := time.NewTicker(PollInterval)
	defer t.Stop()
	linger := time.NewTimer(Linger)
	defer linger.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-f.poke:
		case <-f.nudge:
			linger.Reset(Linger)
			select {
			case <-ctx.Done():
				return
			case <-f.poke:
				linger.Stop()
			case <-linger.C:
			}
		}
		if err := f.poll(ctx); err != nil && ctx.Err() == nil {
			f.log.WarnContext(ctx, "follow change log", "error", err)
		}
	}
}

// poll numbers the committed writes no one has numbered yet and hands them to
// the readers as numbered (handOver), then hands them every other record they
// do not hold yet (writes other instances numbered). A project that fails is
// retried at the next poll; the others go on.
func (f *Follower) poll(ctx context.Context) error {
	f.pollsBegun.Add(1)
	defer func() {
		f.pollsEnded.Add(1)
		f.polledMu.Lock()
		close(f.polled)
		f.polled = make(chan struct{})
		f.polledMu.Unlock()
	}()
	var errs []error
	for more := true; more; {
		var batches []numbered
		var err error
		batches, more, err = sequence(ctx, f.db, f.awaited(), f.settle)
		if err != nil {
			return fmt.Errorf("number committed writes: %w", err)
		}
		for _, b := range batches {
			f.learn(revisions(b.entries))
			if err := f.handOver(ctx, b); err != nil {
				errs = append(errs, fmt.Errorf("project %s: %w", b.project, err))
			}
		}
	}
	projects, err := f.db.Project.Query().Select(project.FieldID, project.FieldRevision).All(ctx)
	if err != nil {
		return fmt.Errorf("read revisions: %w", err)
	}
	for _, p := range projects {
		if err := f.catchUp(ctx, p.ID, p.Revision); err != nil {
			errs = append(errs, fmt.Errorf("project %s: %w", p.ID, err))
		}
	}
	return errors.Join(errs...)
}

// catchUp hands the readers the project's records they do not hold, up to
// revision to.
func (f *Follower) catchUp(ctx context.Context, projectID string, to int64) error {
	ps := f.project(projectID)
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	from := ps.applied.Load()
	if to <= from {
		return nil
	}
	if err := f.follow(ctx, projectID, from, to); err != nil {
		return err
	}
	ps.advance(to)
	return nil
}

// handOver hands the writes of a project this poll just numbered to the
// readers, when they hold every revision before them: reading them back
// (follow) would return the same entries. When they do not (another
// instance numbered writes in between, or an earlier Apply failed), the
// catch-up that follows reads them with the rest.
func (f *Follower) handOver(ctx context.Context, b numbered) error {
	p := f.project(b.project)
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	if p.applied.Load() != b.from-1 {
		return nil
	}
	if err := f.apply(ctx, b.project, b.entries); err != nil {
		return err
	}
	p.advance(b.to)
	return nil
}

// revisions yields the write id and revision of each entry.
func revisions(rows []*ent.Change) iter.Seq2[string, int64] {
	return func(yield func(string, int64) bool) {
		for _, row := range rows {
			if !yield(row.WriteID, row.Revision) {
				return
			}
		}
	}
}

// follow hands a project's records after revision from up to revision to to
// the readers.
func (f *Follower) follow(ctx context.Context, projectID string, from, to int64) error {
	// Changes up to the revision just read are all committed: the counter
	// and the entries commit together, in revision order.
	rows, err := f.db.Change.Query().
		Where(change.ProjectID(projectID), change.RevisionGT(from), change.RevisionLTE(to)).
		Order(ent.Asc(change.FieldRevision), ent.Asc(change.FieldID)).
		All(ctx)
	if err != nil {
		return fmt.Errorf("read change log: %w", err)
	}
	f.learn(revisions(rows))
	return f.apply(ctx, projectID, rows)
}

// apply hands a project's entries, in revision order, to the readers as
// records.
func (f *Follower) apply(ctx context.Context, projectID string, rows []*ent.Change) error {
	records := make([]Record, 0, len(rows))
	for _, row := range rows {
		r, err := Decode(row)
		if err != nil {
			// A row no event of this version encodes (written by a newer
			// version of identityd) is skipped rather than stopping the log.
			f.log.WarnContext(ctx, "skip change-log entry", "error", err)
			continue
		}
		records = append(records, r)
	}
	for _, r := range f.readers {
		if err := r.Apply(ctx, projectID, records); err != nil {
			return err
		}
	}
	return nil
}
