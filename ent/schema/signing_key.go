package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// SigningKey is a key pair that signs a project's OpenID Connect tokens.
//
// Invariants: the private key is stored only encrypted (AES-256-GCM under the
// instance's key-encryption key, its id as additional data) and never leaves
// the server; a key is published (in the JWKS) from its creation until
// expire_time, signs from activate_time until retire_time, and is published
// for as long after retiring as a token it signed can live.
type SigningKey struct{ ent.Schema }

// Fields of the SigningKey.
func (SigningKey) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").NotEmpty().Immutable(), // the kid
		field.String("project_id").NotEmpty().Immutable(),
		field.String("algorithm").NotEmpty().Immutable(),
		// public_key is the public key, PKIX DER.
		field.Bytes("public_key").Immutable(),
		// private_key is the PKCS #8 DER private key, encrypted.
		field.Bytes("private_key").Sensitive().Immutable(),
		field.Time("create_time").Immutable(),
		field.Time("activate_time"),
		field.Time("retire_time").Optional().Nillable(),
		field.Time("expire_time").Optional().Nillable(),
	}
}

// Edges of the SigningKey.
func (SigningKey) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("project", Project.Type).Ref("signing_keys").Field("project_id").Unique().Required().Immutable(),
	}
}

// Indexes of the SigningKey.
func (SigningKey) Indexes() []ent.Index {
	return []ent.Index{index.Fields("project_id", "activate_time")}
}
