package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// RoleAssignment says a role of a tenant is assigned directly to a user of the
// same tenant.
//
// Invariant: (user_id, role_id) is unique; it is deleted with its user or role.
type RoleAssignment struct{ ent.Schema }

// Mixin of the RoleAssignment.
func (RoleAssignment) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

// Fields of the RoleAssignment.
func (RoleAssignment) Fields() []ent.Field {
	return []ent.Field{
		field.String("user_id").NotEmpty().Immutable(),
		field.String("role_id").NotEmpty().Immutable(),
		field.Time("create_time").Immutable(),
	}
}

// Edges of the RoleAssignment.
func (RoleAssignment) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("tenant", Tenant.Type).Ref("role_assignments").Field("tenant_id").Unique().Required().Immutable(),
		edge.From("user", User.Type).Ref("role_assignments").Field("user_id").Unique().Required().Immutable(),
		edge.From("role", Role.Type).Ref("assignments").Field("role_id").Unique().Required().Immutable(),
	}
}

// Indexes of the RoleAssignment.
func (RoleAssignment) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "role_id").Unique(),
		index.Fields("role_id"),
	}
}
