package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Change is one entry of a project's change log: what one write did.
//
// Invariants: entries are appended in the transaction of the write they
// describe, so the log holds exactly the committed writes; all entries of one
// write share its revision, and revisions of a project grow in commit order
// (Project explains why). Entries name ids, not foreign keys, because the log
// outlives what it describes.
type Change struct{ ent.Schema }

// Fields of the Change.
func (Change) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id"),
		field.String("project_id").NotEmpty().Immutable(),
		field.Int64("revision").Immutable(),
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
	}
}

// Indexes of the Change.
func (Change) Indexes() []ent.Index {
	return []ent.Index{index.Fields("project_id", "revision")}
}
