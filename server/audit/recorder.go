package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/auditevent"
	"github.com/acme/identity/server/store/scope"
)

// ScimRequest is a SCIM request's audit event as the SCIM gateway reports it,
// checked by the service (the tenant is the caller's).
type ScimRequest struct {
	ProjectID, TenantID string
	Request             Request
	ResourceID          string
	Summary             []byte // identityv1.ScimRequestSummary as protojson
	Time                time.Time
}

// maxBatch bounds the records one transaction inserts; linger is how long a
// batch waits for more.
const (
	maxBatch = 256
	linger   = 10 * time.Millisecond
)

// Recorder inserts SCIM requests' events in the background, a transaction
// per batch: the records that arrive while one batch commits share the next
// commit. Waiting for each record's own commit before answering the IdP
// halved what concurrent IdP connections got through on SQLite, whose every
// transaction takes the database's one write lock (BenchmarkImport); the
// writes a request made are on the trail already, in their own
// transactions. Flush makes the records made so far readable, so that this
// instance's readers find every request answered before they asked; a crash
// loses the records of the last milliseconds, a clean stop none.
type Recorder struct {
	db     *ent.Client
	serial sync.Locker
	log    *slog.Logger
	queue  chan pendingRecord
	done   chan struct{} // closed when the recorder has stopped
}

// pendingRecord is a record to insert or, with rec unset, a flush waiting
// for the records before it.
type pendingRecord struct {
	rec    *ScimRequest
	result chan error
}

// ErrStopped answers records made after the recorder stopped.
var ErrStopped = errors.New("the audit recorder has stopped")

// NewRecorder starts a recorder into db; when ctx ends it stores what is
// queued and stops. serial is the writers' lock (store.WriteLock), held for
// each batch; log receives the batches it could not store.
func NewRecorder(ctx context.Context, db *ent.Client, serial sync.Locker, log *slog.Logger) *Recorder {
	r := &Recorder{db: db, serial: serial, log: log, queue: make(chan pendingRecord, 4*maxBatch), done: make(chan struct{})}
	go r.run(ctx)
	return r
}

// Done is closed once the recorder has stopped and stored what was queued.
func (r *Recorder) Done() <-chan struct{} { return r.done }

// Record queues rec; past the queue's bound it waits for room.
func (r *Recorder) Record(ctx context.Context, rec ScimRequest) error {
	select {
	case <-r.done:
		return ErrStopped
	default:
	}
	select {
	case r.queue <- pendingRecord{rec: &rec}:
		return nil
	case <-r.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Flush returns once every record queued before it is stored.
func (r *Recorder) Flush(ctx context.Context) error {
	p := pendingRecord{result: make(chan error, 1)}
	select {
	case <-r.done:
		return nil // stopping stored everything queued
	default:
	}
	select {
	case r.queue <- p:
	case <-r.done:
		return nil // stopping stored everything queued
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-p.result:
		return err
	case <-r.done:
		return nil // the stop stored what was queued
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Recorder) run(ctx context.Context) {
	defer close(r.done)
	for {
		var batch []pendingRecord
		select {
		case p := <-r.queue:
			batch = append(batch, p)
		case <-ctx.Done():
			r.store(ctx, r.drain(nil)) // a clean stop stores what is queued
			return
		}
		// Gather more for up to linger, so that even one IdP connection's
		// records share commits; a flush (a reader waiting) ends the wait.
		wait := time.NewTimer(linger)
	gather:
		for len(batch) < maxBatch && batch[len(batch)-1].rec != nil {
			select {
			case p := <-r.queue:
				batch = append(batch, p)
			case <-wait.C:
				break gather
			case <-ctx.Done():
				break gather
			}
		}
		wait.Stop()
		r.store(ctx, batch)
	}
}

// drain adds what is queued to batch.
func (r *Recorder) drain(batch []pendingRecord) []pendingRecord {
	for {
		select {
		case p := <-r.queue:
			batch = append(batch, p)
		default:
			return batch
		}
	}
}

// store inserts a batch's records and answers its flushes.
func (r *Recorder) store(ctx context.Context, batch []pendingRecord) {
	var recs []*ScimRequest
	for _, p := range batch {
		if p.rec != nil {
			recs = append(recs, p.rec)
		}
	}
	var err error
	if len(recs) > 0 {
		if err = r.insert(context.WithoutCancel(ctx), recs); err != nil {
			r.log.ErrorContext(ctx, "SCIM requests lost from the audit trail", "records", len(recs), "error", err)
		}
	}
	for _, p := range batch {
		if p.result != nil {
			p.result <- err
		}
	}
}

// insert stores a batch in one statement (so one commit).
func (r *Recorder) insert(ctx context.Context, batch []*ScimRequest) error {
	ctx = scope.System(ctx) // each record's tenant was checked against its caller's
	rows := make([]*ent.AuditEventCreate, len(batch))
	for i, rec := range batch {
		req := rec.Request
		req.Source, req.Method = auditevent.SourceScim, "" // the summary holds the HTTP method
		rows[i] = event{projectID: rec.ProjectID, tenantID: rec.TenantID, kind: auditevent.KindScimRequest, req: req,
			resourceID: rec.ResourceID, scim: rec.Summary, time: rec.Time}.create(r.db.AuditEvent)
	}
	r.serial.Lock()
	defer r.serial.Unlock()
	if err := r.db.AuditEvent.CreateBulk(rows...).Exec(ctx); err != nil {
		return fmt.Errorf("record SCIM requests: %w", err)
	}
	return nil
}
