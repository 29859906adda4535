package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/auditevent"
	"github.com/acme/identity/server/changelog"
)

// RecordWrite inserts the audit event of a write in the write's transaction
// (its changes are the change-log entries of writeID, inserted beside it);
// tenantID is Tenant's.
func RecordWrite(ctx context.Context, tx *ent.Tx, projectID, tenantID, writeID string, changes int, now time.Time) error {
	r := From(ctx)
	err := tx.AuditEvent.Create().
		SetProjectID(projectID).
		SetTenantID(tenantID).
		SetKind(auditevent.KindWrite).
		SetActorKind(r.ActorKind).
		SetActorID(r.ActorID).
		SetSource(r.Source).
		SetRequestID(r.RequestID).
		SetMethod(r.Method).
		SetWriteID(writeID).
		SetChangeCount(int32(changes)).
		SetCreateTime(now).
		Exec(ctx)
	if err != nil {
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
	err := tx.AuditEvent.Create().
		SetProjectID(projectID).
		SetKind(auditevent.KindWrite).
		SetActorKind(auditevent.ActorKindOperator).
		SetSource(auditevent.SourceCli).
		SetRequestID(NewRequestID()).
		SetMethod(command).
		SetResourceID(resourceID).
		SetCreateTime(now).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("record audit event: %w", err)
	}
	return nil
}
