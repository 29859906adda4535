package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
)

// AccessKey is a credential of a project, presented as
// `<ProjectID>:<id>.<secret>`.
//
// Invariants: the secret is never stored, only its SHA-256 (the secret has 256
// random bits, so a slow password hash would add cost and no protection); a
// revoked or expired key authenticates nothing; role_bindings is never empty.
type AccessKey struct{ ent.Schema }

// RoleBinding grants a role to an access key: "Project Admin" with no tenant,
// or "Tenant Admin" or a tenant role's name on one tenant.
type RoleBinding struct {
	Role     string `json:"role"`
	TenantID string `json:"tenant_id,omitempty"`
}

// Fields of the AccessKey.
func (AccessKey) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").NotEmpty().Immutable(),
		field.String("project_id").NotEmpty().Immutable(),
		field.String("name").NotEmpty(),
		field.Bytes("secret_hash").Sensitive().Immutable(),
		field.JSON("role_bindings", []RoleBinding{}),
		// created_by is the id of the key that created this one.
		field.String("created_by").Default("").Immutable(),
		field.Time("create_time").Immutable(),
		field.Time("expire_time").Optional().Nillable(),
		field.Time("revoke_time").Optional().Nillable(),
		field.Time("last_used_time").Optional().Nillable(),
	}
}

// Edges of the AccessKey.
func (AccessKey) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("project", Project.Type).Ref("access_keys").Field("project_id").Unique().Required().Immutable(),
	}
}
