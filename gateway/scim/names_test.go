package scim_test

import (
	"strings"
	"testing"
)

// TestNamesAreNeverReplaced: a user name that is not valid UTF-8, or holds
// a lone surrogate, is refused; encoding/json alone would store U+FFFD and
// make different inputs one name.
func TestNamesAreNeverReplaced(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct{ name, userName string }{
		{"invalid UTF-8", "ada\xff@example.com"},
		{"lone surrogate", `ada\ud800@example.com`},
		{"zero-width space", "ada\u200b@example.com"},
	} {
		t.Run(c.name, func(t *testing.T) {
			call(t, e, e.token, "POST", "/Users",
				`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"`+c.userName+`"}`).want(t, 400)
		})
	}
	if r := call(t, e, e.token, "GET", `/Users`, "").want(t, 200); r.str("totalResults") != "0" {
		t.Fatalf("a refused user was stored: %s", r.raw)
	}
}

// TestViolationsNameSCIMAttributes: a refused field is named as the IdP sent
// it, not as the core calls it.
func TestViolationsNameSCIMAttributes(t *testing.T) {
	e := newEnv(t)
	r := call(t, e, e.token, "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ok@x.com","emails":[{"value":"`+strings.Repeat("x", 400)+`@x.com"}]}`).want(t, 400)
	if d := r.str("detail"); !strings.Contains(d, "emails[0].value") || strings.Contains(d, "user.") {
		t.Fatalf("detail %q does not name the SCIM attribute", d)
	}
}
