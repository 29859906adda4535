package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// GroupRole maps a group to a role of the same tenant: the group's members
// hold the role, beside the role of the group's own name.
//
// Invariant: (group_id, role_id) is unique; it is deleted with its group or
// its role.
type GroupRole struct{ ent.Schema }

// Mixin of the GroupRole.
func (GroupRole) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

// Fields of the GroupRole.
func (GroupRole) Fields() []ent.Field {
	return []ent.Field{
		field.String("group_id").NotEmpty().Immutable(),
		field.String("role_id").NotEmpty().Immutable(),
		field.Time("create_time").Immutable(),
	}
}

// Edges of the GroupRole.
func (GroupRole) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("tenant", Tenant.Type).Ref("group_roles").Field("tenant_id").Unique().Required().Immutable(),
		edge.From("group", Group.Type).Ref("role_mappings").Field("group_id").Unique().Required().Immutable(),
		edge.From("role", Role.Type).Ref("group_mappings").Field("role_id").Unique().Required().Immutable(),
	}
}

// Indexes of the GroupRole.
func (GroupRole) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("group_id", "role_id").Unique(),
		index.Fields("role_id"),
	}
}
