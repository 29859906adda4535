package scim_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/acme/identity/server/instance/instancetest"
)

const enterpriseURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// singleStrings are the user's single-valued string attributes a filter can
// name, as filter paths, with whether /Schemas declares them caseExact.
var singleStrings = []struct {
	path      string
	caseExact bool
}{
	{"externalId", true}, {"displayName", false}, {"nickName", false}, {"profileUrl", false}, {"title", false},
	{"userType", false}, {"preferredLanguage", false}, {"locale", false}, {"timezone", false},
	{"name.givenName", false}, {"name.familyName", false}, {"name.formatted", false}, {"name.middleName", false},
	{"name.honorificPrefix", false}, {"name.honorificSuffix", false},
	{enterpriseURN + ":employeeNumber", false}, {enterpriseURN + ":costCenter", false},
	{enterpriseURN + ":organization", false}, {enterpriseURN + ":division", false},
	{enterpriseURN + ":department", false}, {enterpriseURN + ":manager.value", false},
}

// filterUser is a user whose every string attribute is "<word> <path>";
// with word "" the user has none of them.
func filterUser(name, word string) string {
	u := map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User", enterpriseURN}, "userName": name}
	if word == "" {
		return mustJSON(u)
	}
	set := func(obj map[string]any, path, full string) {
		parts := strings.Split(path, ".")
		for _, p := range parts[:len(parts)-1] {
			next, _ := obj[p].(map[string]any)
			if next == nil {
				next = map[string]any{}
				obj[p] = next
			}
			obj = next
		}
		obj[parts[len(parts)-1]] = word + " " + full
	}
	ent := map[string]any{}
	for _, a := range singleStrings {
		if rest, ok := strings.CutPrefix(a.path, enterpriseURN+":"); ok {
			set(ent, rest, a.path)
		} else {
			set(u, a.path, a.path)
		}
	}
	u[enterpriseURN] = ent
	u["phoneNumbers"] = []any{map[string]any{"value": word + " +1 555 0100", "type": "work", "primary": true}, map[string]any{"value": word + " +1 555 0199", "type": "home"}}
	u["addresses"] = []any{map[string]any{"type": "work", "locality": word + " Town", "country": "DE", "streetAddress": "1 " + word + " Street", "primary": true}}
	for _, m := range []string{"ims", "photos", "entitlements", "roles", "x509Certificates"} {
		u[m] = []any{map[string]any{"value": word + "-" + m, "display": word + " " + m, "type": "work", "primary": true}, map[string]any{"value": "other-" + m, "type": "home"}}
	}
	return mustJSON(u)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestEveryAttributeFilters filters on each attribute of /Schemas with each
// operator of its type, on SQLite and PostgreSQL (the descriptive attributes
// are read from JSON columns there, by other SQL on each database).
func TestEveryAttributeFilters(t *testing.T) {
	for _, db := range instancetest.Databases() {
		t.Run(db.Name, func(t *testing.T) {
			e := newEnvOn(t, instancetest.StartOn(t, db.URL(t)))
			ids := map[string]string{}
			for name, word := range map[string]string{"apple": "Apple", "banana": "Banana", "empty": ""} {
				ids[name] = call(t, e, e.token, "POST", "/Users", filterUser(name+"@x.com", word)).want(t, 201).str("id")
			}
			type tc struct {
				filter string
				want   []string
			}
			var cases []tc
			for _, a := range singleStrings {
				p := a.path
				lowerMatch := []string{"apple"}
				if a.caseExact {
					lowerMatch = nil
				}
				cases = append(cases,
					tc{fmt.Sprintf(`%s eq "Apple %s"`, p, p), []string{"apple"}},
					tc{fmt.Sprintf(`%s eq "apple %s"`, p, strings.ToLower(p)), lowerMatch},
					tc{fmt.Sprintf(`%s ne "Apple %s"`, p, p), []string{"banana", "empty"}},
					tc{fmt.Sprintf(`%s co "ple %s"`, p, p), []string{"apple"}},
					tc{fmt.Sprintf(`%s sw "Ban"`, p), []string{"banana"}},
					tc{fmt.Sprintf(`%s ew " %s"`, p, p), []string{"apple", "banana"}},
					tc{fmt.Sprintf(`%s gt "Apple %s"`, p, p), []string{"banana"}},
					tc{fmt.Sprintf(`%s ge "Banana"`, p), []string{"banana"}},
					tc{fmt.Sprintf(`%s pr`, p), []string{"apple", "banana"}},
					tc{fmt.Sprintf(`not (%s pr)`, p), []string{"empty"}},
				)
			}
			cases = append(cases,
				tc{`phoneNumbers[type eq "work" and value co "0100"]`, []string{"apple", "banana"}},
				tc{`phoneNumbers[type eq "home" and value sw "apple"]`, []string{"apple"}},
				tc{`phoneNumbers[type eq "home" and primary eq true]`, nil},
				tc{`phoneNumbers[primary eq false and value ew "0199"]`, []string{"apple", "banana"}},
				tc{`phoneNumbers.value sw "Banana"`, []string{"banana"}},
				tc{`phoneNumbers co "555"`, []string{"apple", "banana"}},
				tc{`phoneNumbers pr`, []string{"apple", "banana"}},
				tc{`addresses[locality eq "APPLE TOWN"]`, []string{"apple"}},
				tc{`addresses.streetAddress co "banana"`, []string{"banana"}},
				tc{`addresses[country eq "DE" and primary eq true]`, []string{"apple", "banana"}},
				tc{`addresses.postalCode pr`, nil},
				tc{`ims.value eq "apple-ims"`, []string{"apple"}},
				tc{`ims[type eq "home" and value eq "other-ims"]`, []string{"apple", "banana"}},
				tc{`photos.value eq "Apple-photos"`, []string{"apple"}},
				tc{`photos.value eq "apple-photos"`, nil}, // a reference, caseExact
				tc{`x509Certificates.value eq "Banana-x509Certificates"`, []string{"banana"}},
				tc{`x509Certificates.value eq "banana-x509certificates"`, nil},
				tc{`entitlements[primary eq true and display co "APPLE"]`, []string{"apple"}},
				tc{`roles.display sw "banana"`, []string{"banana"}},
				tc{`roles[display pr and type eq "home"]`, nil},
				tc{`title pr and phoneNumbers[type eq "work"] and not (userName eq "banana@x.com")`, []string{"apple"}},
				tc{`urn:ietf:params:scim:schemas:core:2.0:User:title sw "apple"`, []string{"apple"}},
			)
			for _, c := range cases {
				got := filteredUsers(t, e, c.filter, ids)
				if !slices.Equal(got, sorted(c.want)) {
					t.Errorf("%s: got %v, want %v", c.filter, got, sorted(c.want))
				}
			}
		})
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// filteredUsers lists the users a filter matches, by their names in ids.
func filteredUsers(t *testing.T, e *env, f string, ids map[string]string) []string {
	t.Helper()
	r := call(t, e, e.token, "GET", "/Users?count=10&filter="+url.QueryEscape(f), "")
	if r.status != 200 {
		t.Errorf("%s: status %d: %s", f, r.status, r.raw)
		return nil
	}
	var got []string
	res, _ := r.json["Resources"].([]any)
	for _, x := range res {
		id := x.(map[string]any)["id"].(string)
		for name, want := range ids {
			if want == id {
				got = append(got, name)
			}
		}
	}
	slices.Sort(got)
	return got
}

// TestEveryAttributeRoundTrips sends a user carrying every writable
// attribute of /Schemas by POST and by PUT, and reads back exactly what was
// sent, on SQLite and PostgreSQL; its groups are returned when asked for.
func TestEveryAttributeRoundTrips(t *testing.T) {
	for _, db := range instancetest.Databases() {
		t.Run(db.Name, func(t *testing.T) {
			e := newEnvOn(t, instancetest.StartOn(t, db.URL(t)))
			var sent map[string]any
			body := filterUser("full@x.com", "Full")
			if err := json.Unmarshal([]byte(body), &sent); err != nil {
				t.Fatal(err)
			}
			sent["emails"] = []any{map[string]any{"value": "full@x.com", "type": "work", "primary": true, "display": "Full at work"}}
			sent["active"] = true
			sent["phoneNumbers"].([]any)[0].(map[string]any)["display"] = "+1 (555) 0100"
			id := call(t, e, e.token, "POST", "/Users", mustJSON(sent)).want(t, 201).str("id")
			check := func(how string) {
				got := call(t, e, e.token, "GET", "/Users/"+id, "").want(t, 200)
				if diff := subsetDiff(sent, got.json, ""); diff != "" {
					t.Errorf("after %s: %s\n%s", how, diff, got.raw)
				}
			}
			check("POST")
			sent["title"], sent["nickName"] = "Changed title", "Changed nick"
			call(t, e, e.token, "PUT", "/Users/"+id, mustJSON(sent)).want(t, 200)
			check("PUT")

			gid := call(t, e, e.token, "POST", "/Groups", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Staff","members":[{"value":%q}]}`, id)).want(t, 201).str("id")
			if got := call(t, e, e.token, "GET", "/Users/"+id, "").want(t, 200); got.json["groups"] != nil {
				t.Errorf("groups returned without being asked for: %s", got.raw)
			}
			got := call(t, e, e.token, "GET", "/Users/"+id+"?attributes=groups", "").want(t, 200)
			want := []any{map[string]any{"value": gid, "display": "Staff", "type": "direct", "$ref": instancetest.PublicURL + "/scim/v2/Groups/" + gid}}
			if diff := subsetDiff(want, got.json["groups"], "groups"); diff != "" {
				t.Errorf("groups: %s: %s", diff, got.raw)
			}
			list := call(t, e, e.token, "GET", "/Users?attributes=groups&filter="+url.QueryEscape(`userName eq "full@x.com"`), "").want(t, 200)
			if !strings.Contains(string(list.raw), `"display":"Staff"`) {
				t.Errorf("list with attributes=groups: %s", list.raw)
			}
		})
	}
}

// subsetDiff says where want is not contained in got ("" when it is):
// objects by key (case-insensitively, as SCIM names are), arrays element by
// element.
func subsetDiff(want, got any, path string) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: got %v, want an object", path, got)
		}
		for k, wv := range w {
			var gv any
			found := false
			for gk, x := range g {
				if strings.EqualFold(gk, k) {
					gv, found = x, true
				}
			}
			if k == "schemas" {
				continue
			}
			if !found {
				return fmt.Sprintf("%s.%s missing", path, k)
			}
			if d := subsetDiff(wv, gv, path+"."+k); d != "" {
				return d
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: got %v, want %v", path, got, want)
		}
		for i := range w {
			if d := subsetDiff(w[i], g[i], fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
	default:
		if want != got {
			return fmt.Sprintf("%s: got %v, want %v", path, got, want)
		}
	}
	return ""
}

// TestSortBy sorts by single-valued attributes of each kind in both orders,
// on SQLite and PostgreSQL, and walks the sorted list in pages of 2 by
// startIndex and by cursor: every walk gives the whole order, once each.
func TestSortBy(t *testing.T) {
	for _, db := range instancetest.Databases() {
		t.Run(db.Name, func(t *testing.T) {
			e := newEnvOn(t, instancetest.StartOn(t, db.URL(t)))
			// name -> title, externalId, active, employeeNumber
			users := []struct{ name, title, ext, emp string }{
				{"a", "banana", "B", "3"}, {"b", "", "a", ""}, {"c", "Apple", "C", "1"},
				{"d", "cherry", "b", "2"}, {"e", "", "A", ""}, {"f", "APPLE", "c", "4"},
			}
			ids := map[string]string{}
			for i, u := range users {
				body := map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User", enterpriseURN},
					"userName": u.name + "@x.com", "externalId": u.ext, "active": i%2 == 0}
				if u.title != "" {
					body["title"] = u.title
				}
				if u.emp != "" {
					body[enterpriseURN] = map[string]any{"employeeNumber": u.emp}
				}
				ids[u.name] = call(t, e, e.token, "POST", "/Users", mustJSON(body)).want(t, 201).str("id")
			}
			idOrder := func(names ...string) []string {
				// ties keep id order, which is creation order here
				return names
			}
			cases := []struct {
				query string
				want  []string
			}{
				// caseExact false: apple = APPLE (ties by id); empty titles last
				{"sortBy=title", idOrder("c", "f", "a", "d", "b", "e")},
				{"sortBy=title&sortOrder=descending", []string{"e", "b", "d", "a", "f", "c"}},
				{"sortBy=TITLE&sortOrder=Ascending", idOrder("c", "f", "a", "d", "b", "e")},
				// caseExact true: upper case sorts before lower case
				{"sortBy=externalId", []string{"e", "a", "c", "b", "d", "f"}},
				{"sortBy=active", []string{"b", "d", "f", "a", "c", "e"}},
				{"sortBy=meta.created&sortOrder=descending", []string{"f", "e", "d", "c", "b", "a"}},
				{"sortBy=" + url.QueryEscape(enterpriseURN+":employeeNumber"), []string{"c", "d", "a", "f", "b", "e"}},
				{"sortBy=userName&filter=" + url.QueryEscape(`title pr`), []string{"a", "c", "d", "f"}},
			}
			for _, c := range cases {
				for _, walk := range []string{"all", "index", "cursor"} {
					got := sortedWalk(t, e, c.query, walk, ids)
					if !slices.Equal(got, c.want) {
						t.Errorf("%s (%s): got %v, want %v", c.query, walk, got, c.want)
					}
				}
			}
			for _, bad := range []string{"sortBy=emails", "sortBy=nosuch", "sortBy=title&sortOrder=up", "sortBy=" + url.QueryEscape(`emails[type eq "work"].value`)} {
				if r := call(t, e, e.token, "GET", "/Users?"+bad, ""); r.status != 400 || r.str("scimType") != "invalidValue" {
					t.Errorf("%s: %d %s", bad, r.status, r.raw)
				}
			}
			for _, g := range []string{"Beta", "alpha", "Gamma"} {
				call(t, e, e.token, "POST", "/Groups", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":%q}`, g)).want(t, 201)
			}
			r := call(t, e, e.token, "GET", "/Groups?sortBy=displayName&sortOrder=descending", "").want(t, 200)
			var names []string
			for _, g := range r.json["Resources"].([]any) {
				names = append(names, g.(map[string]any)["displayName"].(string))
			}
			if !slices.Equal(names, []string{"Gamma", "Beta", "alpha"}) {
				t.Errorf("groups by displayName descending: %v", names)
			}
		})
	}
}

// sortedWalk lists the users of a sorted query whole, page by page with
// startIndex, or page by page with cursors, as names.
func sortedWalk(t *testing.T, e *env, query, walk string, ids map[string]string) []string {
	t.Helper()
	names := map[string]string{}
	for n, id := range ids {
		names[id] = n
	}
	var out []string
	read := func(r response) {
		res, _ := r.json["Resources"].([]any)
		for _, x := range res {
			out = append(out, names[x.(map[string]any)["id"].(string)])
		}
	}
	switch walk {
	case "all":
		read(call(t, e, e.token, "GET", "/Users?"+query, "").want(t, 200))
	case "index":
		for start := 1; start <= len(ids); start += 2 {
			read(call(t, e, e.token, "GET", fmt.Sprintf("/Users?%s&count=2&startIndex=%d", query, start), "").want(t, 200))
		}
	case "cursor":
		cursor := ""
		for i := 0; i < len(ids); i++ {
			r := call(t, e, e.token, "GET", fmt.Sprintf("/Users?%s&count=2&cursor=%s", query, url.QueryEscape(cursor)), "").want(t, 200)
			read(r)
			next, _ := r.json["nextCursor"].(string)
			if next == "" {
				break
			}
			cursor = next
		}
	}
	return out
}

// TestCaseRules: caseExact false folds every letter, not only ASCII ones,
// and caseExact true holds for co, sw and ew too, on both databases.
func TestCaseRules(t *testing.T) {
	for _, db := range instancetest.Databases() {
		t.Run(db.Name, func(t *testing.T) {
			e := newEnvOn(t, instancetest.StartOn(t, db.URL(t)))
			ids := map[string]string{
				"a": call(t, e, e.token, "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@x.com","displayName":"ÄRZTE Team","externalId":"AbC-1","title":"Öl"}`).want(t, 201).str("id"),
				"b": call(t, e, e.token, "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"b@x.com","displayName":"ärzte team","externalId":"abc-2"}`).want(t, 201).str("id"),
			}
			for _, c := range []struct {
				filter string
				want   []string
			}{
				{`displayName eq "Ärzte TEAM"`, []string{"a", "b"}},
				{`displayName co "RZTE"`, []string{"a", "b"}},
				{`displayName sw "äR"`, []string{"a", "b"}},
				{`title eq "öL"`, []string{"a"}},
				{`externalId co "AbC"`, []string{"a"}},
				{`externalId sw "abc"`, []string{"b"}},
				{`externalId ew "C-1"`, []string{"a"}},
				{`externalId eq "ABC-1"`, nil},
			} {
				if got := filteredUsers(t, e, c.filter, ids); !slices.Equal(got, sorted(c.want)) {
					t.Errorf("%s: got %v, want %v", c.filter, got, c.want)
				}
			}
		})
	}
}

// TestManagerDisplayName: the enterprise manager comes back with its $ref
// and the manager's displayName (read-only, RFC 7643 4.3), on a GET, a list
// and the answer of a write.
func TestManagerDisplayName(t *testing.T) {
	e := newEnv(t)
	boss := call(t, e, e.token, "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"boss@x.com","displayName":"The Boss"}`).want(t, 201).str("id")
	body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User",%q],"userName":"emp@x.com",%q:{"manager":{"value":%q,"displayName":"ignored"}}}`, enterpriseURN, enterpriseURN, boss)
	created := call(t, e, e.token, "POST", "/Users", body).want(t, 201)
	id := created.str("id")
	listed := call(t, e, e.token, "GET", "/Users?filter="+url.QueryEscape(`userName eq "emp@x.com"`), "").want(t, 200)
	for what, doc := range map[string]any{"POST": created.json, "GET": call(t, e, e.token, "GET", "/Users/"+id, "").want(t, 200).json,
		"list": listed.json["Resources"].([]any)[0]} {
		m, _ := runscopePath(doc, enterpriseURN+".manager")
		want := map[string]any{"value": boss, "displayName": "The Boss", "$ref": instancetest.PublicURL + "/scim/v2/Users/" + boss}
		if d := subsetDiff(want, m, "manager"); d != "" {
			t.Errorf("%s: %s", what, d)
		}
	}
}

// TestSortedIndexWalkSurvivesDeletion: an index walk of a sorted list goes
// on when the last user of the page before was deleted in between.
func TestSortedIndexWalkSurvivesDeletion(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		createUser(t, e, n+"@walk.com")
	}
	first := call(t, e, e.token, "GET", "/Users?sortBy=userName&count=2&startIndex=1", "").want(t, 200)
	res := first.json["Resources"].([]any)
	call(t, e, e.token, "DELETE", "/Users/"+res[len(res)-1].(map[string]any)["id"].(string), "").want(t, 204)
	next := call(t, e, e.token, "GET", "/Users?sortBy=userName&count=2&startIndex=3", "").want(t, 200)
	if got := next.json["Resources"].([]any); len(got) != 2 || got[0].(map[string]any)["userName"] != "d@walk.com" {
		t.Fatalf("the page after the deletion: %s", next.raw)
	}
}
