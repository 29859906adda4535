package scim_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func createUser(t *testing.T, e *env, name string) string {
	t.Helper()
	return call(t, e, e.token, "POST", "/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"externalId":"ext-%s"}`, name, name)).want(t, 201).str("id")
}

func memberIDs(t *testing.T, e *env, gid string) map[string]bool {
	t.Helper()
	g := call(t, e, e.token, "GET", "/Groups/"+gid, "").want(t, 200)
	out := map[string]bool{}
	members, _ := g.json["members"].([]any)
	for _, m := range members {
		out[m.(map[string]any)["value"].(string)] = true
	}
	return out
}

func patchOps(ops ...string) string {
	return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + strings.Join(ops, ",") + `]}`
}

// TestWhatOthersGetWrong checks, one by one, the group PATCH forms other
// SCIM servers mishandled with Okta and Entra ID.
func TestWhatOthersGetWrong(t *testing.T) {
	e := newEnv(t)
	a, b, c := createUser(t, e, "a@x.com"), createUser(t, e, "b@x.com"), createUser(t, e, "c@x.com")
	newGroup := func(name string, members ...string) string {
		var ms []string
		for _, m := range members {
			ms = append(ms, fmt.Sprintf(`{"value":%q}`, m)) // no "type", as IdPs send them
		}
		return call(t, e, e.token, "POST", "/Groups", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":%q,"members":[%s]}`, name, strings.Join(ms, ","))).want(t, 201).str("id")
	}
	cases := []struct {
		name    string
		start   []string
		patch   string
		want    []string
		rename  string
		wantErr int
	}{
		{name: "filtered remove takes exactly that member", start: []string{a, b, c},
			patch: patchOps(fmt.Sprintf(`{"op":"remove","path":"members[value eq \"%s\"]"}`, b)), want: []string{a, c}},
		{name: "path-less replace of displayName and members", start: []string{a},
			patch: patchOps(fmt.Sprintf(`{"op":"replace","value":{"displayName":"Renamed","members":[{"value":%q},{"value":%q}]}}`, b, c)), want: []string{b, c}, rename: "Renamed"},
		{name: "replace of members with an empty list empties the group", start: []string{a, b},
			patch: patchOps(`{"op":"replace","path":"members","value":[]}`), want: nil},
		{name: "add of a member already there changes nothing", start: []string{a},
			patch: patchOps(fmt.Sprintf(`{"op":"add","path":"members","value":[{"value":%q}]}`, a)), want: []string{a}},
		{name: "remove of a member not there changes nothing", start: []string{a},
			patch: patchOps(fmt.Sprintf(`{"op":"remove","path":"members[value eq \"%s\"]"}`, c)), want: []string{a}},
		{name: "remove by value array removes only those (Entra)", start: []string{a, b, c},
			patch: patchOps(fmt.Sprintf(`{"op":"Remove","path":"members","value":[{"value":%q},{"value":%q}]}`, a, c)), want: []string{b}},
		{name: "several membership changes in one request", start: []string{a},
			patch: patchOps(fmt.Sprintf(`{"op":"add","path":"members","value":[{"value":%q}]}`, b), fmt.Sprintf(`{"op":"remove","path":"members[value eq \"%s\"]"}`, a), fmt.Sprintf(`{"op":"add","path":"members","value":[{"value":%q}]}`, c)), want: []string{b, c}},
		{name: "an unknown member is refused and nothing changes", start: []string{a},
			patch: patchOps(`{"op":"add","path":"members","value":[{"value":"01a20706-0000-7000-8000-000000000000"}]}`), want: []string{a}, wantErr: 404},
		{name: "a filter on something else than value is refused", start: []string{a},
			patch: patchOps(`{"op":"remove","path":"members[display eq \"x\"]"}`), want: []string{a}, wantErr: 400},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gid := newGroup(fmt.Sprintf("group-%d", i), tc.start...)
			resp := call(t, e, e.token, "PATCH", "/Groups/"+gid, tc.patch)
			if tc.wantErr != 0 {
				resp.want(t, tc.wantErr)
			} else {
				resp.want(t, 204)
			}
			got := memberIDs(t, e, gid)
			if len(got) != len(tc.want) {
				t.Fatalf("members %v, want %v", got, tc.want)
			}
			for _, id := range tc.want {
				if !got[id] {
					t.Fatalf("members %v, want %v", got, tc.want)
				}
			}
			if tc.rename != "" {
				if g := call(t, e, e.token, "GET", "/Groups/"+gid+"?excludedAttributes=members", "").want(t, 200); g.str("displayName") != tc.rename {
					t.Fatalf("name %q", g.str("displayName"))
				}
			}
		})
	}

	t.Run("PUT replaces name and members", func(t *testing.T) {
		gid := newGroup("put", a, b)
		body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"put-renamed","members":[{"value":%q},{"value":%q}]}`, b, c)
		r := call(t, e, e.token, "PUT", "/Groups/"+gid, body).want(t, 200)
		if r.str("displayName") != "put-renamed" {
			t.Fatalf("PUT: %s", r.raw)
		}
		if got := memberIDs(t, e, gid); len(got) != 2 || !got[b] || !got[c] {
			t.Fatalf("members %v", got)
		}
	})

	t.Run("concurrent PATCHes never lose a member", func(t *testing.T) {
		gid := newGroup("concurrent")
		var ids []string
		for i := range 20 {
			ids = append(ids, createUser(t, e, fmt.Sprintf("c%d@x.com", i)))
		}
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := call(t, e, e.token, "PATCH", "/Groups/"+gid, patchOps(fmt.Sprintf(`{"op":"add","path":"members","value":[{"value":%q}]}`, id)))
				if r.status != 204 {
					t.Errorf("status %d: %s", r.status, r.raw)
				}
			}()
		}
		wg.Wait()
		if got := memberIDs(t, e, gid); len(got) != len(ids) {
			t.Fatalf("%d of %d members survived", len(got), len(ids))
		}
	})
}

// TestBadRequests sends malformed, mistyped, oversized and unauthenticated
// requests: each gets a SCIM error and changes nothing.
func TestBadRequests(t *testing.T) {
	e := newEnv(t)
	id := createUser(t, e, "keep@x.com")
	user := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"new@x.com"}`
	cases := []struct {
		name, bearer, method, path, body string
		headers                          []string
		status                           int
		scimType                         string
	}{
		{"no credential", "-", "GET", "/Users", "", nil, 401, ""},
		{"non-token", "non-token", "GET", "/Users", "", nil, 401, ""},
		{"malformed JSON", "", "POST", "/Users", `{"schemas":`, nil, 400, "invalidSyntax"},
		{"unknown schema", "", "POST", "/Users", `{"schemas":["urn:example:Custom"],"userName":"x@x.com"}`, nil, 400, "invalidValue"},
		{"wrong type", "", "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":5}`, nil, 400, "invalidValue"},
		{"missing userName", "", "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]}`, nil, 400, "invalidValue"},
		{"undeclared attribute", "", "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u1@x.com","adreses":[{"country":"DE"}]}`, nil, 400, "invalidValue"},
		{"undeclared sub-attribute", "", "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u2@x.com","name":{"givenName":"A","secondName":"B"}}`, nil, 400, "invalidValue"},
		{"undeclared sub-attribute of an element", "", "PUT", "/Users/" + id, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"keep@x.com","emails":[{"value":"a@x.com","label":"w"}]}`, nil, 400, "invalidValue"},
		{"undeclared extension attribute", "", "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],"userName":"u3@x.com","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"badge":"7"}}`, nil, 400, "invalidValue"},
		{"undeclared group attribute", "", "POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"G1","owner":"x"}`, nil, 400, "invalidValue"},
		{"bad email", "", "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"y@x.com","emails":[{"value":"nope"}]}`, nil, 400, "invalidValue"},
		{"oversized", "", "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + strings.Repeat("x", 2<<20) + `"}`, nil, 413, "tooLarge"},
		{"wrong content type", "", "POST", "/Users", user, []string{"Content-Type", "text/plain"}, 415, "invalidSyntax"},
		{"unknown id", "", "GET", "/Users/01a20706-0000-7000-8000-000000000000", "", nil, 404, ""},
		{"id that cannot exist", "", "GET", "/Users/not-an-id", "", nil, 404, ""},
		{"bad filter", "", "GET", "/Users" + q(`userName eq`), "", nil, 400, "invalidFilter"},
		{"undeclared filter attribute", "", "GET", "/Users" + q(`titel eq "x"`), "", nil, 400, "invalidFilter"},
		{"write-only filter attribute", "", "GET", "/Users" + q(`password eq "x"`), "", nil, 400, "invalidFilter"},
		{"bad cursor", "", "GET", "/Users?cursor=garbage", "", nil, 400, "invalidCursor"},
		{"patch without schemas", "", "PATCH", "/Users/" + id, `{"Operations":[{"op":"replace","value":{"active":false}}]}`, nil, 400, "invalidValue"},
		{"patch with unknown op", "", "PATCH", "/Users/" + id, patchOps(`{"op":"move","path":"title","value":"x"}`), nil, 400, "invalidValue"},
		{"patch with bad path", "", "PATCH", "/Users/" + id, patchOps(`{"op":"replace","path":"emails[type eq","value":"x"}`), nil, 400, "invalidPath"},
		{"patch of an unknown attribute", "", "PATCH", "/Users/" + id, patchOps(`{"op":"replace","path":"shoeSize","value":"x"}`), nil, 400, "invalidPath"},
		{"patch remove without path", "", "PATCH", "/Users/" + id, patchOps(`{"op":"remove"}`), nil, 400, "noTarget"},
		{"patch with a wrong type", "", "PATCH", "/Users/" + id, patchOps(`{"op":"replace","path":"active","value":"maybe"}`), nil, 400, "invalidValue"},
		{"two primary emails", "", "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"p2@x.com","emails":[{"value":"a@x.com","primary":true},{"value":"b@x.com","primary":true}]}`, nil, 400, "invalidValue"},
		{"patch making two primaries", "", "PATCH", "/Users/" + id, patchOps(`{"op":"add","path":"emails","value":[{"value":"a@x.com","primary":true},{"value":"b@x.com","primary":true}]}`), nil, 400, "invalidValue"},
		{"patch of id", "", "PATCH", "/Users/" + id, patchOps(`{"op":"replace","path":"id","value":"other"}`), nil, 400, "mutability"},
		{"patch of meta", "", "PATCH", "/Users/" + id, patchOps(`{"op":"replace","path":"meta.version","value":"W/\"9\""}`), nil, 400, "mutability"},
		{"patch of groups", "", "PATCH", "/Users/" + id, patchOps(`{"op":"add","path":"groups","value":[{"value":"g"}]}`), nil, 400, "mutability"},
		{"If-Match of another version", "", "PATCH", "/Users/" + id, patchOps(`{"op":"replace","path":"title","value":"x"}`), []string{"If-Match", `W/"999"`}, 412, ""},
		{"If-Match of another version on delete", "", "DELETE", "/Users/" + id, "", []string{"If-Match", `W/"999"`}, 412, ""},
		{"unknown endpoint", "", "GET", "/Bulk", "", nil, 404, ""},
	}
	before := call(t, e, e.token, "GET", "/Users/"+id, "").want(t, 200)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bearer := e.token
			switch tc.bearer {
			case "-":
				bearer = ""
			case "":
			default:
				bearer = tc.bearer
			}
			r := call(t, e, bearer, tc.method, tc.path, tc.body, tc.headers...).want(t, tc.status)
			if r.str("scimType") != tc.scimType {
				t.Fatalf("scimType %q, want %q: %s", r.str("scimType"), tc.scimType, r.raw)
			}
			if r.json["schemas"] == nil || r.json["status"] != fmt.Sprint(tc.status) {
				t.Fatalf("not a SCIM error: %s", r.raw)
			}
			// RFC 6750 3: a 401 names its scheme; the detail names both
			// credentials the gateway takes.
			if tc.status == 401 && (!strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") ||
				!strings.Contains(r.str("detail"), "<SCIM token>") || !strings.Contains(r.str("detail"), "<ProjectID>:<AccessKey>")) {
				t.Fatalf("401 without the Bearer challenge or both credential forms: %v %s", r.header, r.raw)
			}
		})
	}
	after := call(t, e, e.token, "GET", "/Users/"+id, "").want(t, 200)
	if string(before.raw) != string(after.raw) {
		t.Fatalf("refused requests changed the user:\n%s\n%s", before.raw, after.raw)
	}
	if r := call(t, e, e.token, "GET", "/Users", "").want(t, 200); r.str("totalResults") != "1" {
		t.Fatalf("refused requests created users: %s", r.raw)
	}
	// A current If-Match is accepted.
	call(t, e, e.token, "PATCH", "/Users/"+id, patchOps(`{"op":"replace","path":"title","value":"x"}`), "If-Match", after.str("meta", "version")).want(t, 200)
}

// TestPaging walks all users with index paging and with cursors while users
// are created and deleted: no user that exists throughout is skipped or
// repeated.
func TestPaging(t *testing.T) {
	e := newEnv(t)
	stable := map[string]bool{}
	var churn []string
	for i := range 25 {
		stable[createUser(t, e, fmt.Sprintf("s%02d@x.com", i))] = true
		churn = append(churn, createUser(t, e, fmt.Sprintf("t%02d@x.com", i)))
	}
	walk := func(cursor bool) map[string]int {
		seen := map[string]int{}
		next, start := "", 1
		for page := 0; page < 100; page++ {
			path := fmt.Sprintf("/Users?count=7&startIndex=%d", start)
			if cursor {
				path = "/Users?count=7&cursor=" + next
			}
			r := call(t, e, e.token, "GET", path, "").want(t, 200)
			for _, u := range r.resources() {
				seen[u["id"].(string)]++
			}
			// concurrent writes between pages
			if page < len(churn) {
				call(t, e, e.token, "DELETE", "/Users/"+churn[page], "").want(t, 204)
				createUser(t, e, fmt.Sprintf("n%d-%v@x.com", page, cursor))
			}
			if cursor {
				if next = r.str("nextCursor"); next == "" {
					return seen
				}
			} else {
				if len(r.resources()) == 0 {
					return seen
				}
				start += len(r.resources())
			}
		}
		t.Fatal("paging did not end")
		return nil
	}
	for _, cursor := range []bool{false, true} {
		seen := walk(cursor)
		for id := range stable {
			if seen[id] != 1 {
				t.Errorf("cursor=%v: stable user seen %d times", cursor, seen[id])
			}
		}
		for id, n := range seen {
			if n > 1 {
				t.Errorf("cursor=%v: user %s seen %d times", cursor, id, n)
			}
		}
		churn = nil // the second walk runs without churn left to delete
	}
}

func TestDiscovery(t *testing.T) {
	e := newEnv(t)
	spc := call(t, e, e.token, "GET", "/ServiceProviderConfig", "").want(t, 200)
	if spc.str("patch", "supported") != "true" || spc.str("bulk", "supported") != "true" || spc.str("bulk", "maxOperations") != "1000" ||
		spc.str("sort", "supported") != "true" || spc.str("filter", "maxResults") != "1000" ||
		spc.str("pagination", "cursor") != "true" || spc.str("etag", "supported") != "true" {
		t.Fatalf("ServiceProviderConfig: %s", spc.raw)
	}
	if r := call(t, e, e.token, "GET", "/ResourceTypes", "").want(t, 200); r.str("totalResults") != "2" {
		t.Fatalf("ResourceTypes: %s", r.raw)
	}
	if r := call(t, e, e.token, "GET", "/ResourceTypes/User", "").want(t, 200); r.str("description") != "User Account" {
		t.Fatalf("ResourceTypes/User without its description (RFC 7643 6): %s", r.raw)
	}
	schemas := call(t, e, e.token, "GET", "/Schemas", "").want(t, 200)
	if schemas.str("totalResults") != "3" {
		t.Fatalf("Schemas: %s", schemas.raw)
	}
	for _, sc := range schemas.json["Resources"].([]any) {
		if d, _ := sc.(map[string]any)["description"].(string); d == "" {
			t.Fatalf("a schema without its description (RFC 7643 7): %v", sc)
		}
	}
	call(t, e, e.token, "GET", "/Schemas/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "").want(t, 200)
	call(t, e, e.token, "GET", "/Schemas/urn:nope", "").want(t, 404)
	// attributes projection
	id := createUser(t, e, "p@x.com")
	r := call(t, e, e.token, "GET", "/Users/"+id+"?attributes=userName", "").want(t, 200)
	if r.json["externalId"] != nil || r.str("userName") != "p@x.com" || r.str("id") != id {
		t.Fatalf("attributes=userName: %s", r.raw)
	}
	// The same on the answers of writes (RFC 7644 3.9).
	r = call(t, e, e.token, "PATCH", "/Users/"+id+"?excludedAttributes=emails,name", patchOps(`{"op":"replace","path":"title","value":"CTO"}`)).want(t, 200)
	if r.json["emails"] != nil || r.json["name"] != nil || r.str("title") != "CTO" {
		t.Fatalf("PATCH with excludedAttributes=emails,name: %s", r.raw)
	}
	r = call(t, e, e.token, "POST", "/Users?attributes=userName", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"q@x.com","title":"x"}`).want(t, 201)
	if r.json["title"] != nil || r.str("userName") != "q@x.com" {
		t.Fatalf("POST with attributes=userName: %s", r.raw)
	}
}

// TestNameRoundTrip: every sub-attribute of name (RFC 7643 4.1.1) set by
// POST, PUT and PATCH is stored and returned as sent.
func TestNameRoundTrip(t *testing.T) {
	e := newEnv(t)
	full := `"name":{"formatted":"Ms. Barbara J Jensen, III","familyName":"Jensen","givenName":"Barbara","middleName":"Jane","honorificPrefix":"Ms.","honorificSuffix":"III"}`
	r := call(t, e, e.token, "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen@x.com",`+full+`}`).want(t, 201)
	id := r.str("id")
	check := func(how string, want map[string]string) {
		t.Helper()
		got := call(t, e, e.token, "GET", "/Users/"+id, "").want(t, 200)
		for k, v := range want {
			if got.str("name", k) != v {
				t.Fatalf("after %s, name.%s is %q, want %q: %s", how, k, got.str("name", k), v, got.raw)
			}
		}
	}
	check("POST", map[string]string{"middleName": "Jane", "honorificPrefix": "Ms.", "honorificSuffix": "III", "formatted": "Ms. Barbara J Jensen, III"})
	call(t, e, e.token, "PUT", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen@x.com",
		"name":{"givenName":"Barbara","familyName":"Jensen","middleName":"Joan"}}`).want(t, 200)
	check("PUT", map[string]string{"middleName": "Joan", "honorificPrefix": "", "familyName": "Jensen"})
	call(t, e, e.token, "PATCH", "/Users/"+id, patchOps(`{"op":"replace","path":"name.honorificSuffix","value":"Jr."}`)).want(t, 200)
	check("PATCH", map[string]string{"middleName": "Joan", "honorificSuffix": "Jr.", "givenName": "Barbara"})
	if r := call(t, e, e.token, "GET", "/Users"+q(`name.middleName eq "JOAN"`), "").want(t, 200); r.str("totalResults") != "1" {
		t.Fatalf("filter on name.middleName (caseExact false): %s", r.raw)
	}
}

// TestIfNoneMatch: a GET with the current version in If-None-Match answers
// 304 without a body (RFC 7644 3.14); after a change it answers 200.
func TestIfNoneMatch(t *testing.T) {
	e := newEnv(t)
	id := createUser(t, e, "etag@x.com")
	cur := call(t, e, e.token, "GET", "/Users/"+id, "").want(t, 200)
	v := cur.header.Get("ETag")
	if r := call(t, e, e.token, "GET", "/Users/"+id, "", "If-None-Match", v).want(t, 304); len(r.raw) != 0 || r.header.Get("ETag") != v {
		t.Fatalf("304 with a body or without the ETag: %v %q", r.header, r.raw)
	}
	call(t, e, e.token, "GET", "/Users/"+id, "", "If-None-Match", `W/"1", `+v).want(t, 304)
	call(t, e, e.token, "PATCH", "/Users/"+id, patchOps(`{"op":"replace","path":"title","value":"x"}`)).want(t, 200)
	call(t, e, e.token, "GET", "/Users/"+id, "", "If-None-Match", v).want(t, 200)
}

// TestMultiValuedRoundTrip: ims, photos, entitlements, roles and
// x509Certificates (RFC 7643 4.1.2) are stored and returned as sent, and
// patched like the other multi-valued attributes.
func TestMultiValuedRoundTrip(t *testing.T) {
	e := newEnv(t)
	r := call(t, e, e.token, "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"mv@x.com",
		"ims":[{"value":"mv_im","type":"xmpp"}],"photos":[{"value":"https://photos.example.com/mv.jpg","type":"photo","primary":true}],
		"entitlements":[{"value":"vpn"}],"roles":[{"value":"Engineer","display":"Engineer"}],"x509Certificates":[{"value":"MIIDQzCCAqygAwIBAgICEAAwDQYJ"}]}`).want(t, 201)
	id := r.str("id")
	got := call(t, e, e.token, "GET", "/Users/"+id, "").want(t, 200)
	for _, path := range [][]string{{"ims", "xmpp"}, {"photos", "photo"}, {"roles", "Engineer"}, {"entitlements", "vpn"}, {"x509Certificates", "MIIDQzCCAqygAwIBAgICEAAwDQYJ"}} {
		if !strings.Contains(string(mustMarshal(got.json[path[0]])), path[1]) {
			t.Fatalf("%s lost: %s", path[0], got.raw)
		}
	}
	call(t, e, e.token, "PATCH", "/Users/"+id, patchOps(`{"op":"add","path":"roles","value":[{"value":"Manager","primary":true}]}`)).want(t, 200)
	got = call(t, e, e.token, "GET", "/Users/"+id, "").want(t, 200)
	if roles, _ := got.json["roles"].([]any); len(roles) != 2 {
		t.Fatalf("PATCH add to roles: %s", got.raw)
	}
	call(t, e, e.token, "PUT", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"mv@x.com"}`).want(t, 200)
	got = call(t, e, e.token, "GET", "/Users/"+id, "").want(t, 200)
	if got.json["roles"] != nil || got.json["ims"] != nil {
		t.Fatalf("PUT without them did not replace them: %s", got.raw)
	}
}

func mustMarshal(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
