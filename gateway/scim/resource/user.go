package resource

import (
	"encoding/json"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// User is the SCIM core User with the enterprise extension.
type User struct {
	Schemas           []string     `json:"schemas"`
	ID                string       `json:"id,omitempty"`
	ExternalID        string       `json:"externalId,omitempty"`
	UserName          string       `json:"userName"`
	Name              *Name        `json:"name,omitempty"`
	DisplayName       string       `json:"displayName,omitempty"`
	NickName          string       `json:"nickName,omitempty"`
	ProfileURL        string       `json:"profileUrl,omitempty"`
	Title             string       `json:"title,omitempty"`
	UserType          string       `json:"userType,omitempty"`
	PreferredLanguage string       `json:"preferredLanguage,omitempty"`
	Locale            string       `json:"locale,omitempty"`
	Timezone          string       `json:"timezone,omitempty"`
	Active            *Bool        `json:"active,omitempty"`
	Emails            []Email      `json:"emails,omitempty"`
	PhoneNumbers      []Phone      `json:"phoneNumbers,omitempty"`
	Addresses         []Address    `json:"addresses,omitempty"`
	Ims               []MultiValue `json:"ims,omitempty"`
	Photos            []MultiValue `json:"photos,omitempty"`
	Entitlements      []MultiValue `json:"entitlements,omitempty"`
	Roles             []MultiValue `json:"roles,omitempty"`
	X509Certificates  []MultiValue `json:"x509Certificates,omitempty"`
	Enterprise        *Enterprise  `json:"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User,omitempty"`
	Meta              *Meta        `json:"meta,omitempty"`
	// Password is accepted and dropped: Okta sends one on create even without
	// password sync, and this service keeps no passwords (so no slow hash is
	// ever computed in the request path). It is never written out.
	Password json.RawMessage `json:"password,omitempty"`
	Groups   []GroupValue    `json:"groups,omitempty"`
}

// MultiValue is an element of ims, photos, entitlements, roles or
// x509Certificates (RFC 7643 4.1.2).
type MultiValue struct {
	Value   string `json:"value,omitempty"`
	Display string `json:"display,omitempty"`
	Type    string `json:"type,omitempty"`
	Primary Bool   `json:"primary,omitempty"`
}

// GroupValue is an entry of a user's read-only groups attribute; it is
// accepted on input (Okta sends "groups": []) and ignored.
type GroupValue struct {
	Value   string `json:"value"`
	Ref     string `json:"$ref,omitempty"`
	Display string `json:"display,omitempty"`
	Type    string `json:"type,omitempty"`
}

// Name is the components of a user's name.
type Name struct {
	Formatted       string `json:"formatted,omitempty"`
	FamilyName      string `json:"familyName,omitempty"`
	GivenName       string `json:"givenName,omitempty"`
	MiddleName      string `json:"middleName,omitempty"`
	HonorificPrefix string `json:"honorificPrefix,omitempty"`
	HonorificSuffix string `json:"honorificSuffix,omitempty"`
}

// Email is one address.
type Email struct {
	Value   string `json:"value"`
	Type    string `json:"type,omitempty"`
	Primary Bool   `json:"primary,omitempty"`
	Display string `json:"display,omitempty"`
}

// Phone is one phone number.
type Phone struct {
	Value   string `json:"value"`
	Type    string `json:"type,omitempty"`
	Primary Bool   `json:"primary,omitempty"`
	Display string `json:"display,omitempty"`
}

// Address is one postal address.
type Address struct {
	Type          string `json:"type,omitempty"`
	Formatted     string `json:"formatted,omitempty"`
	StreetAddress string `json:"streetAddress,omitempty"`
	Locality      string `json:"locality,omitempty"`
	Region        string `json:"region,omitempty"`
	PostalCode    string `json:"postalCode,omitempty"`
	Country       string `json:"country,omitempty"`
	Primary       Bool   `json:"primary,omitempty"`
}

// Enterprise is the enterprise user extension (RFC 7643 section 4.3).
type Enterprise struct {
	EmployeeNumber string   `json:"employeeNumber,omitempty"`
	CostCenter     string   `json:"costCenter,omitempty"`
	Organization   string   `json:"organization,omitempty"`
	Division       string   `json:"division,omitempty"`
	Department     string   `json:"department,omitempty"`
	Manager        *Manager `json:"manager,omitempty"`
}

// Manager refers to another user.
type Manager struct {
	Value       string `json:"value,omitempty"`
	Ref         string `json:"$ref,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
}

// UserToProto maps a SCIM user onto the API's user; the read-only and
// write-only attributes (id, meta, groups, password) are left out.
func UserToProto(u *User) *identityv1.User {
	out := &identityv1.User{
		UserName:          u.UserName,
		ExternalId:        u.ExternalID,
		DisplayName:       u.DisplayName,
		NickName:          u.NickName,
		ProfileUrl:        u.ProfileURL,
		Title:             u.Title,
		UserType:          u.UserType,
		PreferredLanguage: u.PreferredLanguage,
		Locale:            u.Locale,
		Timezone:          u.Timezone,
	}
	if u.Active != nil {
		active := bool(*u.Active)
		out.Active = &active
	}
	if u.Name != nil {
		out.Name = &identityv1.Name{GivenName: u.Name.GivenName, FamilyName: u.Name.FamilyName, Formatted: u.Name.Formatted,
			MiddleName: u.Name.MiddleName, HonorificPrefix: u.Name.HonorificPrefix, HonorificSuffix: u.Name.HonorificSuffix}
	}
	for _, e := range u.Emails {
		out.Emails = append(out.Emails, &identityv1.Email{Value: e.Value, Type: e.Type, Primary: bool(e.Primary), Display: e.Display})
	}
	for _, p := range u.PhoneNumbers {
		out.PhoneNumbers = append(out.PhoneNumbers, &identityv1.PhoneNumber{Value: p.Value, Type: p.Type, Primary: bool(p.Primary), Display: p.Display})
	}
	for _, a := range u.Addresses {
		out.Addresses = append(out.Addresses, &identityv1.Address{
			Type: a.Type, Formatted: a.Formatted, StreetAddress: a.StreetAddress, Locality: a.Locality,
			Region: a.Region, PostalCode: a.PostalCode, Country: a.Country, Primary: bool(a.Primary),
		})
	}
	out.Ims, out.Photos, out.Entitlements = multiToProto(u.Ims), multiToProto(u.Photos), multiToProto(u.Entitlements)
	out.Roles, out.X509Certificates = multiToProto(u.Roles), multiToProto(u.X509Certificates)
	if e := u.Enterprise; e != nil {
		out.Enterprise = &identityv1.EnterpriseAttributes{
			EmployeeNumber: e.EmployeeNumber, CostCenter: e.CostCenter, Organization: e.Organization,
			Division: e.Division, Department: e.Department,
		}
		if e.Manager != nil {
			out.Enterprise.ManagerId = e.Manager.Value
		}
	}
	return out
}

// UserFromProto maps an API user onto a SCIM user; base is the SCIM base URL
// for meta.location and references.
func UserFromProto(in *identityv1.User, base string) *User {
	active := Bool(in.GetActive())
	out := &User{
		Schemas:           []string{UserSchema},
		ID:                in.GetId(),
		ExternalID:        in.GetExternalId(),
		UserName:          in.GetUserName(),
		DisplayName:       in.GetDisplayName(),
		NickName:          in.GetNickName(),
		ProfileURL:        in.GetProfileUrl(),
		Title:             in.GetTitle(),
		UserType:          in.GetUserType(),
		PreferredLanguage: in.GetPreferredLanguage(),
		Locale:            in.GetLocale(),
		Timezone:          in.GetTimezone(),
		Active:            &active,
		Meta:              meta("User", base+"/Users/"+in.GetId(), in.GetCreateTime(), in.GetUpdateTime(), in.GetVersion()),
	}
	if n := in.GetName(); n.GetGivenName()+n.GetFamilyName()+n.GetFormatted()+n.GetMiddleName()+n.GetHonorificPrefix()+n.GetHonorificSuffix() != "" {
		out.Name = &Name{GivenName: n.GetGivenName(), FamilyName: n.GetFamilyName(), Formatted: n.GetFormatted(),
			MiddleName: n.GetMiddleName(), HonorificPrefix: n.GetHonorificPrefix(), HonorificSuffix: n.GetHonorificSuffix()}
	}
	for _, e := range in.GetEmails() {
		out.Emails = append(out.Emails, Email{Value: e.GetValue(), Type: e.GetType(), Primary: Bool(e.GetPrimary()), Display: e.GetDisplay()})
	}
	for _, p := range in.GetPhoneNumbers() {
		out.PhoneNumbers = append(out.PhoneNumbers, Phone{Value: p.GetValue(), Type: p.GetType(), Primary: Bool(p.GetPrimary()), Display: p.GetDisplay()})
	}
	for _, a := range in.GetAddresses() {
		out.Addresses = append(out.Addresses, Address{
			Type: a.GetType(), Formatted: a.GetFormatted(), StreetAddress: a.GetStreetAddress(), Locality: a.GetLocality(),
			Region: a.GetRegion(), PostalCode: a.GetPostalCode(), Country: a.GetCountry(), Primary: Bool(a.GetPrimary()),
		})
	}
	out.Ims, out.Photos, out.Entitlements = multiFromProto(in.GetIms()), multiFromProto(in.GetPhotos()), multiFromProto(in.GetEntitlements())
	out.Roles, out.X509Certificates = multiFromProto(in.GetRoles()), multiFromProto(in.GetX509Certificates())
	if e := in.GetEnterprise(); e != nil {
		out.Schemas = append(out.Schemas, EnterpriseSchema)
		out.Enterprise = &Enterprise{
			EmployeeNumber: e.GetEmployeeNumber(), CostCenter: e.GetCostCenter(), Organization: e.GetOrganization(),
			Division: e.GetDivision(), Department: e.GetDepartment(),
		}
		if e.GetManagerId() != "" {
			out.Enterprise.Manager = &Manager{Value: e.GetManagerId(), Ref: base + "/Users/" + e.GetManagerId()}
		}
	}
	return out
}

func meta(kind, location string, created, modified *timestamppb.Timestamp, version int64) *Meta {
	return &Meta{
		ResourceType: kind,
		Created:      created.AsTime().UTC().Format(time.RFC3339Nano),
		LastModified: modified.AsTime().UTC().Format(time.RFC3339Nano),
		Location:     location,
		Version:      ETag(version),
	}
}

func multiToProto(in []MultiValue) []*identityv1.MultiValue {
	var out []*identityv1.MultiValue
	for _, m := range in {
		out = append(out, &identityv1.MultiValue{Value: m.Value, Display: m.Display, Type: m.Type, Primary: bool(m.Primary)})
	}
	return out
}

func multiFromProto(in []*identityv1.MultiValue) []MultiValue {
	var out []MultiValue
	for _, m := range in {
		out = append(out, MultiValue{Value: m.GetValue(), Display: m.GetDisplay(), Type: m.GetType(), Primary: Bool(m.GetPrimary())})
	}
	return out
}
