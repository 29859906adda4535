package store

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/server/store/scope"
)

// batcher commits the writes of a database that runs one write transaction at
// a time (SQLite) together: the writes that queued while one transaction
// committed share the next one, each inside a savepoint of its own, so a
// write that fails rolls back to its savepoint and changes nothing while the
// others commit. Each write still takes its own revision and its own audit
// event, and answers only once the shared transaction committed.
//
// Why: on SQLite a commit writes every page the transaction dirtied to the
// log, one system call per page, and a user create dirties about twenty (the
// user, its email, its change-log entry and audit event, and their indexes),
// while the writes queued behind it touch mostly the same pages. Committed
// alone, the commit was a quarter of a create's CPU and of the time the
// database's one write lock was held (README, "Write speed").
//
// The first write to arrive when no batch runs leads: it commits the queued
// writes, its own among them, a batch at a time, then hands the lead to the
// first write still queued, so no caller commits for others indefinitely.
type batcher struct {
	w *Writer

	mu      sync.Mutex
	queue   []*job
	leading bool
}

// maxBatch bounds the writes one transaction commits.
const maxBatch = 64

// batchTimeout bounds a shared transaction: it belongs to no one request,
// so no caller's deadline or cancellation ends it.
const batchTimeout = 30 * time.Second

// savepoint is the name each write's savepoint takes (one at a time).
const savepoint = "write"

type job struct {
	ctx       context.Context
	sc        *scope.Scope
	exclusive bool
	fn        func(ctx context.Context, tx *Tx) error
	// wake receives true when the job is to lead the next batch, false
	// once it is done.
	wake chan bool

	// set by the batch that ran the job
	done    bool
	st      *staged // nil: failed (err) or changed nothing
	applied bool
	err     error
	panic   any
}

// write queues a write and returns its revision once its batch committed.
func (g *batcher) write(ctx context.Context, sc *scope.Scope, exclusive bool, fn func(ctx context.Context, tx *Tx) error) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	j := &job{ctx: ctx, sc: sc, exclusive: exclusive, fn: fn, wake: make(chan bool, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, j)
	lead := !g.leading
	g.leading = true
	g.mu.Unlock()
	for !j.done {
		if !lead {
			lead = <-j.wake
			continue
		}
		g.commitNext(j)
	}
	if lead {
		g.handOff()
	}
	if j.panic != nil {
		panic(j.panic) // on the caller's goroutine, where the server recovers it
	}
	if j.err != nil {
		return 0, j.err
	}
	if j.st == nil {
		return g.w.committed.Current(ctx, sc.ProjectID)
	}
	return g.w.committedWrite(ctx, sc.ProjectID, j.st, j.applied)
}

// handOff passes the lead to the first queued write, or ends it.
func (g *batcher) handOff() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.queue) == 0 {
		g.leading = false
		return
	}
	g.queue[0].wake <- true
}

// commitNext commits the next batch of queued writes; self is the leader's
// own, which it does not wake.
func (g *batcher) commitNext(self *job) {
	g.mu.Lock()
	n := min(len(g.queue), maxBatch)
	batch := g.queue[:n:n]
	g.queue = g.queue[n:]
	g.mu.Unlock()
	g.commit(batch)
	for _, j := range batch {
		j.done = true
		if j != self {
			j.wake <- false
		}
	}
}

// commit runs a batch in one transaction, holding the writers' turn, and
// hands its writes to this instance's readers in revision order before the
// next batch, as a write alone does.
func (g *batcher) commit(batch []*job) {
	g.w.serial.Lock(batch[0].sc.TenantID)
	defer g.w.serial.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	fail := func(err error) {
		for _, j := range batch {
			if j.err == nil && j.panic == nil {
				j.st, j.err = nil, err
			}
		}
	}
	etx, err := g.w.db.Tx(ctx)
	if err != nil {
		fail(fmt.Errorf("begin: %w", err))
		return
	}
	var staged []*job
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.err = err
			continue
		}
		if err := g.stage(ctx, etx, j); err != nil {
			// the transaction itself failed: nothing of the batch commits
			g.rollback(etx)
			fail(err)
			return
		}
		if j.st != nil {
			staged = append(staged, j)
		}
	}
	if len(staged) == 0 {
		g.rollback(etx)
		return
	}
	for _, j := range staged {
		g.w.committed.Committing(j.st.writeID, j.st.rev)
	}
	if err := etx.Commit(); err != nil {
		for _, j := range staged {
			g.w.committed.Abandoned(j.st.writeID)
		}
		fail(fmt.Errorf("commit: %w", err))
		return
	}
	// A write that numbered itself hands itself to the readers before the
	// next write's turn, so that they hold every revision before the next
	// one too; one they did not take waits for the poll.
	for _, j := range staged {
		j.applied = g.w.committed.Applied(ctx, j.sc.ProjectID, j.st.writeID, j.st.rev, j.st.tx.events)
	}
}

// stage runs one write of the batch inside its savepoint. The write's own
// failure (or panic) rolls its savepoint back and is the write's answer; an
// error returned is the shared transaction's, which cannot go on.
func (g *batcher) stage(ctx context.Context, etx *ent.Tx, j *job) error {
	if _, err := etx.ExecContext(ctx, "SAVEPOINT "+savepoint); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	// The write's statements run without its cancellation: SQLite rolls
	// the whole transaction back when a statement is interrupted.
	j.st, j.err, j.panic = g.stageOne(context.WithoutCancel(j.ctx), etx, j)
	if j.st == nil {
		if _, err := etx.ExecContext(ctx, "ROLLBACK TO "+savepoint); err != nil {
			return errors.Join(j.err, fmt.Errorf("roll back to the savepoint: %w", err))
		}
	}
	if _, err := etx.ExecContext(ctx, "RELEASE "+savepoint); err != nil {
		return fmt.Errorf("release the savepoint: %w", err)
	}
	return nil
}

func (g *batcher) stageOne(ctx context.Context, etx *ent.Tx, j *job) (st *staged, err error, p any) {
	defer func() {
		if r := recover(); r != nil {
			st, err, p = nil, nil, fmt.Sprintf("%v\n\nin a write of a shared transaction:\n%s", r, debug.Stack())
		}
	}()
	st, err = g.w.stage(ctx, etx, j.sc, j.exclusive, j.fn)
	return st, err, nil
}

func (g *batcher) rollback(etx *ent.Tx) {
	if err := etx.Rollback(); err != nil {
		g.w.log.Warn("rollback failed", "error", err)
	}
}
