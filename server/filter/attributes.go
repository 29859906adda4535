package filter

import (
	"entgo.io/ent/dialect/sql"

	"github.com/acme/identity/ent/email"
	"github.com/acme/identity/ent/group"
	"github.com/acme/identity/ent/groupmembership"
	"github.com/acme/identity/ent/predicate"
	"github.com/acme/identity/ent/role"
	"github.com/acme/identity/ent/tenant"
	"github.com/acme/identity/ent/user"
	"github.com/acme/identity/server/store"
)

// Kind is how an attribute compares.
type Kind int

// The kinds. The string kinds follow RFC 7643's caseExact: Exact is
// caseExact true, Folded and Fold are caseExact false.
const (
	Exact  Kind = iota + 1 // a string compared as stored
	Folded                 // a case-folded key column: the value is folded too (indexed)
	Fold                   // a string compared without regard to case, no key column
	Bool
	Time
)

// CaseExact says whether a string attribute of this kind compares with regard
// to case.
func (k Kind) CaseExact() bool { return k == Exact }

// Attr is a filterable single-valued attribute: its column and kind, for
// a Folded attribute the key rule of its column (package store), and for a
// value inside a JSON column its path there (json.go).
type Attr struct {
	Column string
	Kind   Kind
	Key    func(string) string
	Path   []string
}

// profile is a string of the user's JSON profile.
func profile(path ...string) Attr {
	return Attr{Column: user.FieldProfile, Kind: Fold, Path: path}
}

// element is a sub-attribute of an element of a JSON array.
func element(kind Kind, name string) Attr {
	return Attr{Column: elementColumn, Kind: kind, Path: []string{name}}
}

// plainMulti is one of the plain multi-valued attributes of RFC 7643 4.1.2
// (ims, photos, entitlements, roles, x509Certificates) kept in the profile;
// value is caseExact as its /Schemas entry says.
func plainMulti(key string, value Kind) Multi {
	return Multi{
		Attrs: map[string]Attr{
			"value": element(value, "value"), "display": element(Fold, "display"),
			"type": element(Fold, "type"), "primary": element(Bool, "primary"),
		},
		Has: jsonArray(user.FieldProfile, key),
	}
}

// Multi is a multi-valued attribute: its element filter is compiled over
// Attrs and wrapped by Has (an EXISTS on the value rows).
type Multi struct {
	Attrs map[string]Attr
	Has   func(inner func(*sql.Selector)) func(*sql.Selector)
}

// Schema is the filterable attributes of one resource, by API name.
type Schema struct {
	Attrs  map[string]Attr
	Multis map[string]Multi
}

// Users: user_name and emails' value are case-folded keys, display and
// personal names ignore case, external_id and id are exact, as RFC 7643
// declares for the SCIM attributes they carry. The descriptive attributes
// are read from the JSON profile and phone numbers (json.go).
var Users = Schema{
	Attrs: map[string]Attr{
		"id":                         {Column: user.FieldID, Kind: Exact},
		"user_name":                  {Column: user.FieldUserNameKey, Kind: Folded, Key: store.UserNameLookup},
		"external_id":                {Column: user.FieldExternalID, Kind: Exact},
		"display_name":               {Column: user.FieldDisplayName, Kind: Fold},
		"name.given_name":            {Column: user.FieldGivenName, Kind: Fold},
		"name.family_name":           {Column: user.FieldFamilyName, Kind: Fold},
		"name.formatted":             {Column: user.FieldFormattedName, Kind: Fold},
		"name.middle_name":           {Column: user.FieldMiddleName, Kind: Fold},
		"name.honorific_prefix":      {Column: user.FieldHonorificPrefix, Kind: Fold},
		"name.honorific_suffix":      {Column: user.FieldHonorificSuffix, Kind: Fold},
		"active":                     {Column: user.FieldActive, Kind: Bool},
		"nick_name":                  profile("nick_name"),
		"profile_url":                profile("profile_url"),
		"title":                      profile("title"),
		"user_type":                  profile("user_type"),
		"preferred_language":         profile("preferred_language"),
		"locale":                     profile("locale"),
		"timezone":                   profile("timezone"),
		"enterprise.employee_number": profile("employee_number"),
		"enterprise.cost_center":     profile("cost_center"),
		"enterprise.organization":    profile("organization"),
		"enterprise.division":        profile("division"),
		"enterprise.department":      profile("department"),
		"enterprise.manager_id":      profile("manager_id"),
		"create_time":                {Column: user.FieldCreateTime, Kind: Time},
		"update_time":                {Column: user.FieldUpdateTime, Kind: Time},
	},
	Multis: map[string]Multi{
		"emails": {
			Attrs: map[string]Attr{
				"value":   {Column: email.FieldValueKey, Kind: Folded, Key: store.UserNameLookup},
				"type":    {Column: email.FieldType, Kind: Fold},
				"primary": {Column: email.FieldPrimary, Kind: Bool},
			},
			Has: func(inner func(*sql.Selector)) func(*sql.Selector) { return user.HasEmailsWith(predicate.Email(inner)) },
		},
		"phone_numbers": {
			Attrs: map[string]Attr{"value": element(Fold, "value"), "type": element(Fold, "type"), "primary": element(Bool, "primary")},
			Has:   jsonArray(user.FieldPhoneNumbers),
		},
		"addresses": {
			Attrs: map[string]Attr{
				"formatted": element(Fold, "formatted"), "street_address": element(Fold, "street_address"),
				"locality": element(Fold, "locality"), "region": element(Fold, "region"),
				"postal_code": element(Fold, "postal_code"), "country": element(Fold, "country"),
				"type": element(Fold, "type"), "primary": element(Bool, "primary"),
			},
			Has: jsonArray(user.FieldProfile, "addresses"),
		},
		"ims":               plainMulti("ims", Fold),
		"photos":            plainMulti("photos", Exact),
		"entitlements":      plainMulti("entitlements", Fold),
		"roles":             plainMulti("roles", Fold),
		"x509_certificates": plainMulti("x509_certificates", Exact),
	},
}

// Groups: display_name is a case-folded key (it names the group's role).
var Groups = Schema{
	Attrs: map[string]Attr{
		"id":           {Column: group.FieldID, Kind: Exact},
		"display_name": {Column: group.FieldDisplayNameKey, Kind: Folded, Key: store.NameLookup},
		"external_id":  {Column: group.FieldExternalID, Kind: Exact},
		"create_time":  {Column: group.FieldCreateTime, Kind: Time},
		"update_time":  {Column: group.FieldUpdateTime, Kind: Time},
	},
	Multis: map[string]Multi{
		"members": {
			Attrs: map[string]Attr{"value": {Column: groupmembership.FieldUserID, Kind: Exact}},
			Has: func(inner func(*sql.Selector)) func(*sql.Selector) {
				return group.HasMembershipsWith(predicate.GroupMembership(inner))
			},
		},
	},
}

// Roles: name is a case-folded key.
var Roles = Schema{
	Attrs: map[string]Attr{
		"id":          {Column: role.FieldID, Kind: Exact},
		"name":        {Column: role.FieldNameKey, Kind: Folded, Key: store.NameLookup},
		"create_time": {Column: role.FieldCreateTime, Kind: Time},
		"update_time": {Column: role.FieldUpdateTime, Kind: Time},
	},
}

// Tenants: display_name compares exactly.
var Tenants = Schema{
	Attrs: map[string]Attr{
		"id":           {Column: tenant.FieldID, Kind: Exact},
		"display_name": {Column: tenant.FieldDisplayName, Kind: Exact},
		"create_time":  {Column: tenant.FieldCreateTime, Kind: Time},
		"update_time":  {Column: tenant.FieldUpdateTime, Kind: Time},
	},
}
