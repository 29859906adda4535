package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// TenantCount holds part of the number of a tenant's users or groups, so that
// an unfiltered list (the page walk an IdP runs on import) answers its total
// without counting every row.
//
// Invariants: for each tenant and kind, the sum of n over the shards is the
// number of rows, because every create and delete adds its 1 or -1 in its own
// transaction. A create picks one of a few shards at random, so concurrent
// creates of one tenant seldom wait for the same row. A tenant with no rows
// here has not been counted yet (store.Recount counts it once, at start).
type TenantCount struct{ ent.Schema }

// Mixin of the TenantCount.
func (TenantCount) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

// Fields of the TenantCount.
func (TenantCount) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("kind").Values("user", "group").Immutable(),
		field.Int("shard").Immutable(),
		field.Int64("n"),
	}
}

// Edges of the TenantCount.
func (TenantCount) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("tenant", Tenant.Type).Ref("counts").Field("tenant_id").Unique().Required().Immutable(),
	}
}

// Indexes of the TenantCount.
func (TenantCount) Indexes() []ent.Index {
	return []ent.Index{index.Fields("tenant_id", "kind", "shard").Unique()}
}
