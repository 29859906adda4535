package service

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/schema"
	identityv1 "github.com/acme/identity/gen/identity/v1"
)

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

func projectToProto(p *ent.Project) *identityv1.Project {
	return &identityv1.Project{
		Id:          p.ID,
		DisplayName: p.DisplayName,
		Revision:    p.Revision,
		CreateTime:  ts(p.CreateTime),
		UpdateTime:  ts(p.UpdateTime),
	}
}

func tenantToProto(t *ent.Tenant) *identityv1.Tenant {
	return &identityv1.Tenant{
		Id:          t.ID,
		DisplayName: t.DisplayName,
		CreateTime:  ts(t.CreateTime),
		UpdateTime:  ts(t.UpdateTime),
		Version:     t.Version,
		Limits: &identityv1.TenantLimits{
			RequestsPerSecond:           t.RatePerSecond,
			Burst:                       uint32(t.RateBurst),
			CredentialRequestsPerSecond: t.CredentialRatePerSecond,
			CredentialBurst:             uint32(t.CredentialBurst),
			MaxConcurrentRequests:       uint32(t.MaxConcurrent),
		},
	}
}

// userToProto expects u.Edges.Emails loaded in position order.
func userToProto(u *ent.User) *identityv1.User {
	out := &identityv1.User{
		Id:         u.ID,
		TenantId:   u.TenantID,
		UserName:   u.UserName,
		ExternalId: u.ExternalID,
		Name: &identityv1.Name{
			GivenName:       u.GivenName,
			FamilyName:      u.FamilyName,
			Formatted:       u.FormattedName,
			MiddleName:      u.MiddleName,
			HonorificPrefix: u.HonorificPrefix,
			HonorificSuffix: u.HonorificSuffix,
		},
		DisplayName:      u.DisplayName,
		Active:           &u.Active,
		CustomAttributes: u.CustomAttributes,
		CreateTime:       ts(u.CreateTime),
		UpdateTime:       ts(u.UpdateTime),
		Version:          u.Version,
	}
	for _, e := range u.Edges.Emails {
		out.Emails = append(out.Emails, &identityv1.Email{Value: e.Value, Type: e.Type, Primary: e.Primary, Display: e.Display})
	}
	for _, p := range u.PhoneNumbers {
		out.PhoneNumbers = append(out.PhoneNumbers, &identityv1.PhoneNumber{Value: p.Value, Type: p.Type, Primary: p.Primary, Display: p.Display})
	}
	pr := u.Profile
	out.Title, out.NickName, out.ProfileUrl, out.UserType = pr.Title, pr.NickName, pr.ProfileURL, pr.UserType
	out.PreferredLanguage, out.Locale, out.Timezone = pr.PreferredLanguage, pr.Locale, pr.Timezone
	for _, a := range pr.Addresses {
		out.Addresses = append(out.Addresses, &identityv1.Address{
			Type: a.Type, Formatted: a.Formatted, StreetAddress: a.StreetAddress, Locality: a.Locality,
			Region: a.Region, PostalCode: a.PostalCode, Country: a.Country, Primary: a.Primary,
		})
	}
	out.Ims, out.Photos, out.Entitlements = multiToProto(pr.Ims), multiToProto(pr.Photos), multiToProto(pr.Entitlements)
	out.Roles, out.X509Certificates = multiToProto(pr.Roles), multiToProto(pr.X509Certificates)
	if pr.EmployeeNumber+pr.CostCenter+pr.Organization+pr.Division+pr.Department+pr.ManagerID != "" {
		out.Enterprise = &identityv1.EnterpriseAttributes{
			EmployeeNumber: pr.EmployeeNumber, CostCenter: pr.CostCenter, Organization: pr.Organization,
			Division: pr.Division, Department: pr.Department, ManagerId: pr.ManagerID,
		}
	}
	return out
}

// applyProfile copies the profile fields that has names from in onto p.
func applyProfile(p *schema.Profile, in *identityv1.User, has func(string) bool) {
	set := func(path string, dst *string, v string) {
		if has(path) {
			*dst = v
		}
	}
	set("title", &p.Title, in.GetTitle())
	set("nick_name", &p.NickName, in.GetNickName())
	set("profile_url", &p.ProfileURL, in.GetProfileUrl())
	set("user_type", &p.UserType, in.GetUserType())
	set("preferred_language", &p.PreferredLanguage, in.GetPreferredLanguage())
	set("locale", &p.Locale, in.GetLocale())
	set("timezone", &p.Timezone, in.GetTimezone())
	if has("addresses") {
		p.Addresses = nil
		for _, a := range in.GetAddresses() {
			p.Addresses = append(p.Addresses, schema.Address{
				Type: a.GetType(), Formatted: a.GetFormatted(), StreetAddress: a.GetStreetAddress(), Locality: a.GetLocality(),
				Region: a.GetRegion(), PostalCode: a.GetPostalCode(), Country: a.GetCountry(), Primary: a.GetPrimary(),
			})
		}
	}
	for path, m := range map[string]struct {
		dst *[]schema.MultiValue
		v   []*identityv1.MultiValue
	}{
		"ims": {&p.Ims, in.GetIms()}, "photos": {&p.Photos, in.GetPhotos()}, "entitlements": {&p.Entitlements, in.GetEntitlements()},
		"roles": {&p.Roles, in.GetRoles()}, "x509_certificates": {&p.X509Certificates, in.GetX509Certificates()},
	} {
		if has(path) {
			*m.dst = multiFromProto(m.v)
		}
	}
	e := in.GetEnterprise()
	set("enterprise.employee_number", &p.EmployeeNumber, e.GetEmployeeNumber())
	set("enterprise.cost_center", &p.CostCenter, e.GetCostCenter())
	set("enterprise.organization", &p.Organization, e.GetOrganization())
	set("enterprise.division", &p.Division, e.GetDivision())
	set("enterprise.department", &p.Department, e.GetDepartment())
	set("enterprise.manager_id", &p.ManagerID, e.GetManagerId())
}

func phoneNumbersFromProto(in []*identityv1.PhoneNumber) []schema.PhoneNumber {
	out := make([]schema.PhoneNumber, 0, len(in))
	for _, p := range in {
		out = append(out, schema.PhoneNumber{Value: p.GetValue(), Type: p.GetType(), Primary: p.GetPrimary(), Display: p.GetDisplay()})
	}
	return out
}

func groupToProto(g *ent.Group) *identityv1.Group {
	return &identityv1.Group{
		Id:          g.ID,
		TenantId:    g.TenantID,
		DisplayName: g.DisplayName,
		ExternalId:  g.ExternalID,
		CreateTime:  ts(g.CreateTime),
		UpdateTime:  ts(g.UpdateTime),
		Version:     g.Version,
	}
}

func roleToProto(r *ent.Role) *identityv1.Role {
	return &identityv1.Role{
		Id:          r.ID,
		TenantId:    r.TenantID,
		Name:        r.Name,
		Description: r.Description,
		Permissions: r.Permissions,
		CreateTime:  ts(r.CreateTime),
		UpdateTime:  ts(r.UpdateTime),
		Version:     r.Version,
	}
}

func optionalTS(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return ts(*t)
}

func accessKeyToProto(k *ent.AccessKey) *identityv1.AccessKey {
	out := &identityv1.AccessKey{
		Id:           k.ID,
		Name:         k.Name,
		ExpireTime:   optionalTS(k.ExpireTime),
		CreatedBy:    k.CreatedBy,
		CreateTime:   ts(k.CreateTime),
		LastUsedTime: optionalTS(k.LastUsedTime),
		RevokeTime:   optionalTS(k.RevokeTime),
	}
	for _, b := range k.RoleBindings {
		out.RoleBindings = append(out.RoleBindings, &identityv1.RoleBinding{Role: b.Role, TenantId: b.TenantID})
	}
	return out
}

func multiToProto(in []schema.MultiValue) []*identityv1.MultiValue {
	var out []*identityv1.MultiValue
	for _, m := range in {
		out = append(out, &identityv1.MultiValue{Value: m.Value, Display: m.Display, Type: m.Type, Primary: m.Primary})
	}
	return out
}

func multiFromProto(in []*identityv1.MultiValue) []schema.MultiValue {
	var out []schema.MultiValue
	for _, m := range in {
		out = append(out, schema.MultiValue{Value: m.GetValue(), Display: m.GetDisplay(), Type: m.GetType(), Primary: m.GetPrimary()})
	}
	return out
}
