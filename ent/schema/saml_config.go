package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// SamlConfig is a tenant's SAML SSO configuration: the IdP metadata as
// received, plus the fields parsed from it.
//
// Invariants: at most one per tenant; it exists only once its metadata has
// been validated (an IdP entity id, a single sign-on URL with a supported
// binding and at least one unexpired signing certificate); metadata_xml is
// kept whole, because the assertion consumer service will build its SAML
// service provider from it.
type SamlConfig struct{ ent.Schema }

// Mixin of the SamlConfig.
func (SamlConfig) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

// Fields of the SamlConfig.
func (SamlConfig) Fields() []ent.Field {
	return []ent.Field{
		field.String("idp_entity_id").NotEmpty(),
		field.String("sso_url").NotEmpty(),
		field.String("sso_binding").NotEmpty(),
		// certificates are the IdP's signing certificates, DER-encoded.
		field.JSON("certificates", [][]byte{}),
		field.Text("metadata_xml").NotEmpty(),
		field.String("metadata_url").Default(""),
		// Sign-in settings (see SetSamlConfigRequest): IdP-initiated logins
		// land, with a code, at this client's redirect URI; 0 TTL is the
		// default access token lifetime.
		field.Bool("idp_initiated").Default(false),
		field.String("idp_initiated_client_id").Default(""),
		field.String("idp_initiated_redirect_uri").Default(""),
		field.Int("access_token_ttl_seconds").Default(0),
		field.Time("create_time").Immutable(),
		field.Time("update_time"),
	}
}

// Edges of the SamlConfig.
func (SamlConfig) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("tenant", Tenant.Type).Ref("saml_config").Field("tenant_id").Unique().Required().Immutable(),
	}
}

// Indexes of the SamlConfig.
func (SamlConfig) Indexes() []ent.Index {
	// One configuration per tenant; the mixin's plain index on tenant_id has
	// the default name, so this one is named apart.
	return []ent.Index{index.Fields("tenant_id").Unique().StorageKey("samlconfig_one_per_tenant")}
}
