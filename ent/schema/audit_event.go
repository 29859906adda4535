package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// AuditEvent is one entry of the audit trail: a write, or a SCIM request the
// SCIM gateway answered.
//
// Invariants: a write's event is inserted in the write's own transaction, so
// the trail holds exactly the committed writes; its typed changes are the
// change-log entries of the same write_id (read from the log, not copied).
// Only role_consequences is filled in after commit, once the role index has
// applied the write. Events name ids, not foreign keys: they outlive what they
// describe, tenants included, until the retention prunes them.
type AuditEvent struct{ ent.Schema }

// Fields of the AuditEvent.
func (AuditEvent) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id"),
		field.String("project_id").NotEmpty().Immutable(),
		field.String("tenant_id").Default("").Immutable(),
		field.Enum("kind").Values("write", "scim_request").Immutable(),
		field.Enum("actor_kind").Values("access_key", "scim_token", "operator", "anonymous", "system").Immutable(),
		field.String("actor_id").Default("").Immutable(),
		field.Enum("source").Values("grpc", "rest", "scim", "sign_in", "cli", "internal").Immutable(),
		field.String("request_id").Default("").Immutable(),
		field.String("method").Default("").Immutable(),
		// write_id links a write's event to its change-log entries;
		// change_count counts them.
		field.String("write_id").Default("").Immutable(),
		field.Int32("change_count").Default(0).Immutable(),
		// resource_id is the resource a SCIM request's path names.
		field.String("resource_id").Default("").Immutable(),
		// scim is the SCIM request's summary (identityv1.ScimRequestSummary as
		// protojson); never a body, credential or password.
		field.Bytes("scim").Optional().Immutable(),
		// role_consequences is a JSON array of audit.Consequence, with the
		// count of those left out beyond the first 1,000.
		field.Bytes("role_consequences").Optional(),
		field.Int32("role_consequences_omitted").Default(0),
		field.Time("create_time").Immutable(),
	}
}

// Indexes of the AuditEvent.
func (AuditEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("project_id", "id"),
		index.Fields("project_id", "tenant_id", "id"),
		// the filters: by write (and resource, through the change log's
		// entries), by the resource a SCIM request named, by request id. The
		// actor filter walks the tenant's (or project's) events newest first
		// instead: each index costs every write (BenchmarkImport).
		index.Fields("write_id"),
		index.Fields("project_id", "resource_id"),
		index.Fields("project_id", "request_id"),
		// retention
		index.Fields("create_time"),
	}
}
