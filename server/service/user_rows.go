package service

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/email"
	"github.com/acme/identity/ent/schema"
	"github.com/acme/identity/ent/user"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/store"
)

// newUser returns the user a create stores, its emails in their order.
func newUser(tenantID, nameKey string, in *identityv1.User, now time.Time) *ent.User {
	var profile schema.Profile
	applyProfile(&profile, in, func(string) bool { return true })
	u := &ent.User{
		ID:               store.NewID(),
		CreateTime:       now,
		UpdateTime:       now,
		Version:          1,
		TenantID:         tenantID,
		UserName:         in.GetUserName(),
		UserNameKey:      nameKey,
		ExternalID:       in.GetExternalId(),
		GivenName:        in.GetName().GetGivenName(),
		FamilyName:       in.GetName().GetFamilyName(),
		MiddleName:       in.GetName().GetMiddleName(),
		HonorificPrefix:  in.GetName().GetHonorificPrefix(),
		HonorificSuffix:  in.GetName().GetHonorificSuffix(),
		FormattedName:    in.GetName().GetFormatted(),
		DisplayName:      in.GetDisplayName(),
		Active:           in.Active == nil || in.GetActive(),
		PhoneNumbers:     phoneNumbersFromProto(in.GetPhoneNumbers()),
		CustomAttributes: in.GetCustomAttributes(),
		Profile:          profile,
	}
	u.Edges.Emails = newEmails(tenantID, u.ID, in.GetEmails())
	return u
}

// newEmails returns a user's emails as stored, in their order.
func newEmails(tenantID, userID string, emails []*identityv1.Email) []*ent.Email {
	out := make([]*ent.Email, 0, len(emails))
	for i, e := range emails {
		out = append(out, &ent.Email{TenantID: tenantID, UserID: userID, Value: e.GetValue(),
			ValueKey: store.UserNameLookup(e.GetValue()), Type: e.GetType(), Primary: e.GetPrimary(), Display: e.GetDisplay(), Position: i})
	}
	return out
}

// emailColumns are the columns of the emails table but its id (the
// database's), which ent lists first.
var emailColumns = email.Columns[1:]

// userRows returns the rows that store u and its emails, valued as ent
// stores them (JSON fields as json.RawMessage), each in the order of ent's
// columns (user.Columns, emailColumns). TestUserRowsCoverColumns checks the
// columns and TestCreatedUserReadsBack, on both databases, the values.
func userRows(u *ent.User) ([]store.Row, error) {
	phones, err := json.Marshal(u.PhoneNumbers)
	if err != nil {
		return nil, fmt.Errorf("encode phone numbers: %w", err)
	}
	custom, err := json.Marshal(u.CustomAttributes)
	if err != nil {
		return nil, fmt.Errorf("encode custom attributes: %w", err)
	}
	profile, err := json.Marshal(u.Profile)
	if err != nil {
		return nil, fmt.Errorf("encode profile: %w", err)
	}
	rows := []store.Row{{Table: user.Table, Columns: user.Columns, Values: []any{u.ID, u.CreateTime, u.UpdateTime, u.Version,
		u.TenantID, u.UserName, u.UserNameKey, u.ExternalID, u.GivenName, u.FamilyName, u.MiddleName, u.HonorificPrefix,
		u.HonorificSuffix, u.FormattedName, u.DisplayName, u.Active, json.RawMessage(phones), json.RawMessage(custom),
		json.RawMessage(profile)}}}
	for _, e := range u.Edges.Emails {
		rows = append(rows, store.Row{Table: email.Table, Columns: emailColumns, Values: []any{e.TenantID, e.UserID, e.Value,
			e.ValueKey, e.Type, e.Primary, e.Display, e.Position}})
	}
	return rows, nil
}
