package scim_test

import (
	"fmt"
	"testing"
)

// TestGroupWritesAreAtomic: a group PATCH or PUT that fails anywhere changes
// nothing (RFC 7644 3.5.1, 3.5.2), and one that succeeds moves the group's
// version once, however many operations it holds.
func TestGroupWritesAreAtomic(t *testing.T) {
	e := newEnv(t)
	ada := createUser(t, e, "ada@example.com")
	grace := createUser(t, e, "grace@example.com")
	const unknown = "01a20000-0000-7000-8000-000000000000"
	g := call(t, e, e.token, "POST", "/Groups", fmt.Sprintf(
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Engineering","members":[{"value":%q}]}`, ada)).want(t, 201)
	id, v0 := g.str("id"), g.str("meta", "version")
	unchanged := func(t *testing.T) {
		t.Helper()
		r := call(t, e, e.token, "GET", "/Groups/"+id, "").want(t, 200)
		members, _ := r.json["members"].([]any)
		if r.str("displayName") != "Engineering" || len(members) != 1 || r.str("meta", "version") != v0 {
			t.Fatalf("a failed write changed the group: %s", r.raw)
		}
	}

	t.Run("PATCH: rename, then an unknown member", func(t *testing.T) {
		call(t, e, e.token, "PATCH", "/Groups/"+id, patchOps(
			`{"op":"replace","path":"displayName","value":"Platform"}`,
			fmt.Sprintf(`{"op":"add","path":"members","value":[{"value":%q}]}`, unknown))).want(t, 404)
		unchanged(t)
	})
	t.Run("PUT with an unknown member", func(t *testing.T) {
		call(t, e, e.token, "PUT", "/Groups/"+id, fmt.Sprintf(
			`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Platform","members":[{"value":%q},{"value":%q}]}`, ada, unknown)).want(t, 404)
		unchanged(t)
	})
	t.Run("PATCH with another version's If-Match", func(t *testing.T) {
		call(t, e, e.token, "PATCH", "/Groups/"+id, patchOps(`{"op":"replace","path":"displayName","value":"Platform"}`),
			"If-Match", `W/"999"`).want(t, 412)
		unchanged(t)
	})
	t.Run("PATCH of several operations is one version", func(t *testing.T) {
		call(t, e, e.token, "PATCH", "/Groups/"+id, patchOps(
			`{"op":"replace","path":"displayName","value":"Platform"}`,
			fmt.Sprintf(`{"op":"add","path":"members","value":[{"value":%q}]}`, grace),
			fmt.Sprintf(`{"op":"remove","path":"members[value eq \"%s\"]"}`, ada)), "If-Match", v0).want(t, 204)
		r := call(t, e, e.token, "GET", "/Groups/"+id, "").want(t, 200)
		members, _ := r.json["members"].([]any)
		if r.str("displayName") != "Platform" || len(members) != 1 {
			t.Fatalf("patched: %s", r.raw)
		}
		// The version counts writes: the PATCH was one.
		if !oneAfter(v0, r.str("meta", "version")) {
			t.Fatalf("the PATCH was more than one write: version %s, then %s", v0, r.str("meta", "version"))
		}
	})
}

// oneAfter says whether entity tag b is the revision after a.
func oneAfter(a, b string) bool {
	var x, y int
	_, errA := fmt.Sscanf(a, `W/"%d"`, &x)
	_, errB := fmt.Sscanf(b, `W/"%d"`, &y)
	return errA == nil && errB == nil && y == x+1
}
