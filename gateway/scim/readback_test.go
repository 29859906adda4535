package scim_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/acme/identity/server/instance/instancetest"
)

// fullUser sets every attribute a user stores, each to a value of its own,
// so that a value stored in another attribute's column shows.
const fullUser = `{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
  "externalId": "ext-1", "userName": "grace@example.com", "displayName": "Grace H.", "nickName": "amazing",
  "profileUrl": "https://example.com/grace", "title": "Rear Admiral", "userType": "Employee",
  "preferredLanguage": "en-US", "locale": "en-US", "timezone": "America/New_York", "active": false,
  "name": {"formatted": "Dr. Grace B. Hopper PhD", "familyName": "Hopper", "givenName": "Grace", "middleName": "Brewster",
    "honorificPrefix": "Dr.", "honorificSuffix": "PhD"},
  "emails": [{"value": "grace@example.com", "type": "work", "primary": true, "display": "Work"},
    {"value": "gh@home.example", "type": "home"}],
  "phoneNumbers": [{"value": "+1 555 0100", "type": "work", "primary": true}, {"value": "+1 555 0101", "type": "mobile"}],
  "addresses": [{"type": "work", "streetAddress": "1 Navy Way", "locality": "Arlington", "region": "VA", "postalCode": "22201",
    "country": "US", "primary": true}],
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "1906", "costCenter": "C-1",
    "organization": "US Navy", "division": "Computing", "department": "Programming",
    "manager": {"value": "", "displayName": "Admiral"}}
}`

// TestCreatedUserReadsBack creates a user with every attribute and requires
// the resource read back to be the one the create answered, on both
// databases: on PostgreSQL the create's rows are written by hand from the
// user (store.Writer.InsertRows), and ent reads them.
func TestCreatedUserReadsBack(t *testing.T) {
	for _, db := range instancetest.Databases() {
		t.Run(db.Name, func(t *testing.T) {
			e := newEnvOn(t, instancetest.StartOn(t, db.URL(t)))
			created := call(t, e, e.token, "POST", "/Users", fullUser).want(t, 201)
			read := call(t, e, e.token, "GET", "/Users/"+created.str("id"), "").want(t, 200)
			if !bytes.Equal(canonical(t, created.raw), canonical(t, read.raw)) {
				t.Fatalf("created:\n%s\nread back:\n%s", created.raw, read.raw)
			}
			for _, want := range [][]string{{"name", "givenName", "Grace"}, {"name", "familyName", "Hopper"},
				{"nickName", "amazing"}, {"active", "false"}, {"timezone", "America/New_York"}} {
				if got := read.str(want[:len(want)-1]...); got != want[len(want)-1] {
					t.Errorf("%v: %q, want %q", want[:len(want)-1], got, want[len(want)-1])
				}
			}
		})
	}
}

// canonical re-encodes a JSON document with sorted keys.
func canonical(t *testing.T, raw []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
