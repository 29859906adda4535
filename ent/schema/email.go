package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Email is one address of a user, kept in its own row so that a lookup by
// address (SCIM `emails eq`) is an index search.
//
// Invariants: value_key is the case-folded value; position keeps the order the
// client gave; the rows of a user are replaced as a whole when its emails change.
type Email struct{ ent.Schema }

// Mixin of the Email.
func (Email) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

// Fields of the Email.
func (Email) Fields() []ent.Field {
	return []ent.Field{
		field.String("user_id").NotEmpty().Immutable(),
		field.String("value").NotEmpty(),
		field.String("value_key").NotEmpty(),
		field.String("type").Default(""),
		field.Bool("primary").Default(false),
		field.String("display").Default(""),
		field.Int("position"),
	}
}

// Edges of the Email.
func (Email) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("tenant", Tenant.Type).Ref("emails").Field("tenant_id").Unique().Required().Immutable(),
		edge.From("user", User.Type).Ref("emails").Field("user_id").Unique().Required().Immutable(),
	}
}

// Indexes of the Email.
func (Email) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("tenant_id", "value_key"),
		// A user's emails, in order. tenant_id leads, like every index
		// here, so that SQLite's planner, which prefers the index matching
		// more of the scoped query's terms, takes this one over the
		// tenant-only index when it loads the emails of a page of users.
		index.Fields("tenant_id", "user_id", "position"),
	}
}
