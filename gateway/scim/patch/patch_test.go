package patch

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/acme/identity/gateway/scim/resource"
)

var userCases = []struct {
	name string
	body string
	want func(u *resource.User) bool
}{
	{"okta deactivate", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`,
		func(u *resource.User) bool { return u.Active != nil && !bool(*u.Active) }},
	{"entra string boolean, capital op", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"True"}]}`,
		func(u *resource.User) bool { return u.Active != nil && bool(*u.Active) }},
	{"email by type, created when missing", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"emails[type eq \"home\"].value","value":"h@x.com"}]}`,
		func(u *resource.User) bool {
			return len(u.Emails) == 2 && u.Emails[1].Type == "home" && u.Emails[1].Value == "h@x.com"
		}},
	{"email by type, existing", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"emails[type eq \"work\"].value","value":"n@x.com"}]}`,
		func(u *resource.User) bool { return len(u.Emails) == 1 && u.Emails[0].Value == "n@x.com" }},
	{"remove filtered email", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"emails[type eq \"WORK\"]"}]}`,
		func(u *resource.User) bool { return len(u.Emails) == 0 }},
	{"dotted and URN keys", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"name.givenName":"G","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"D"}}]}`,
		func(u *resource.User) bool { return u.Name.GivenName == "G" && u.Enterprise.Department == "D" }},
	{"extension object", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"7"}}}]}`,
		func(u *resource.User) bool { return u.Enterprise.EmployeeNumber == "7" }},
	{"replace a complex value keeps the sub-attributes not given", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"name":{"givenName":"X"}}}]}`,
		func(u *resource.User) bool { return u.Name.GivenName == "X" && u.Name.FamilyName == "F" }},
	{"replace at a complex path keeps the sub-attributes not given", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"name","value":{"givenName":"Y"}}]}`,
		func(u *resource.User) bool { return u.Name.GivenName == "Y" && u.Name.FamilyName == "F" }},
	{"a new primary email takes it from the old", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"emails","value":[{"value":"n@x.com","type":"home","primary":true}]}]}`,
		func(u *resource.User) bool {
			return len(u.Emails) == 2 && !bool(u.Emails[0].Primary) && bool(u.Emails[1].Primary)
		}},
	{"primary set through a filter moves", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"emails","value":[{"value":"n@x.com","type":"home"}]},{"op":"replace","path":"emails[type eq \"home\"].primary","value":true}]}`,
		func(u *resource.User) bool {
			return len(u.Emails) == 2 && !bool(u.Emails[0].Primary) && bool(u.Emails[1].Primary)
		}},
	{"whole extension URN as the path", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","value":{"department":"Sales","manager":{"value":"m2"}}}]}`,
		func(u *resource.User) bool {
			return u.Enterprise.Department == "Sales" && u.Enterprise.Manager.Value == "m2"
		}},
	{"remove a sub-attribute of filtered elements", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"emails[type eq \"work\"].primary"}]}`,
		func(u *resource.User) bool { return len(u.Emails) == 1 && !bool(u.Emails[0].Primary) }},
	{"manager as bare id", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"m1"}]}`,
		func(u *resource.User) bool { return u.Enterprise.Manager.Value == "m1" }},
}

func sampleUser() *resource.User {
	return &resource.User{UserName: "a@x.com", Name: &resource.Name{GivenName: "G0", FamilyName: "F"},
		Emails: []resource.Email{{Value: "a@x.com", Type: "work", Primary: true}}}
}

func TestApplyUser(t *testing.T) {
	for _, tc := range userCases {
		t.Run(tc.name, func(t *testing.T) {
			ops, err := Decode([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			u := sampleUser()
			if err := ApplyUser(u, ops); err != nil {
				t.Fatal(err)
			}
			if !tc.want(u) {
				b, _ := json.Marshal(u)
				t.Fatalf("got %s", b)
			}
		})
	}
}

func TestApplyUserIsAtomic(t *testing.T) {
	ops, err := Decode([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"T"},{"op":"replace","path":"shoeSize","value":"9"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	u := sampleUser()
	if err := ApplyUser(u, ops); err == nil || u.Title != "" {
		t.Fatalf("err %v, title %q", err, u.Title)
	}
}

// FuzzPatch feeds arbitrary bodies through decoding and both appliers: no
// panic, and every failure is a typed *Error for the SCIM error writer.
func FuzzPatch(f *testing.F) {
	for _, c := range userCases {
		f.Add([]byte(c.body))
	}
	files, _ := filepath.Glob("../testdata/*/*.json")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ops, err := Decode(body)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.ScimType == "" {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if err := ApplyUser(sampleUser(), ops); err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("untyped error %v", err)
			}
		}
		if _, err := PlanGroup(ops); err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("untyped error %v", err)
			}
		}
	})
}
