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
// (its changes are the change-log entries of writeID, inserted beside it).
// The event's tenant is the one the request is scoped to, or the one tenant
// its events name (a tenant created or deleted by a project-wide write).
func RecordWrite(ctx context.Context, tx *ent.Tx, projectID, tenantID, writeID string, now time.Time, events []changelog.Event) error {
	if tenantID == "" {
		tenantID = oneTenant(events)
	}
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
		SetCreateTime(now).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("record audit event: %w", err)
	}
	return nil
}

// oneTenant returns the tenant every tenant-naming event names, "" when
// none or several do.
func oneTenant(events []changelog.Event) string {
	var t changelog.TenantID
	for _, e := range events {
		switch et := changelog.TenantOf(e); {
		case et == "":
		case t == "":
			t = et
		case t != et:
			return ""
		}
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
