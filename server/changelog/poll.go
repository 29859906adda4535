package changelog

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/change"
	"github.com/acme/identity/ent/project"
)

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
