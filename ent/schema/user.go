package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// User is a person of a tenant.
//
// Invariants: user_name_key is the case-folded user_name, and (tenant_id,
// user_name_key) is unique, so two concurrent creates of one login id cannot
// both succeed; emails live in their own rows so that lookups by address use an
// index.
type User struct{ ent.Schema }

// PhoneNumber is one stored phone number of a user.
type PhoneNumber struct {
	Value   string `json:"value"`
	Type    string `json:"type,omitempty"`
	Primary bool   `json:"primary,omitempty"`
	Display string `json:"display,omitempty"`
}

// Profile holds the descriptive attributes of a user: the rest of the SCIM
// core user and the enterprise extension. Filters and sorts reach them
// inside the JSON (server/filter/json.go), without an index: fine for the
// lookups IdPs make, a scan of the tenant for a sort.
type Profile struct {
	Title             string    `json:"title,omitempty"`
	NickName          string    `json:"nick_name,omitempty"`
	ProfileURL        string    `json:"profile_url,omitempty"`
	UserType          string    `json:"user_type,omitempty"`
	PreferredLanguage string    `json:"preferred_language,omitempty"`
	Locale            string    `json:"locale,omitempty"`
	Timezone          string    `json:"timezone,omitempty"`
	Addresses         []Address `json:"addresses,omitempty"`
	EmployeeNumber    string    `json:"employee_number,omitempty"`
	CostCenter        string    `json:"cost_center,omitempty"`
	Organization      string    `json:"organization,omitempty"`
	Division          string    `json:"division,omitempty"`
	Department        string    `json:"department,omitempty"`
	ManagerID         string    `json:"manager_id,omitempty"`
	// The plain multi-valued attributes of RFC 7643 4.1.2, as sent.
	Ims              []MultiValue `json:"ims,omitempty"`
	Photos           []MultiValue `json:"photos,omitempty"`
	Entitlements     []MultiValue `json:"entitlements,omitempty"`
	Roles            []MultiValue `json:"roles,omitempty"`
	X509Certificates []MultiValue `json:"x509_certificates,omitempty"`
}

// MultiValue is one element of a plain multi-valued attribute.
type MultiValue struct {
	Value   string `json:"value,omitempty"`
	Display string `json:"display,omitempty"`
	Type    string `json:"type,omitempty"`
	Primary bool   `json:"primary,omitempty"`
}

// Address is one postal address of a user.
type Address struct {
	Type          string `json:"type,omitempty"`
	Formatted     string `json:"formatted,omitempty"`
	StreetAddress string `json:"street_address,omitempty"`
	Locality      string `json:"locality,omitempty"`
	Region        string `json:"region,omitempty"`
	PostalCode    string `json:"postal_code,omitempty"`
	Country       string `json:"country,omitempty"`
	Primary       bool   `json:"primary,omitempty"`
}

// Mixin of the User.
func (User) Mixin() []ent.Mixin { return []ent.Mixin{ResourceMixin{}, TenantMixin{}} }

// Fields of the User.
func (User) Fields() []ent.Field {
	return []ent.Field{
		field.String("user_name").NotEmpty(),
		field.String("user_name_key").NotEmpty(),
		field.String("external_id").Default(""),
		field.String("given_name").Default(""),
		field.String("family_name").Default(""),
		field.String("middle_name").Default(""),
		field.String("honorific_prefix").Default(""),
		field.String("honorific_suffix").Default(""),
		field.String("formatted_name").Default(""),
		field.String("display_name").Default(""),
		field.Bool("active").Default(true),
		field.JSON("phone_numbers", []PhoneNumber{}).Optional(),
		field.JSON("custom_attributes", map[string]string{}).Optional(),
		field.JSON("profile", Profile{}).Optional(),
	}
}

// Edges of the User.
func (User) Edges() []ent.Edge {
	cascade := entsql.OnDelete(entsql.Cascade)
	return []ent.Edge{
		edge.From("tenant", Tenant.Type).Ref("users").Field("tenant_id").Unique().Required().Immutable(),
		edge.To("emails", Email.Type).Annotations(cascade),
		edge.To("group_memberships", GroupMembership.Type).Annotations(cascade),
		edge.To("role_assignments", RoleAssignment.Type).Annotations(cascade),
	}
}

// Indexes of the User.
func (User) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("tenant_id", "user_name_key").Unique(),
		// Lists page through a tenant in id order (keyset: id > last):
		// this index serves the filter and the order together, so a page
		// costs the same at any depth.
		index.Fields("tenant_id", "id"),
		index.Fields("tenant_id", "external_id"),
		index.Fields("tenant_id", "update_time"),
	}
}
