package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// TenantDomain is an email domain whose users sign in with the tenant's IdP:
// /oauth2/authorize routes a login_hint of that domain to the tenant.
//
// Invariants: a domain belongs to at most one tenant of a project (a unique
// index); domains are stored lower-case; they go with the tenant's SAML
// configuration.
type TenantDomain struct{ ent.Schema }

// Mixin of the TenantDomain.
func (TenantDomain) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

// Fields of the TenantDomain.
func (TenantDomain) Fields() []ent.Field {
	return []ent.Field{
		field.String("project_id").NotEmpty().Immutable(),
		field.String("domain").NotEmpty().MaxLen(253).Immutable(),
	}
}

// Edges of the TenantDomain.
func (TenantDomain) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("tenant", Tenant.Type).Ref("domains").Field("tenant_id").Unique().Required().Immutable(),
	}
}

// Indexes of the TenantDomain.
func (TenantDomain) Indexes() []ent.Index {
	return []ent.Index{index.Fields("project_id", "domain").Unique()}
}
