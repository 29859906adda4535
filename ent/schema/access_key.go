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
// revoked or expired key authenticates nothing.
type AccessKey struct{ ent.Schema }

// Fields of the AccessKey.
func (AccessKey) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").NotEmpty().Immutable(),
		field.String("project_id").NotEmpty().Immutable(),
		field.String("name").NotEmpty(),
		field.Bytes("secret_hash").Sensitive().Immutable(),
		// root keys hold every permission in their project.
		field.Bool("root").Default(false).Immutable(),
		field.Time("create_time").Immutable(),
		field.Time("expire_time").Optional().Nillable(),
		field.Time("revoke_time").Optional().Nillable(),
	}
}

// Edges of the AccessKey.
func (AccessKey) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("project", Project.Type).Ref("access_keys").Field("project_id").Unique().Required().Immutable(),
	}
}
