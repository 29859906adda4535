package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
)

// Project is the top-level account.
//
// Invariant: revision is the project's latest committed change-log revision.
// Every write transaction increments it first, which takes the project row's
// write lock until commit; so writes of one project commit one at a time, in
// revision order, and a reader that has seen revision N has seen every change
// up to N (see server/changelog.go).
type Project struct{ ent.Schema }

// Fields of the Project.
func (Project) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").NotEmpty().Immutable(),
		field.String("display_name").NotEmpty(),
		field.Int64("revision").Default(0),
		field.Time("create_time").Immutable(),
		field.Time("update_time"),
	}
}

// Edges of the Project.
func (Project) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("tenants", Tenant.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("access_keys", AccessKey.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("oauth_clients", OAuthClient.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("signing_keys", SigningKey.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}
