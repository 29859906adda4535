package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"entgo.io/ent/schema/mixin"
)

// TenantMixin marks an entity as owned by a tenant. Every query of such an
// entity is scoped by tenant_id, so the column leads each of its indexes; the
// edge that makes it a foreign key (deleted with its tenant) is declared on the
// entity itself because ent names the back-reference per entity.
type TenantMixin struct{ mixin.Schema }

// Fields of the TenantMixin.
func (TenantMixin) Fields() []ent.Field {
	return []ent.Field{
		field.String("tenant_id").NotEmpty().Immutable(),
	}
}

// Indexes of the TenantMixin.
func (TenantMixin) Indexes() []ent.Index {
	return []ent.Index{index.Fields("tenant_id")}
}

// ResourceMixin holds the bookkeeping of an API resource: a server-assigned
// string id (a UUIDv7, so id order is creation order and cursors are stable),
// its times, and version, which counts its writes (an entity tag).
type ResourceMixin struct{ mixin.Schema }

// Fields of the ResourceMixin.
func (ResourceMixin) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").NotEmpty().Immutable(),
		field.Time("create_time").Immutable(),
		field.Time("update_time"),
		field.Int64("version"),
	}
}
