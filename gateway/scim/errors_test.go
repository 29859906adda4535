package scim

import "testing"

// TestSCIMAttributeNames: the core's field paths become the SCIM attribute
// names they came from.
func TestSCIMAttributeNames(t *testing.T) {
	for in, want := range map[string]string{
		"user.user_name":                  "userName",
		"user.emails[0].value":            "emails[0].value",
		"user.name.given_name":            "name.givenName",
		"group.member_user_ids[3]":        "members[3]",
		"user.enterprise.employee_number": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
		"display_name":                    "displayName",
	} {
		if got := scimAttr(in); got != want {
			t.Errorf("scimAttr(%q) = %q, want %q", in, got, want)
		}
	}
}
