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

// RecordWrite inserts the audit event of a write in the write's transaction
// (its changes are the change-log entries of writeID, inserted beside it);
// tenantID is Tenant's.
func RecordWrite(ctx context.Context, tx *ent.Tx, projectID, tenantID, writeID string, changes int, now time.Time) error {
	e := event{projectID: projectID, tenantID: tenantID, kind: auditevent.KindWrite, req: From(ctx),
		writeID: writeID, changes: changes, time: now}
	if err := e.create(tx.AuditEvent).Exec(ctx); err != nil {
		return fmt.Errorf("record audit event: %w", err)
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
