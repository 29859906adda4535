package scim_test

import (
	"fmt"
	"net/url"
	"slices"
	"testing"

	"github.com/acme/identity/server/instance/instancetest"
)

// TestEveryAttributeSorts sorts by every singular attribute /Schemas
// declares for users (core and enterprise, sub-attributes of singular
// complex attributes included) that a client can write, on SQLite and
// PostgreSQL: for each, two users that differ only in it come back in its
// order, ascending and descending. The list comes from /Schemas itself, so
// an attribute added there is sorted here too.
func TestEveryAttributeSorts(t *testing.T) {
	for _, db := range instancetest.Databases() {
		t.Run(db.Name, func(t *testing.T) {
			e := newEnvOn(t, instancetest.StartOn(t, db.URL(t)))
			schemas := call(t, e, e.token, "GET", "/Schemas", "").want(t, 200)
			type attr struct {
				path  []string // JSON path in a user; [0] is the extension URN for enterprise attributes
				name  string   // the sortBy name
				typ   string
				exact bool
			}
			var attrs []attr
			for _, s := range schemas.resources() {
				urn := s["id"].(string)
				if urn != "urn:ietf:params:scim:schemas:core:2.0:User" && urn != enterpriseURN {
					continue
				}
				for _, a := range s["attributes"].([]any) {
					a := a.(map[string]any)
					if a["multiValued"] == true || a["mutability"] == "readOnly" || a["returned"] == "never" {
						continue
					}
					base := []string{a["name"].(string)}
					if urn == enterpriseURN {
						base = []string{enterpriseURN, a["name"].(string)}
					}
					prefix := a["name"].(string)
					if urn == enterpriseURN {
						prefix = enterpriseURN + ":" + prefix
					}
					if a["type"] != "complex" {
						attrs = append(attrs, attr{base, prefix, a["type"].(string), a["caseExact"] == true})
						continue
					}
					for _, sub := range a["subAttributes"].([]any) {
						sub := sub.(map[string]any)
						if sub["mutability"] == "readOnly" || sub["type"] == "reference" {
							continue
						}
						attrs = append(attrs, attr{append(slices.Clone(base), sub["name"].(string)), prefix + "." + sub["name"].(string),
							sub["type"].(string), sub["caseExact"] == true})
					}
				}
			}
			if len(attrs) < 20 {
				t.Fatalf("only %d sortable attributes found in /Schemas", len(attrs))
			}
			for i, a := range attrs {
				var low, high any
				switch a.typ {
				case "string":
					low, high = "alpha", "beta"
				case "boolean":
					low, high = false, true
				default:
					t.Errorf("%s: no sample values for type %s", a.name, a.typ)
					continue
				}
				if a.name == "userName" {
					continue // every user has one; sorted by it below
				}
				tag := fmt.Sprintf("sort%d", i)
				ids := map[string]string{}
				// created high first, so id order is the wrong answer
				for _, v := range []struct {
					label string
					value any
				}{{"high", high}, {"low", low}} {
					body := map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User", enterpriseURN},
						"userName": tag + v.label + "@x.com"}
					set(body, a.path, v.value)
					ids[call(t, e, e.token, "POST", "/Users", mustJSON(body)).want(t, 201).str("id")] = v.label
				}
				for _, order := range []string{"ascending", "descending"} {
					q := "/Users?sortBy=" + url.QueryEscape(a.name) + "&sortOrder=" + order +
						"&filter=" + url.QueryEscape(fmt.Sprintf(`userName sw %q`, tag))
					r := call(t, e, e.token, "GET", q, "")
					if r.status != 200 {
						t.Errorf("sortBy=%s: %d %s", a.name, r.status, r.raw)
						continue
					}
					var got []string
					for _, u := range r.resources() {
						got = append(got, ids[u["id"].(string)])
					}
					want := []string{"low", "high"}
					if order == "descending" {
						want = []string{"high", "low"}
					}
					if !slices.Equal(got, want) {
						t.Errorf("sortBy=%s %s: %v, want %v", a.name, order, got, want)
					}
				}
			}
		})
	}
}

// set puts v at path in a JSON object, making the objects on the way.
func set(obj map[string]any, path []string, v any) {
	for _, p := range path[:len(path)-1] {
		next, ok := obj[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			obj[p] = next
		}
		obj = next
	}
	obj[path[len(path)-1]] = v
}
