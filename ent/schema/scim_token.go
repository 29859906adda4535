package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
)

// ScimToken is a bearer token with which an IdP provisions one tenant over
// SCIM, presented as `scim_<id>.<secret>`.
//
// Invariants: only the secret's SHA-256 is stored; SCIM is enabled on a tenant
// exactly when it has a token that has not expired; a token replaced by a
// rotation gets an expire_time at the end of its grace period; disabling SCIM
// deletes the tenant's tokens.
type ScimToken struct{ ent.Schema }

// Mixin of the ScimToken.
func (ScimToken) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

// Fields of the ScimToken.
func (ScimToken) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").NotEmpty().Immutable(),
		field.Bytes("secret_hash").Sensitive().Immutable(),
		field.Time("create_time").Immutable(),
		field.Time("expire_time").Optional().Nillable(),
	}
}

// Edges of the ScimToken.
func (ScimToken) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("tenant", Tenant.Type).Ref("scim_tokens").Field("tenant_id").Unique().Required().Immutable(),
	}
}
