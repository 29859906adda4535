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
// a time (SQLite) together: the user creates and other writes that only add
// rows (Writer.Insert, InsertRows) queued while one transaction committed
// share the next one, each inside a savepoint of its own, so a write that
// fails rolls back to its savepoint and changes nothing while the others
// commit. Each write still takes its own revision and its own audit event, and
// answers only once the shared transaction committed. A write that checks what
// it reads (Writer.Write: updates, deletes, memberships) runs alone, under its
// caller's deadline, as it did before: such a write may be long (a tenant's
// delete), and a shared transaction is cut by no one caller's deadline.
//
// Why: on SQLite a commit writes every page the transaction dirtied to the
// log, one system call per page, and a user create dirties about twenty (the
// user, its email, its change-log entry and audit event, and their indexes),
// while the creates queued behind it touch mostly the same pages. Committed
// alone, the commit was a quarter of a create's CPU and of the time the
// database's one write lock was held (README, "Write speed").
//
// The first write to arrive when no batch runs leads: it commits the next
// batch, its own write first in it, then hands the lead to the first write
// still queued, so each leader commits one batch and no caller commits for
// others indefinitely. A queued write waits for its batch; a write of
// another tenant therefore waits for at most the batch being committed, not
// for each of a busy tenant's writes (see WriteTurns, which the batches,
// the audit recorder and the explanations take their turns in).
type batcher struct {
	w *Writer

	mu      sync.Mutex
	queue   []*job
	leading bool
}

// maxBatch bounds the writes one transaction commits.
const maxBatch = 64

// batchTimeout bounds a shared transaction, which belongs to no one request.
const batchTimeout = 30 * time.Second

// savepoint is the name each write's savepoint takes (one at a time).
const savepoint = "write"

// errBatchFailed answers the writes of a shared transaction that could not
// commit because of a panic outside any of them.
var errBatchFailed = errors.New("the write's shared transaction failed")

type job struct {
	ctx       context.Context
	sc        *scope.Scope
	exclusive bool
	fn        func(ctx context.Context, tx *Tx) error
	// wake receives true when the job is to lead the next batch, false
	// once its batch is done.
	wake chan bool

	// set by the batch that ran the job, read after wake
	st        *staged // nil: failed (err) or changed nothing
	committed bool
	applied   bool
	err       error
	panic     any
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
	if lead || <-j.wake {
		g.lead(j)
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

// lead commits the next batch, which begins with self, then wakes the
// batch's other writes and hands the lead on, whatever happened: a panic
// outside the writes fails the writes it left uncommitted and is raised
// again on the leader's goroutine.
func (g *batcher) lead(self *job) {
	batch := g.take()
	defer func() {
		if p := recover(); p != nil {
			for _, j := range batch {
				if !j.committed && j.err == nil && j.panic == nil {
					j.st, j.err = nil, errBatchFailed
				}
			}
			if self.panic == nil {
				self.panic = p
			}
		}
		for _, j := range batch {
			if j != self {
				j.wake <- false
			}
		}
		g.handOff()
	}()
	g.commit(batch)
}

// take removes the next batch from the queue: its first write alone if that
// one runs alone, else the queued writes that share, in order.
func (g *batcher) take() []*job {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.queue[0].exclusive {
		batch := g.queue[:1:1]
		g.queue = g.queue[1:]
		return batch
	}
	var batch, rest []*job
	for _, j := range g.queue {
		if !j.exclusive && len(batch) < maxBatch {
			batch = append(batch, j)
		} else {
			rest = append(rest, j)
		}
	}
	g.queue = rest
	return batch
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

// commit runs a batch in one transaction, holding the writers' turn, and
// hands its writes to this instance's readers in revision order before the
// next batch, as a write alone does.
func (g *batcher) commit(batch []*job) {
	g.w.serial.Lock(batch[0].sc.TenantID)
	defer g.w.serial.Unlock()
	// A write alone keeps its caller's deadline and cancellation, which end
	// its transaction; a shared transaction has its own bound.
	ctx := batch[0].ctx
	if len(batch) > 1 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), batchTimeout)
		defer cancel()
	}
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
	ended := false // committed, or its commit failed
	defer func() {
		if !ended {
			if err := etx.Rollback(); err != nil {
				g.w.log.Warn("rollback failed", "error", err)
			}
		}
	}()
	var staged []*job
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.err = err
			continue
		}
		jctx := j.ctx
		if len(batch) > 1 {
			// SQLite rolls the whole transaction back when a statement is
			// interrupted: a shared write's statements run without its
			// cancellation (writes that share only add a few rows).
			jctx = context.WithoutCancel(j.ctx)
		}
		if err := g.stage(ctx, jctx, etx, j); err != nil {
			// the transaction itself failed: nothing of the batch commits
			fail(err)
			return
		}
		if j.st != nil {
			staged = append(staged, j)
		}
	}
	if len(staged) == 0 {
		return
	}
	for _, j := range staged {
		g.w.committed.Committing(j.st.writeID, j.st.rev)
	}
	err = etx.Commit()
	ended = true
	if err != nil {
		for _, j := range staged {
			g.w.committed.Abandoned(j.st.writeID)
		}
		fail(fmt.Errorf("commit: %w", err))
		return
	}
	for _, j := range staged {
		j.committed = true
	}
	// A write that numbered itself hands itself to the readers before the
	// next write's turn, so that they hold every revision before the next
	// one too; one they did not take waits for the poll.
	for _, j := range staged {
		j.applied = g.w.committed.Applied(ctx, j.sc.ProjectID, j.st.writeID, j.st.rev, j.st.events)
	}
}

// stage runs one write of the batch inside its savepoint, its statements
// under jctx. The write's own failure (or panic) rolls its savepoint back and
// is the write's answer; an error returned is the shared transaction's,
// which cannot go on.
func (g *batcher) stage(ctx, jctx context.Context, etx *ent.Tx, j *job) error {
	if _, err := etx.ExecContext(ctx, "SAVEPOINT "+savepoint); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	j.st, j.err, j.panic = g.stageOne(jctx, etx, j)
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
			st, err, p = nil, nil, fmt.Sprintf("%v\n\nin a write run by the shared transaction's leader:\n%s", r, debug.Stack())
		}
	}()
	st, err = g.w.stage(ctx, etx, j.sc, j.exclusive, j.fn)
	return st, err, nil
}
