package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Tenant belongs to a project and owns users, groups and roles; deleting it
// deletes them (foreign keys cascade).
type Tenant struct{ ent.Schema }

// Mixin of the Tenant.
func (Tenant) Mixin() []ent.Mixin { return []ent.Mixin{ResourceMixin{}} }

// Fields of the Tenant.
func (Tenant) Fields() []ent.Field {
	return []ent.Field{
		field.String("project_id").NotEmpty().Immutable(),
		field.String("display_name").NotEmpty(),
		// Limits of this tenant's load on each instance; zero takes the
		// instance's default (see TenantLimits in tenant.proto).
		field.Float("rate_per_second").Default(0),
		field.Int("rate_burst").Default(0),
		field.Float("credential_rate_per_second").Default(0),
		field.Int("credential_burst").Default(0),
		field.Int("max_concurrent").Default(0),
	}
}

// Edges of the Tenant.
func (Tenant) Edges() []ent.Edge {
	cascade := entsql.OnDelete(entsql.Cascade)
	return []ent.Edge{
		edge.From("project", Project.Type).Ref("tenants").Field("project_id").Unique().Required().Immutable(),
		edge.To("users", User.Type).Annotations(cascade),
		edge.To("emails", Email.Type).Annotations(cascade),
		edge.To("groups", Group.Type).Annotations(cascade),
		edge.To("group_memberships", GroupMembership.Type).Annotations(cascade),
		edge.To("roles", Role.Type).Annotations(cascade),
		edge.To("role_assignments", RoleAssignment.Type).Annotations(cascade),
		edge.To("saml_config", SamlConfig.Type).Annotations(cascade),
		edge.To("scim_tokens", ScimToken.Type).Annotations(cascade),
		edge.To("group_roles", GroupRole.Type).Annotations(cascade),
		edge.To("pending_logins", PendingLogin.Type).Annotations(cascade),
		edge.To("auth_codes", AuthCode.Type).Annotations(cascade),
		edge.To("seen_assertions", SeenAssertion.Type).Annotations(cascade),
		edge.To("sessions", Session.Type).Annotations(cascade),
		edge.To("refresh_tokens", RefreshToken.Type).Annotations(cascade),
		edge.To("domains", TenantDomain.Type).Annotations(cascade),
		edge.To("counts", TenantCount.Type).Annotations(cascade),
	}
}

// Indexes of the Tenant.
func (Tenant) Indexes() []ent.Index {
	return []ent.Index{index.Fields("project_id", "id")}
}
