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
// Invariants: for each tenant and kind, the sum of n over the shards, plus
// the count changes that writes not yet numbered carry (see
// store.Settler), is the number of rows: every create and delete adds its 1
// or -1 when its write is settled, in the write's own transaction (SQLite)
// or in the one that numbers it (PostgreSQL). Counts are now added to shard
// 0; rows of other shards were written when each create added its own, at a
// random shard so that concurrent creates seldom waited for the same row,
// and still count. A tenant with no rows here has not been counted yet
// (store.Recount counts it once, at start).
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
