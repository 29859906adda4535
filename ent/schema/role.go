package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Role is a named set of permissions of a tenant.
//
// Invariant: (tenant_id, name_key) is unique, name_key being the case-folded
// name.
type Role struct{ ent.Schema }

// Mixin of the Role.
func (Role) Mixin() []ent.Mixin { return []ent.Mixin{ResourceMixin{}, TenantMixin{}} }

// Fields of the Role.
func (Role) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty(),
		field.String("name_key").NotEmpty(),
		field.String("description").Default(""),
		field.Strings("permissions").Optional(),
	}
}

// Edges of the Role.
func (Role) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("tenant", Tenant.Type).Ref("roles").Field("tenant_id").Unique().Required().Immutable(),
		edge.To("assignments", RoleAssignment.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("group_mappings", GroupRole.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of the Role.
func (Role) Indexes() []ent.Index {
	return []ent.Index{index.Fields("tenant_id", "name_key").Unique()}
}
