package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/auditevent"
	"github.com/acme/identity/server/changelog"
)

// event is one row of the trail, as each of its three makers (writes,
// commands, SCIM requests) fills it.
type event struct {
	projectID, tenantID string
	kind                auditevent.Kind
	req                 Request
	writeID, resourceID string
	changes             int
	scim                []byte
	time                time.Time
}

func (e event) create(c *ent.AuditEventClient) *ent.AuditEventCreate {
	return c.Create().
		SetProjectID(e.projectID).
		SetTenantID(e.tenantID).
		SetKind(e.kind).
		SetActorKind(e.req.ActorKind).
		SetActorID(e.req.ActorID).
		SetSource(e.req.Source).
		SetRequestID(e.req.RequestID).
		SetMethod(e.req.Method).
		SetWriteID(e.writeID).
		SetResourceID(e.resourceID).
		SetChangeCount(int32(e.changes)).
		SetScim(e.scim).
		SetCreateTime(e.time)
}

// Write is the audit event of a write, as the write leaves it to be stored:
// in the write's transaction where the write numbers itself (SQLite), or,
// encoded on its change-log entries, in the transaction that numbers it
// (PostgreSQL, see store.Settler). Either way it is stored before the write's
// revision is answered (a write of the SCIM gateway, answered at commit on
// PostgreSQL: before this instance's next list of its tenant's trail).
type Write struct {
	ProjectID string    `json:"project_id"`
	TenantID  string    `json:"tenant_id,omitempty"`
	WriteID   string    `json:"write_id"`
	Changes   int       `json:"changes"`
	Request   Request   `json:"request"`
	Time      time.Time `json:"time"`
}

// NewWrite returns the audit event of a write by ctx's request; tenantID is
// Tenant's, changes the number of change-log entries of writeID.
func NewWrite(ctx context.Context, projectID, tenantID, writeID string, changes int, now time.Time) Write {
	return Write{ProjectID: projectID, TenantID: tenantID, WriteID: writeID, Changes: changes, Request: From(ctx), Time: now}
}

// RecordWrites inserts the audit events of writes, in one statement.
func RecordWrites(ctx context.Context, tx *ent.Tx, writes []Write) error {
	rows := make([]*ent.AuditEventCreate, len(writes))
	for i, w := range writes {
		rows[i] = event{projectID: w.ProjectID, tenantID: w.TenantID, kind: auditevent.KindWrite, req: w.Request,
			writeID: w.WriteID, changes: w.Changes, time: w.Time}.create(tx.AuditEvent)
	}
	if err := tx.AuditEvent.CreateBulk(rows...).Exec(ctx); err != nil {
		return fmt.Errorf("record audit events: %w", err)
	}
	return nil
}

// Tenant returns the tenant a write's event belongs to: the one the request
// is scoped to, or the tenant every event of a project-wide write names (a
// tenant created or deleted). A write whose events name several tenants, or
// also project-wide things (access keys), belongs to the project: only
// Project Admin reads it, so no Tenant Admin sees another tenant's changes.
func Tenant(scoped string, events []changelog.Event) string {
	if scoped != "" {
		return scoped
	}
	var t changelog.TenantID
	for _, e := range events {
		et := changelog.TenantOf(e)
		if et == "" || (t != "" && et != t) {
			return ""
		}
		t = et
	}
	return string(t)
}

// RecordCommand inserts, in the command's transaction, the audit event of an
// operator's command on the store (identityd init, identityd recover): they
// write outside the API, with no credential, and name what they created.
func RecordCommand(ctx context.Context, tx *ent.Tx, projectID, command, resourceID string, now time.Time) error {
	e := event{projectID: projectID, kind: auditevent.KindWrite, resourceID: resourceID, time: now,
		req: Request{ActorKind: auditevent.ActorKindOperator, Source: auditevent.SourceCli, RequestID: NewRequestID(), Method: command}}
	if err := e.create(tx.AuditEvent).Exec(ctx); err != nil {
		return fmt.Errorf("record audit event: %w", err)
	}
	return nil
}
