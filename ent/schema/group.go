package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Group is a set of users of a tenant.
//
// Invariants: (tenant_id, display_name_key) is unique, display_name_key being
// the case-folded display name; members are GroupMembership rows, so a member
// change touches only its own rows (plus this row's version).
type Group struct{ ent.Schema }

// Mixin of the Group.
func (Group) Mixin() []ent.Mixin { return []ent.Mixin{ResourceMixin{}, TenantMixin{}} }

// Fields of the Group.
func (Group) Fields() []ent.Field {
	return []ent.Field{
		field.String("display_name").NotEmpty(),
		field.String("display_name_key").NotEmpty(),
		field.String("external_id").Default(""),
	}
}

// Edges of the Group.
func (Group) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("tenant", Tenant.Type).Ref("groups").Field("tenant_id").Unique().Required().Immutable(),
		edge.To("memberships", GroupMembership.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("role_mappings", GroupRole.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of the Group.
func (Group) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("tenant_id", "display_name_key").Unique(),
		// Lists page through a tenant in id order (keyset: id > last):
		// this index serves the filter and the order together, so a page
		// costs the same at any depth.
		index.Fields("tenant_id", "id"),
		index.Fields("tenant_id", "external_id"),
	}
}
