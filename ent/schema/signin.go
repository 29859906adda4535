package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// The sign-in flow's state: a pending authorization (from /oauth2/authorize
// to the ACS), an authorization code (from the ACS to the token endpoint), the
// assertion ids already accepted (replay), and sessions. Everything is in the
// database so that any instance can finish what another began.

// PendingLogin is an authorization request waiting for the IdP's answer.
//
// Invariants: the id is the SHA-256 (hex) of the RelayState sent to the IdP,
// which is never stored; a pending login is used at most once and not after
// expire_time.
type PendingLogin struct{ ent.Schema }

// Mixin of the PendingLogin.
func (PendingLogin) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

// Fields of the PendingLogin.
func (PendingLogin) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").NotEmpty().Immutable(),
		field.String("client_id").NotEmpty().Immutable(),
		field.String("redirect_uri").NotEmpty().Immutable(),
		field.String("scope").Immutable(),
		field.String("state").Immutable(),
		field.String("nonce").Immutable(),
		field.String("code_challenge").Immutable(),
		// saml_request_id is the ID of the AuthnRequest; the assertion's
		// InResponseTo must equal it.
		field.String("saml_request_id").NotEmpty().Immutable(),
		field.Time("create_time").Immutable(),
		field.Time("expire_time").Immutable(),
		field.Time("use_time").Optional().Nillable(),
	}
}

// Indexes of the PendingLogin.
func (PendingLogin) Indexes() []ent.Index { return []ent.Index{index.Fields("expire_time")} }

// Edges of the PendingLogin.
func (PendingLogin) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("tenant", Tenant.Type).Ref("pending_logins").Field("tenant_id").Unique().Required().Immutable(),
	}
}

// AuthCode is an OAuth authorization code.
//
// Invariants: the id is the SHA-256 (hex) of the code, which is never
// stored; a code is exchanged at most once, by its client, with its
// redirect URI (and verifier), before expire_time.
type AuthCode struct{ ent.Schema }

// Mixin of the AuthCode.
func (AuthCode) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

// Fields of the AuthCode.
func (AuthCode) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").NotEmpty().Immutable(),
		field.String("client_id").NotEmpty().Immutable(),
		field.String("redirect_uri").NotEmpty().Immutable(),
		field.String("scope").Immutable(),
		field.String("nonce").Immutable(),
		field.String("code_challenge").Immutable(),
		field.String("user_id").NotEmpty().Immutable(),
		field.String("session_id").NotEmpty().Immutable(),
		field.Time("auth_time").Immutable(),
		field.Time("expire_time").Immutable(),
		field.Time("use_time").Optional().Nillable(),
	}
}

// Indexes of the AuthCode.
func (AuthCode) Indexes() []ent.Index { return []ent.Index{index.Fields("expire_time")} }

// Edges of the AuthCode.
func (AuthCode) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("tenant", Tenant.Type).Ref("auth_codes").Field("tenant_id").Unique().Required().Immutable(),
	}
}

// SeenAssertion is a SAML assertion id a tenant accepted: the same id is
// refused until expire_time (its NotOnOrAfter plus the clock skew), on every
// instance.
type SeenAssertion struct{ ent.Schema }

// Mixin of the SeenAssertion.
func (SeenAssertion) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

// Fields of the SeenAssertion.
func (SeenAssertion) Fields() []ent.Field {
	return []ent.Field{
		field.String("assertion_id").NotEmpty().MaxLen(512).Immutable(),
		field.Time("expire_time").Immutable(),
	}
}

// Edges of the SeenAssertion.
func (SeenAssertion) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("tenant", Tenant.Type).Ref("seen_assertions").Field("tenant_id").Unique().Required().Immutable(),
	}
}

// Indexes of the SeenAssertion.
func (SeenAssertion) Indexes() []ent.Index {
	return []ent.Index{index.Fields("tenant_id", "assertion_id").Unique(), index.Fields("expire_time")}
}

// Session is a user's sign-in to a client through the tenant's IdP.
//
// Invariants: revoked sessions issue nothing; a session belongs to one user
// of one tenant and one client.
type Session struct{ ent.Schema }

// Mixin of the Session.
func (Session) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

// Fields of the Session.
func (Session) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").NotEmpty().Immutable(),
		field.String("user_id").NotEmpty().Immutable(),
		field.String("client_id").NotEmpty().Immutable(),
		field.Time("create_time").Immutable(),
		field.Time("revoke_time").Optional().Nillable(),
	}
}

// Indexes of the Session.
func (Session) Indexes() []ent.Index {
	return []ent.Index{index.Fields("tenant_id", "user_id")}
}

// Edges of the Session.
func (Session) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("tenant", Tenant.Type).Ref("sessions").Field("tenant_id").Unique().Required().Immutable(),
	}
}

// RefreshToken is an opaque refresh token of a session.
//
// Invariants: the id is the SHA-256 (hex) of the token, which is never
// stored; a token is used at most once (each use issues its successor), and
// presenting a used one ends the whole session (reuse detection, OAuth 2.0
// Security BCP 4.14).
type RefreshToken struct{ ent.Schema }

// Mixin of the RefreshToken.
func (RefreshToken) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

// Fields of the RefreshToken.
func (RefreshToken) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").NotEmpty().Immutable(),
		field.String("session_id").NotEmpty().Immutable(),
		field.String("client_id").NotEmpty().Immutable(),
		field.String("scope").Immutable(),
		field.Time("create_time").Immutable(),
		field.Time("expire_time").Immutable(),
		field.Time("use_time").Optional().Nillable(),
	}
}

// Edges of the RefreshToken.
func (RefreshToken) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("tenant", Tenant.Type).Ref("refresh_tokens").Field("tenant_id").Unique().Required().Immutable(),
	}
}

// Indexes of the RefreshToken.
func (RefreshToken) Indexes() []ent.Index {
	return []ent.Index{index.Fields("tenant_id", "session_id"), index.Fields("expire_time")}
}
