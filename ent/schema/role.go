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
// name. owner_group_id is the group the role was created for (a pushed group
// becomes the role of its name), "" for a role created through the API; an
// owned role follows its group's renames and deletion while nothing else
// holds it (no direct assignment, no mapping), and is then released ("").
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
		field.String("owner_group_id").Default(""),
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
