package patch

import (
	"encoding/json"
	"strings"

	"github.com/acme/identity/gateway/scim/filter"
	"github.com/acme/identity/gateway/scim/resource"
)

// ApplyUser applies operations to a user in order. It changes u only when
// every operation applies.
func ApplyUser(u *resource.User, ops []Operation) error {
	work := *u
	for _, o := range ops {
		if err := readOnly(o); err != nil {
			return err
		}
		// A path that is a whole schema URN (the enterprise extension) takes
		// an object of its attributes, as a value without a path would.
		if o.Path != nil && o.Path.Filter == nil && o.Path.Sub == "" &&
			strings.EqualFold(o.Path.Attr.URN+":"+o.Path.Attr.Attr, resource.EnterpriseSchema) {
			if o.Op == "remove" {
				work.Enterprise = nil
				continue
			}
			o = Operation{Op: o.Op, Value: json.RawMessage(`{"` + resource.EnterpriseSchema + `":` + string(o.Value) + `}`), index: o.index}
		}
		parts := []Operation{o}
		if o.Path == nil {
			var err error
			if parts, err = split(o); err != nil {
				return err
			}
		}
		for _, p := range parts {
			if err := applyUser(&work, p); err != nil {
				return err
			}
		}
	}
	*u = work
	return nil
}

func decode(o Operation, dst any) error {
	if err := strictUnmarshal(o.Value, dst); err != nil {
		return errorf("invalidValue", "Operations[%d]: value of %s: %v", o.index, o.Path.Attr, err)
	}
	return nil
}

func isEnterprise(p filter.Path) bool {
	return strings.EqualFold(p.URN, resource.EnterpriseSchema)
}

func applyUser(u *resource.User, o Operation) error {
	p := o.Path
	attr := strings.ToLower(p.Attr.Attr)
	// An enterprise attribute by its URN, or (a leniency: no core attribute
	// has these names) by its bare name; never under another schema's URN.
	if isEnterprise(p.Attr) || p.Attr.URN == "" && (attr == "employeenumber" || attr == "costcenter" || attr == "organization" ||
		attr == "division" || attr == "department" || attr == "manager") {
		return applyEnterprise(u, o, attr)
	}
	if p.Attr.URN != "" && !strings.EqualFold(p.Attr.URN, resource.UserSchema) {
		return errorf("invalidPath", "Operations[%d]: schema %s is not supported", o.index, p.Attr.URN)
	}
	if s := str(u, attr); s != nil {
		if p.Filter != nil || p.Attr.Sub != "" {
			return errorf("invalidPath", "Operations[%d]: %s has no sub-attributes", o.index, p.Attr)
		}
		if o.Op == "remove" {
			if attr == "username" {
				return errorf("mutability", "Operations[%d]: userName is required and cannot be removed", o.index)
			}
			*s = ""
			return nil
		}
		return decode(o, s)
	}
	switch attr {
	case "active":
		if o.Op == "remove" {
			u.Active = nil
			return nil
		}
		var b resource.Bool
		if err := decode(o, &b); err != nil {
			return err
		}
		u.Active = &b
		return nil
	case "password", "groups":
		return nil // accepted and ignored: no passwords; groups are read-only
	case "name":
		return applyName(u, o)
	case "emails":
		return keepOnePrimary("emails", &u.Emails, func(e *resource.Email) *resource.Bool { return &e.Primary },
			func() error { return applyMulti(&u.Emails, o, emailAttrs, setEmail) })
	case "phonenumbers":
		return keepOnePrimary("phoneNumbers", &u.PhoneNumbers, func(p *resource.Phone) *resource.Bool { return &p.Primary },
			func() error { return applyMulti(&u.PhoneNumbers, o, phoneAttrs, setPhone) })
	case "ims", "photos", "entitlements", "roles", "x509certificates":
		list := map[string]*[]resource.MultiValue{"ims": &u.Ims, "photos": &u.Photos, "entitlements": &u.Entitlements,
			"roles": &u.Roles, "x509certificates": &u.X509Certificates}[attr]
		attrs := multiAttrs
		if attr == "photos" || attr == "x509certificates" {
			attrs = exactValueAttrs
		}
		return keepOnePrimary(p.Attr.Attr, list, func(m *resource.MultiValue) *resource.Bool { return &m.Primary },
			func() error { return applyMulti(list, o, attrs, setMulti) })
	case "addresses":
		return keepOnePrimary("addresses", &u.Addresses, func(a *resource.Address) *resource.Bool { return &a.Primary },
			func() error { return applyMulti(&u.Addresses, o, addressAttrs, setAddress) })
	}
	return errorf("invalidPath", "Operations[%d]: attribute %s is not supported", o.index, p.Attr)
}

// str returns the single-valued string attribute of this (lower-case) name.
func str(u *resource.User, attr string) *string {
	switch attr {
	case "username":
		return &u.UserName
	case "externalid":
		return &u.ExternalID
	case "displayname":
		return &u.DisplayName
	case "nickname":
		return &u.NickName
	case "profileurl":
		return &u.ProfileURL
	case "title":
		return &u.Title
	case "usertype":
		return &u.UserType
	case "preferredlanguage":
		return &u.PreferredLanguage
	case "locale":
		return &u.Locale
	case "timezone":
		return &u.Timezone
	}
	return nil
}

func applyName(u *resource.User, o Operation) error {
	if o.Path.Filter != nil {
		return errorf("invalidPath", "Operations[%d]: name is not multi-valued", o.index)
	}
	if u.Name == nil {
		u.Name = &resource.Name{}
	}
	sub := strings.ToLower(o.Path.Attr.Sub)
	if sub == "" {
		if o.Op == "remove" {
			u.Name = nil
			return nil
		}
		var given map[string]json.RawMessage
		if err := decode(o, &given); err != nil {
			return err
		}
		// Add and replace alike set the sub-attributes given (an empty one
		// too) and leave the others as they are (RFC 7644 3.5.2.3:
		// "Sub-attributes that are not specified in the value parameter are
		// left unchanged").
		for k, v := range given {
			if err := applyName(u, Operation{Op: o.Op, Path: &filter.PathExpr{Attr: filter.Path{Attr: "name", Sub: k}}, Value: v, index: o.index}); err != nil {
				return err
			}
		}
		return nil
	}
	var dst *string
	switch sub {
	case "givenname":
		dst = &u.Name.GivenName
	case "familyname":
		dst = &u.Name.FamilyName
	case "formatted":
		dst = &u.Name.Formatted
	case "middlename":
		dst = &u.Name.MiddleName
	case "honorificprefix":
		dst = &u.Name.HonorificPrefix
	case "honorificsuffix":
		dst = &u.Name.HonorificSuffix
	default:
		return errorf("invalidPath", "Operations[%d]: name.%s is not supported", o.index, o.Path.Attr.Sub)
	}
	if o.Op == "remove" {
		*dst = ""
		return nil
	}
	return decode(o, dst)
}

func applyEnterprise(u *resource.User, o Operation, attr string) error {
	if u.Enterprise == nil {
		u.Enterprise = &resource.Enterprise{}
	}
	e := u.Enterprise
	var dst *string
	switch attr {
	case "employeenumber":
		dst = &e.EmployeeNumber
	case "costcenter":
		dst = &e.CostCenter
	case "organization":
		dst = &e.Organization
	case "division":
		dst = &e.Division
	case "department":
		dst = &e.Department
	case "manager":
		if o.Op == "remove" {
			e.Manager = nil
			return nil
		}
		// Entra ID sends the manager as a bare id; the schema says {value}.
		var id string
		if json.Unmarshal(o.Value, &id) == nil {
			e.Manager = &resource.Manager{Value: id}
			return nil
		}
		var m resource.Manager
		if err := decode(o, &m); err != nil {
			return err
		}
		e.Manager = &m
		return nil
	default:
		return errorf("invalidPath", "Operations[%d]: enterprise attribute %s is not supported", o.index, o.Path.Attr.Attr)
	}
	if o.Op == "remove" {
		*dst = ""
		return nil
	}
	return decode(o, dst)
}
