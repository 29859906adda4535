package audit

import (
	"context"
	"errors"
	"fmt"
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

// maxBatch bounds the records one transaction inserts.
const maxBatch = 256

// Recorder inserts SCIM requests' events a transaction per batch: the
// records that arrive while one batch commits share the next commit. Every
// SCIM request is recorded before its answer leaves, and on SQLite each
// transaction takes the database's one write lock, so one commit per record
// would halve what concurrent IdP connections get through; alone, a record
// waits for nothing but its own commit.
type Recorder struct {
	db    *ent.Client
	queue chan pendingRecord
	done  <-chan struct{}
}

type pendingRecord struct {
	rec    ScimRequest
	result chan error
}

// ErrStopped answers records made after the recorder stopped.
var ErrStopped = errors.New("the audit recorder has stopped")

// NewRecorder starts a recorder into db; it stops when ctx ends.
func NewRecorder(ctx context.Context, db *ent.Client) *Recorder {
	r := &Recorder{db: db, queue: make(chan pendingRecord, maxBatch), done: ctx.Done()}
	go r.run(ctx)
	return r
}

// Record stores rec and returns once it is committed.
func (r *Recorder) Record(ctx context.Context, rec ScimRequest) error {
	p := pendingRecord{rec: rec, result: make(chan error, 1)}
	select {
	case r.queue <- p:
	case <-r.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-p.result:
		return err
	case <-r.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Recorder) run(ctx context.Context) {
	for {
		var batch []pendingRecord
		select {
		case p := <-r.queue:
			batch = append(batch, p)
		case <-ctx.Done():
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case p := <-r.queue:
				batch = append(batch, p)
			default:
				break more
			}
		}
		err := r.insert(context.WithoutCancel(ctx), batch)
		for _, p := range batch {
			p.result <- err
		}
	}
}

func (r *Recorder) insert(ctx context.Context, batch []pendingRecord) error {
	ctx = scope.System(ctx) // each record's tenant was checked against its caller's
	tx, err := r.db.Tx(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	rows := make([]*ent.AuditEventCreate, len(batch))
	for i, p := range batch {
		rec := p.rec
		rows[i] = tx.AuditEvent.Create().
			SetProjectID(rec.ProjectID).
			SetTenantID(rec.TenantID).
			SetKind(auditevent.KindScimRequest).
			SetActorKind(rec.Request.ActorKind).
			SetActorID(rec.Request.ActorID).
			SetSource(auditevent.SourceScim).
			SetRequestID(rec.Request.RequestID).
			SetResourceID(rec.ResourceID).
			SetScim(rec.Summary).
			SetCreateTime(rec.Time)
	}
	if err := tx.AuditEvent.CreateBulk(rows...).Exec(ctx); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("record SCIM requests: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit SCIM requests: %w", err)
	}
	return nil
}
