package service

import (
	"slices"
	"testing"
	"time"

	"github.com/acme/identity/ent/email"
	"github.com/acme/identity/ent/user"
	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// TestUserRowsCoverColumns keeps a user create's rows in step with the
// schema: every column of users, every column of emails but the database's
// id, and a value for each (TestCreatedUserReadsBack, in gateway/scim,
// checks the values).
func TestUserRowsCoverColumns(t *testing.T) {
	u := newUser("t", "ada", &identityv1.User{UserName: "Ada", Emails: []*identityv1.Email{{Value: "ada@example.com"}}}, time.Now())
	rows, err := userRows(u)
	if err != nil {
		t.Fatal(err)
	}
	if email.Columns[0] != email.FieldID {
		t.Fatalf("emailColumns leaves out the first of %v, not the id", email.Columns)
	}
	want := map[string][]string{user.Table: user.Columns, email.Table: slices.DeleteFunc(slices.Clone(email.Columns), func(c string) bool { return c == email.FieldID })}
	if len(rows) != 2 {
		t.Fatalf("%d rows, want the user's and its email's", len(rows))
	}
	for _, r := range rows {
		if !slices.Equal(slices.Sorted(slices.Values(r.Columns)), slices.Sorted(slices.Values(want[r.Table]))) {
			t.Errorf("%s: columns %v, want %v", r.Table, r.Columns, want[r.Table])
		}
		if len(r.Values) != len(r.Columns) {
			t.Errorf("%s: %d values for %d columns", r.Table, len(r.Values), len(r.Columns))
		}
	}
}
