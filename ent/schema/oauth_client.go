package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// OAuthClient is an application of a project that signs users in through the
// OpenID Connect endpoints.
//
// Invariants: a public client has no secret hash; a confidential client's
// secret is never stored, only its SHA-256 (it has 256 random bits, so a slow
// password hash would add cost and no protection); redirect_uris is never
// empty and holds only URIs the service accepted.
type OAuthClient struct{ ent.Schema }

// Fields of the OAuthClient.
func (OAuthClient) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").NotEmpty().Immutable(),
		field.String("project_id").NotEmpty().Immutable(),
		field.String("display_name").NotEmpty(),
		field.JSON("redirect_uris", []string{}),
		field.Bool("public").Immutable(),
		field.Bytes("secret_hash").Optional().Sensitive(),
		field.Time("secret_rotate_time").Optional().Nillable(),
		field.Time("create_time").Immutable(),
		field.Time("update_time"),
		field.Int64("version"),
	}
}

// Edges of the OAuthClient.
func (OAuthClient) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("project", Project.Type).Ref("oauth_clients").Field("project_id").Unique().Required().Immutable(),
	}
}

// Indexes of the OAuthClient.
func (OAuthClient) Indexes() []ent.Index {
	return []ent.Index{index.Fields("project_id", "id")}
}
