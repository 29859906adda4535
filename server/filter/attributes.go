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

// Attr is a filterable single-valued attribute: its column and kind.
type Attr struct {
	Column string
	Kind   Kind
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
// declares for the SCIM attributes they carry.
var Users = Schema{
	Attrs: map[string]Attr{
		"id":               {user.FieldID, Exact},
		"user_name":        {user.FieldUserNameKey, Folded},
		"external_id":      {user.FieldExternalID, Exact},
		"display_name":     {user.FieldDisplayName, Fold},
		"name.given_name":  {user.FieldGivenName, Fold},
		"name.family_name": {user.FieldFamilyName, Fold},
		"name.formatted":   {user.FieldFormattedName, Fold},
		"active":           {user.FieldActive, Bool},
		"create_time":      {user.FieldCreateTime, Time},
		"update_time":      {user.FieldUpdateTime, Time},
	},
	Multis: map[string]Multi{
		"emails": {
			Attrs: map[string]Attr{
				"value":   {email.FieldValueKey, Folded},
				"type":    {email.FieldType, Fold},
				"primary": {email.FieldPrimary, Bool},
			},
			Has: func(inner func(*sql.Selector)) func(*sql.Selector) { return user.HasEmailsWith(predicate.Email(inner)) },
		},
	},
}

// Groups: display_name is a case-folded key (it names the group's role).
var Groups = Schema{
	Attrs: map[string]Attr{
		"id":           {group.FieldID, Exact},
		"display_name": {group.FieldDisplayNameKey, Folded},
		"external_id":  {group.FieldExternalID, Exact},
		"create_time":  {group.FieldCreateTime, Time},
		"update_time":  {group.FieldUpdateTime, Time},
	},
	Multis: map[string]Multi{
		"members": {
			Attrs: map[string]Attr{"value": {groupmembership.FieldUserID, Exact}},
			Has: func(inner func(*sql.Selector)) func(*sql.Selector) {
				return group.HasMembershipsWith(predicate.GroupMembership(inner))
			},
		},
	},
}

// Roles: name is a case-folded key.
var Roles = Schema{
	Attrs: map[string]Attr{
		"id":          {role.FieldID, Exact},
		"name":        {role.FieldNameKey, Folded},
		"create_time": {role.FieldCreateTime, Time},
		"update_time": {role.FieldUpdateTime, Time},
	},
}

// Tenants: display_name compares exactly.
var Tenants = Schema{
	Attrs: map[string]Attr{
		"id":           {tenant.FieldID, Exact},
		"display_name": {tenant.FieldDisplayName, Exact},
		"create_time":  {tenant.FieldCreateTime, Time},
		"update_time":  {tenant.FieldUpdateTime, Time},
	},
}
