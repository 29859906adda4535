package scim_test

import (
	"strings"
	"testing"

	"github.com/acme/identity/server/instance/instancetest"
)

// TestOktaLifecycle replays Okta's documented SCIM 2.0 requests in order,
// once with the tenant's SCIM token and once with a Tenant Admin access key,
// on each database, and checks each answer and the role checks that follow
// at once (the SCIM gateway's writes are answered at commit, before they are
// numbered on PostgreSQL: the role check must still see them).
func TestOktaLifecycle(t *testing.T) {
	for _, db := range instancetest.Databases() {
		for _, cred := range []string{"SCIM token", "Tenant Admin access key"} {
			t.Run(db.Name+"/"+cred, func(t *testing.T) {
				e := newEnvOn(t, instancetest.StartOn(t, db.URL(t)))
				bearer := e.token
				if cred != "SCIM token" {
					bearer = e.admin
				}
				do := func(method, path, body string, headers ...string) response {
					t.Helper()
					return call(t, e, bearer, method, path, body, headers...)
				}

				// Test Connector Configuration, then the lookup before a create.
				list := do("GET", "/Users"+q(`userName eq "test.user@okta.local"`, "startIndex", "1", "count", "100"), "").want(t, 200)
				if list.str("totalResults") != "0" || len(list.resources()) != 0 {
					t.Fatalf("empty lookup: %s", list.raw)
				}
				if !strings.Contains(string(list.raw), `"Resources":[]`) {
					t.Fatalf("an empty ListResponse must carry Resources: []: %s", list.raw)
				}

				created := do("POST", "/Users", body(t, "okta/create_user.json")).want(t, 201)
				id := created.str("id")
				if id == "" || created.str("meta", "location") != "https://id.example.com/scim/v2/Users/"+id ||
					created.str("meta", "version") == "" || created.str("meta", "created") == "" || created.str("active") != "true" ||
					created.header.Get("ETag") != created.str("meta", "version") || strings.Contains(string(created.raw), "password") {
					t.Fatalf("created: %s", created.raw)
				}
				dup := do("POST", "/Users", strings.Replace(body(t, "okta/create_user.json"), "dawn.williams@example.com", "DAWN.Williams@example.com", 1)).want(t, 409)
				if dup.str("scimType") != "uniqueness" {
					t.Fatalf("duplicate: %s", dup.raw)
				}
				found := do("GET", "/Users"+q(`userName eq "DAWN.WILLIAMS@EXAMPLE.COM"`, "startIndex", "1", "count", "100"), "").want(t, 200)
				if found.str("totalResults") != "1" || found.resources()[0]["id"] != id {
					t.Fatalf("lookup by userName: %s", found.raw)
				}
				if r := do("GET", "/Users"+q(`externalId eq "00ujl29u0le5T6Aj10h7"`), "").want(t, 200); r.str("totalResults") != "1" {
					t.Fatalf("lookup by externalId: %s", r.raw)
				}
				do("GET", "/Users/"+id, "").want(t, 200)

				put := do("PUT", "/Users/"+id, body(t, "okta/put_user.json", "USER_ID", id)).want(t, 200)
				if put.str("name", "familyName") != "Whitfield" || put.str("displayName") != "Dawn Whitfield" {
					t.Fatalf("profile update: %s", put.raw)
				}

				// Groups, pushed, become roles.
				group := do("POST", "/Groups", body(t, "okta/create_group.json")).want(t, 201)
				gid := group.str("id")
				if r := do("GET", "/Groups"+q(`displayName eq "Engineering"`, "startIndex", "1", "count", "100"), "").want(t, 200); r.str("totalResults") != "1" {
					t.Fatalf("group lookup: %s", r.raw)
				}
				do("PATCH", "/Groups/"+gid, body(t, "okta/group_add_member.json", "GROUP_ID", gid, "USER_ID", id)).want(t, 204)
				if !holds(t, e, id, "Engineering") {
					t.Fatal("a member of the pushed group does not hold its role")
				}

				// Deactivation: data kept, still readable, no role; reactivation restores.
				do("PATCH", "/Users/"+id, body(t, "okta/deactivate.json")).want(t, 200)
				if r := do("GET", "/Users/"+id, "").want(t, 200); r.str("active") != "false" || r.str("name", "familyName") != "Whitfield" {
					t.Fatalf("deactivated user: %s", r.raw)
				}
				if holds(t, e, id, "Engineering") {
					t.Fatal("a deactivated user holds a role")
				}
				do("PATCH", "/Users/"+id, body(t, "okta/reactivate.json")).want(t, 200)
				if !holds(t, e, id, "Engineering") {
					t.Fatal("reactivation did not restore the role")
				}

				do("PATCH", "/Groups/"+gid, body(t, "okta/group_rename.json", "GROUP_ID", gid)).want(t, 204)
				if holds(t, e, id, "Engineering") || !holds(t, e, id, "Platform") {
					t.Fatal("the rename did not move the role")
				}
				g := do("GET", "/Groups/"+gid, "").want(t, 200)
				if g.str("displayName") != "Platform" || !strings.Contains(string(g.raw), id) {
					t.Fatalf("renamed group: %s", g.raw)
				}
				do("PATCH", "/Groups/"+gid, body(t, "okta/group_remove_member.json", "GROUP_ID", gid, "USER_ID", id)).want(t, 204)
				if holds(t, e, id, "Platform") {
					t.Fatal("a removed member holds the group's role")
				}
				do("DELETE", "/Groups/"+gid, "").want(t, 204)
				do("GET", "/Groups/"+gid, "").want(t, 404)
			})
		}
	}
}

// TestEntraLifecycle replays Microsoft Entra ID's requests: capitalised ops,
// string booleans, value-filter paths, the enterprise extension, path-less
// URN keys, member removal by value array and excludedAttributes=members.
func TestEntraLifecycle(t *testing.T) {
	e := newEnv(t)
	do := func(method, path, body string) response {
		t.Helper()
		return call(t, e, e.token, method, path, body)
	}
	do("GET", "/Users"+q(`userName eq "a3bb3e5e-8f3c-4a5c-bc5a-0f5b2c8d7e61"`), "").want(t, 200)
	manager := do("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"boss@contoso.com"}`).want(t, 201).str("id")
	u := do("POST", "/Users", body(t, "entra/create_user.json")).want(t, 201)
	id := u.str("id")
	if u.str("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "employeeNumber") != "1002" {
		t.Fatalf("enterprise attributes: %s", u.raw)
	}
	if r := do("GET", "/Users"+q(`externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"`), "").want(t, 200); r.str("totalResults") != "1" {
		t.Fatalf("lookup by externalId: %s", r.raw)
	}
	if r := do("GET", "/Users"+q(`emails[type eq "work"].value eq "test_user_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"`), "").want(t, 200); r.str("totalResults") != "1" {
		t.Fatalf("lookup by work email: %s", r.raw)
	}
	if r := do("GET", "/Users"+q(`externalId eq jyoung`), "").want(t, 400); r.str("scimType") != "invalidFilter" {
		t.Fatalf("unquoted value: %s", r.raw)
	}

	p := do("PATCH", "/Users/"+id, body(t, "entra/patch_user.json", "MANAGER_ID", manager)).want(t, 200)
	ent := "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	if p.str("displayName") != "Updated Name" || p.str("name", "givenName") != "Updated" || p.str("active") != "false" ||
		p.str(ent, "employeeNumber") != "2004" || p.str(ent, "department") != "Marketing" ||
		!strings.Contains(string(p.raw), `"value":"updated@contoso.com"`) || !strings.Contains(string(p.raw), "1 Microsoft Way") ||
		!strings.Contains(string(p.raw), `"manager":{"value":"`+manager) {
		t.Fatalf("patched user: %s", p.raw)
	}
	if r := do("GET", "/Users/"+id, "").want(t, 200); r.str("active") != "false" {
		t.Fatal("a disabled user must still be returned, inactive")
	}
	c := do("PATCH", "/Users/"+id, body(t, "entra/patch_user_compliant.json")).want(t, 200)
	if c.str("active") != "true" || c.str("name", "familyName") != "Compliant" || c.str(ent, "employeeNumber") != "3001" || c.str(ent, "department") != "Marketing" {
		t.Fatalf("compliant patch: %s", c.raw)
	}

	g := do("POST", "/Groups", body(t, "entra/create_group.json")).want(t, 201)
	gid := g.str("id")
	list := do("GET", "/Groups"+q(`displayName eq "Group1DisplayName"`, "excludedAttributes", "members"), "").want(t, 200)
	if list.str("totalResults") != "1" || list.resources()[0]["members"] != nil {
		t.Fatalf("group lookup: %s", list.raw)
	}
	do("PATCH", "/Groups/"+gid, body(t, "entra/group_add_member.json", "USER_ID", id)).want(t, 204)
	if r := do("GET", "/Groups/"+gid+"?excludedAttributes=members", "").want(t, 200); r.json["members"] != nil || r.str("displayName") != "Group1DisplayName" {
		t.Fatalf("group without members: %s", r.raw)
	}
	if !holds(t, e, id, "Group1DisplayName") {
		t.Fatal("the member does not hold the group's role")
	}
	do("PATCH", "/Groups/"+gid, body(t, "entra/group_remove_member.json", "USER_ID", id)).want(t, 204)
	if r := do("GET", "/Groups/"+gid, "").want(t, 200); r.json["members"] != nil {
		t.Fatalf("member not removed: %s", r.raw)
	}
	do("DELETE", "/Users/"+id, "").want(t, 204)
	do("GET", "/Users/"+id, "").want(t, 404)
}
