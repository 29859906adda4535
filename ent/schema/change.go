package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Change is one entry of a project's change log: what one write did.
//
// Invariants: entries are appended in the transaction of the write they
// describe, as its last statement, so the log holds exactly the committed
// writes and ids are taken after everything the write waited for. A write
// commits its entries with revision 0 (not yet sequenced) and its write_id;
// the sequencer then gives all entries of one write one revision, the next of
// the project, in batches of what has become visible, ordered by id. So every
// write that another write waited for or read has a smaller revision, and a
// reader that has seen revision N has seen every write numbered up to N.
// Entries name ids, not foreign keys, because the log outlives what it
// describes.
type Change struct{ ent.Schema }

// Fields of the Change.
func (Change) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id"),
		field.String("project_id").NotEmpty().Immutable(),
		// revision is 0 until the sequencer numbers the entry, then never
		// changes again.
		field.Int64("revision").Default(0),
		// write_id is the write the entry belongs to (one id per transaction).
		field.String("write_id").Default("").Immutable(),
		field.String("tenant_id").Default("").Immutable(),
		field.Enum("kind").Values("project", "tenant", "user", "group", "role", "group_member", "role_assignment",
			"access_key", "saml_config", "scim", "group_role", "tenant_limits", "oauth_client", "signing_key", "session", "login").Immutable(),
		field.Enum("operation").Values("create", "update", "delete", "add", "remove", "revoke", "enable", "disable", "rotate", "fail").Immutable(),
		// resource_id is the id of what the entry is about: the project, tenant,
		// user, group, role or access key; for group_member the group, for
		// role_assignment the role; for group_role the group; for saml_config,
		// scim and tenant_limits the tenant; for oauth_client the client; for signing_key the key id; for session the session (user_id its user); for login the
		// client (user_id the user when known).
		field.String("resource_id").NotEmpty().Immutable(),
		// user_id is set for group_member and role_assignment entries.
		field.String("user_id").Default("").Immutable(),
		// role_id is set for group_role entries (resource_id is the group).
		field.String("role_id").Default("").Immutable(),
		// detail is set for login failures: the failure code.
		field.String("detail").Default("").Immutable(),
		field.Time("create_time").Immutable(),
		// settlement is what a write numbered after its commit (PostgreSQL)
		// leaves to its numbering, on its first entry: its audit event and
		// the changes to its tenant's counts (see store.Settler). The
		// sequencer settles it in the transaction that numbers the write and
		// clears it; it is never set on a numbered entry.
		field.Bytes("settlement").Optional().Nillable(),
	}
}

// Indexes of the Change.
func (Change) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("project_id", "revision"),
		// The sequencer's queue: entries not yet numbered.
		index.Fields("id").Annotations(entsql.IndexWhere("revision = 0")).StorageKey("change_unsequenced"),
		// The audit trail reads a write's entries, and finds the writes that
		// touched a resource.
		index.Fields("write_id"),
		index.Fields("project_id", "resource_id"),
		index.Fields("project_id", "user_id").Annotations(entsql.IndexWhere("user_id <> ''")).StorageKey("change_project_user"),
	}
}
