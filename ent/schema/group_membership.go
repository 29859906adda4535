package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// GroupMembership says a user belongs to a group of the same tenant.
//
// Invariant: (group_id, user_id) is unique, so membership is a set; it is
// deleted with its group or its user.
type GroupMembership struct{ ent.Schema }

// Mixin of the GroupMembership.
func (GroupMembership) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

// Fields of the GroupMembership.
func (GroupMembership) Fields() []ent.Field {
	return []ent.Field{
		field.String("group_id").NotEmpty().Immutable(),
		field.String("user_id").NotEmpty().Immutable(),
		field.Time("create_time").Immutable(),
	}
}

// Edges of the GroupMembership.
func (GroupMembership) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("tenant", Tenant.Type).Ref("group_memberships").Field("tenant_id").Unique().Required().Immutable(),
		edge.From("group", Group.Type).Ref("memberships").Field("group_id").Unique().Required().Immutable(),
		edge.From("user", User.Type).Ref("group_memberships").Field("user_id").Unique().Required().Immutable(),
	}
}

// Indexes of the GroupMembership.
func (GroupMembership) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("group_id", "user_id").Unique(),
		index.Fields("user_id"),
	}
}
