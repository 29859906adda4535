package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
)

// Project is the top-level account.
//
// Invariant: revision is the project's latest sequenced change-log revision:
// every change entry of the project with a revision at or below it is
// committed and numbered, and none will ever be numbered at or below it again.
// Writes do not touch it; the change log's sequencer advances it when it
// numbers committed entries (see Change and server/changelog/sequence.go), so
// no row is updated by every write and tenants do not queue behind each other.
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
