package scim_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/acme/identity/server/instance/instancetest"
)

// patchBase is the user every case of TestPatchTable starts from.
const patchBase = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
	"userName":"babs@example.com","externalId":"bjensen","displayName":"Babs Jensen","nickName":"Babs","title":"Tour Guide",
	"name":{"givenName":"Barbara","familyName":"Jensen","middleName":"Jane"},"active":true,
	"emails":[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"babs@jensen.org","type":"home"}],
	"phoneNumbers":[{"value":"555-555-5555","type":"work"},{"value":"555-555-4444","type":"mobile"}],
	"addresses":[{"type":"work","streetAddress":"100 Universal City Plaza","locality":"Hollywood","country":"USA","primary":true},
	             {"type":"home","streetAddress":"456 Hollywood Blvd","locality":"Hollywood","country":"USA"}],
	"roles":[{"value":"guide"}],
	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"701984","department":"Tour Operations","manager":{"value":"26118915-6090-4610-87e4-49d8ca9f808d"}}}`

// TestPatchTable applies RFC 7644 3.5.2's PATCH examples and each PATCH
// form on each kind of attribute through the real server, on SQLite and
// PostgreSQL, and reads the user back: want maps a property path (as the
// Runscope runner reads them) to its JSON value, "<absent>" for none.
func TestPatchTable(t *testing.T) {
	cases := []struct {
		name, ops string
		status    int
		scimType  string
		want      map[string]string
	}{
		// RFC 7644 3.5.2.1 (add)
		{name: "add without a path: attributes of the value", ops: `{"op":"add","value":{"emails":[{"value":"babs@jensen.net","type":"other"}],"nickName":"Barbie"}}`,
			want: map[string]string{"nickName": `"Barbie"`, "emails[2].value": `"babs@jensen.net"`, "emails[0].value": `"bjensen@example.com"`}},
		{name: "add to a multi-valued attribute appends", ops: `{"op":"add","path":"phoneNumbers","value":[{"value":"555-555-3333","type":"home"}]}`,
			want: map[string]string{"phoneNumbers[2].value": `"555-555-3333"`, "phoneNumbers[0].value": `"555-555-5555"`}},
		{name: "add of a complex attribute's sub-attribute", ops: `{"op":"add","path":"name.honorificPrefix","value":"Ms."}`,
			want: map[string]string{"name.honorificPrefix": `"Ms."`, "name.givenName": `"Barbara"`}},
		{name: "add a new primary takes it from the old", ops: `{"op":"add","path":"emails","value":[{"value":"new@example.com","type":"work","primary":true}]}`,
			want: map[string]string{"emails[2].primary": `true`, "emails[0].primary": `<absent>`}},
		// RFC 7644 3.5.2.2 (remove)
		{name: "remove a single-valued attribute", ops: `{"op":"remove","path":"title"}`, want: map[string]string{"title": `<absent>`}},
		{name: "remove all values of a multi-valued attribute", ops: `{"op":"remove","path":"phoneNumbers"}`, want: map[string]string{"phoneNumbers": `<absent>`}},
		{name: "remove the values a filter selects", ops: `{"op":"remove","path":"emails[type eq \"work\" and value ew \"example.com\"]"}`,
			want: map[string]string{"emails[0].value": `"babs@jensen.org"`, "emails[1]": `<absent>`}},
		{name: "remove a sub-attribute of the values a filter selects", ops: `{"op":"remove","path":"addresses[type eq \"work\"].streetAddress"}`,
			want: map[string]string{"addresses[0].streetAddress": `<absent>`, "addresses[0].locality": `"Hollywood"`, "addresses[1].streetAddress": `"456 Hollywood Blvd"`}},
		{name: "remove a complex attribute's sub-attribute", ops: `{"op":"remove","path":"name.middleName"}`,
			want: map[string]string{"name.middleName": `<absent>`, "name.familyName": `"Jensen"`}},
		{name: "remove an enterprise attribute by its URN path", ops: `{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"}`,
			want: map[string]string{enterpriseURN + ".department": `<absent>`, enterpriseURN + ".employeeNumber": `"701984"`}},
		{name: "remove without a path", ops: `{"op":"remove"}`, status: 400, scimType: "noTarget"},
		// RFC 7644 3.5.2.3 (replace)
		{name: "replace all values of a multi-valued attribute", ops: `{"op":"replace","path":"phoneNumbers","value":[{"value":"555-555-1111","type":"work"}]}`,
			want: map[string]string{"phoneNumbers[0].value": `"555-555-1111"`, "phoneNumbers[1]": `<absent>`}},
		{name: "replace the values a filter selects", ops: `{"op":"replace","path":"addresses[type eq \"work\"]","value":{"type":"work","streetAddress":"911 Universal City Plaza","locality":"Hollywood","country":"USA","primary":true}}`,
			want: map[string]string{"addresses[0].streetAddress": `"911 Universal City Plaza"`, "addresses[1].streetAddress": `"456 Hollywood Blvd"`}},
		{name: "replace a sub-attribute of the values a filter selects", ops: `{"op":"replace","path":"addresses[type eq \"work\"].streetAddress","value":"1010 Broadway Ave"}`,
			want: map[string]string{"addresses[0].streetAddress": `"1010 Broadway Ave"`, "addresses[0].locality": `"Hollywood"`, "addresses[1].streetAddress": `"456 Hollywood Blvd"`}},
		{name: "replace without a path", ops: `{"op":"replace","value":{"emails":[{"value":"bjensen@example.com","type":"work","primary":true}],"nickName":"Babsy"}}`,
			want: map[string]string{"nickName": `"Babsy"`, "emails[1]": `<absent>`}},
		{name: "replace of a complex value keeps the sub-attributes not given", ops: `{"op":"replace","value":{"name":{"givenName":"Babs"}}}`,
			want: map[string]string{"name.givenName": `"Babs"`, "name.familyName": `"Jensen"`, "name.middleName": `"Jane"`}},
		{name: "replace at a complex path keeps the sub-attributes not given", ops: `{"op":"replace","path":"name","value":{"familyName":"Jensen-Smith"}}`,
			want: map[string]string{"name.familyName": `"Jensen-Smith"`, "name.givenName": `"Barbara"`}},
		{name: "replace with dotted and URN keys (Entra's compliant form)", ops: `{"op":"replace","value":{"name.givenName":"B","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"42"}}`,
			want: map[string]string{"name.givenName": `"B"`, enterpriseURN + ".employeeNumber": `"42"`, enterpriseURN + ".department": `"Tour Operations"`}},
		{name: "replace of the whole extension", ops: `{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","value":{"costCenter":"4130"}}`,
			want: map[string]string{enterpriseURN + ".costCenter": `"4130"`}},
		{name: "replace of the manager by a bare id (Entra)", ops: `{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"m-2"}`,
			want: map[string]string{enterpriseURN + ".manager.value": `"m-2"`}},
		{name: "active as a string (Entra)", ops: `{"op":"Replace","path":"active","value":"False"}`, want: map[string]string{"active": `false`}},
		{name: "deactivation without a path (Okta)", ops: `{"op":"replace","value":{"active":false}}`, want: map[string]string{"active": `false`}},
		{name: "attribute names in any case", ops: `{"op":"replace","path":"NAME.GIVENNAME","value":"Upper"}`, want: map[string]string{"name.givenName": `"Upper"`}},
		{name: "a filter's value compares by caseExact", ops: `{"op":"replace","path":"emails[type eq \"WORK\"].value","value":"w@example.com"}`,
			want: map[string]string{"emails[0].value": `"w@example.com"`}},
		{name: "a new primary by a filtered replace", ops: `{"op":"replace","path":"emails[type eq \"home\"].primary","value":true}`,
			want: map[string]string{"emails[1].primary": `true`, "emails[0].primary": `<absent>`}},
		{name: "plain multi-valued: add, then replace a filtered one", ops: `{"op":"add","path":"roles","value":[{"value":"admin","type":"x"}]},{"op":"replace","path":"roles[value eq \"guide\"].display","value":"Guide"}`,
			want: map[string]string{"roles[0].display": `"Guide"`, "roles[1].value": `"admin"`}},
		// errors (RFC 7644 3.5.2, 3.12): all or nothing
		{name: "a read-only attribute", ops: `{"op":"replace","path":"id","value":"x"}`, status: 400, scimType: "mutability"},
		{name: "meta is read-only", ops: `{"op":"replace","path":"meta.created","value":"2000-01-01T00:00:00Z"}`, status: 400, scimType: "mutability"},
		{name: "a path naming nothing", ops: `{"op":"replace","path":"shoeSize","value":"9"}`, status: 400, scimType: "invalidPath"},
		{name: "replace through a filter that matches nothing", ops: `{"op":"replace","path":"emails[type eq \"pager\"].value","value":"p@example.com"}`, status: 400, scimType: "noTarget"},
		{name: "a malformed path", ops: `{"op":"replace","path":"emails[type eq","value":"x"}`, status: 400, scimType: "invalidPath"},
		{name: "a later failure undoes the earlier operations", ops: `{"op":"replace","path":"title","value":"Changed"},{"op":"replace","path":"id","value":"x"}`,
			status: 400, scimType: "mutability", want: map[string]string{"title": `"Tour Guide"`}},
	}
	for _, db := range instancetest.Databases() {
		t.Run(db.Name, func(t *testing.T) {
			e := newEnvOn(t, instancetest.StartOn(t, db.URL(t)))
			id := call(t, e, e.token, "POST", "/Users", patchBase).want(t, 201).str("id")
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					call(t, e, e.token, "PUT", "/Users/"+id, patchBase).want(t, 200)
					status := c.status
					if status == 0 {
						status = 200
					}
					r := call(t, e, e.token, "PATCH", "/Users/"+id, patchOps(c.ops))
					if r.status != status || (c.scimType != "" && r.str("scimType") != c.scimType) {
						t.Fatalf("got %d %s, want %d %s", r.status, r.raw, status, c.scimType)
					}
					got := call(t, e, e.token, "GET", "/Users/"+id, "").want(t, 200)
					var doc any
					if err := json.Unmarshal(got.raw, &doc); err != nil {
						t.Fatal(err)
					}
					for path, want := range c.want {
						v, ok := runscopePath(doc, path)
						have := "<absent>"
						if ok {
							b, _ := json.Marshal(v)
							have = string(b)
						}
						if have != want {
							t.Errorf("%s: got %s, want %s\n%s", path, have, want, got.raw)
						}
					}
				})
			}
		})
	}
}

// runscopePath reads a property path whose first segment may be a schema
// URN ("urn:...:User.department").
func runscopePath(doc any, path string) (any, bool) {
	if rest, ok := strings.CutPrefix(path, enterpriseURN+"."); ok {
		m, _ := doc.(map[string]any)
		return jsonProperty(m[enterpriseURN], rest)
	}
	return jsonProperty(doc, path)
}
