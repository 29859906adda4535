package scim_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/acme/identity/server/instance"
	"github.com/acme/identity/server/instance/instancetest"
	"github.com/acme/identity/server/ratelimit"
	"github.com/acme/identity/server/store"
)

func bulkBody(failOnErrors int, ops ...string) string {
	f := ""
	if failOnErrors > 0 {
		f = fmt.Sprintf(`"failOnErrors":%d,`, failOnErrors)
	}
	return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],` + f + `"Operations":[` + strings.Join(ops, ",") + `]}`
}

func bulkUser(bulkID, name string) string {
	return fmt.Sprintf(`{"method":"POST","path":"/Users","bulkId":%q,"data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q}}`, bulkID, name)
}

func bulkStatuses(r response) []string {
	var out []string
	ops, _ := r.json["Operations"].([]any)
	for _, o := range ops {
		out = append(out, o.(map[string]any)["status"].(string))
	}
	return out
}

// TestBulk runs RFC 7644 3.7's requests: bulkId references in data and
// paths, in either order, failOnErrors, per-operation versions, and the
// refusals of malformed requests, which change nothing.
func TestBulk(t *testing.T) {
	e := newEnv(t)
	userCount := func() int {
		return int(call(t, e, e.token, "GET", "/Users?count=0", "").want(t, 200).json["totalResults"].(float64))
	}

	t.Run("references resolve in any order", func(t *testing.T) {
		r := call(t, e, e.token, "POST", "/Bulk", bulkBody(0,
			`{"method":"POST","path":"/Groups","bulkId":"g","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Bulk Team","members":[{"value":"bulkId:u1"},{"value":"bulkId:u2"}]}}`,
			bulkUser("u1", "bulk1@x.com"), bulkUser("u2", "bulk2@x.com"),
			`{"method":"PATCH","path":"/Groups/bulkId:g","data":{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"Bulk Team 2"}]}}`,
		)).want(t, 200)
		if got := strings.Join(bulkStatuses(r), ","); got != "201,201,201,204" {
			t.Fatalf("statuses %s: %s", got, r.raw)
		}
		ops := r.json["Operations"].([]any)
		group := ops[0].(map[string]any)
		gid := group["location"].(string)[strings.LastIndex(group["location"].(string), "/")+1:]
		if group["bulkId"] != "g" || group["version"] == nil {
			t.Fatalf("the group's result lacks bulkId or version: %s", r.raw)
		}
		g := call(t, e, e.token, "GET", "/Groups/"+gid, "").want(t, 200)
		if g.str("displayName") != "Bulk Team 2" || len(memberIDs(t, e, gid)) != 2 {
			t.Fatalf("group after Bulk: %s", g.raw)
		}
	})

	t.Run("failOnErrors stops the request", func(t *testing.T) {
		before := userCount()
		r := call(t, e, e.token, "POST", "/Bulk", bulkBody(1, bulkUser("a", "bulk1@x.com"), bulkUser("b", "bulk3@x.com"))).want(t, 200)
		if got := strings.Join(bulkStatuses(r), ","); got != "409" {
			t.Fatalf("statuses %s: %s", got, r.raw)
		}
		if !strings.Contains(string(r.raw), `uniqueness`) {
			t.Fatalf("the failed operation's SCIM error is missing: %s", r.raw)
		}
		if userCount() != before {
			t.Fatal("an operation after failOnErrors ran")
		}
	})

	t.Run("each operation stands alone", func(t *testing.T) {
		id := createUser(t, e, "bulk4@x.com")
		r := call(t, e, e.token, "POST", "/Bulk", bulkBody(0,
			fmt.Sprintf(`{"method":"PATCH","path":"/Users/%s","version":"W/\"99\"","data":{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}}`, id),
			`{"method":"POST","path":"/Groups","bulkId":"x","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Dangling","members":[{"value":"bulkId:nope"}]}}`,
			fmt.Sprintf(`{"method":"DELETE","path":"/Users/%s"}`, id),
			bulkUser("c", "bulk5@x.com"),
		)).want(t, 200)
		if got := strings.Join(bulkStatuses(r), ","); got != "412,409,204,201" {
			t.Fatalf("statuses %s: %s", got, r.raw)
		}
		call(t, e, e.token, "GET", "/Users/"+id, "").want(t, 404)
	})

	many := make([]string, 1001)
	for i := range many {
		many[i] = bulkUser(fmt.Sprint(i), fmt.Sprintf("many%d@x.com", i))
	}
	for _, c := range []struct {
		name, body string
		status     int
		scimType   string
	}{
		{"not a BulkRequest", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[]}`, 400, "invalidValue"},
		{"malformed JSON", `{"schemas":[`, 400, "invalidSyntax"},
		{"no operations", bulkBody(0), 400, "invalidValue"},
		{"too many operations", bulkBody(0, many...), 413, ""},
		{"GET is not a Bulk method", bulkBody(0, bulkUser("a", "n1@x.com"), `{"method":"GET","path":"/Users"}`), 400, "invalidValue"},
		{"POST without bulkId", bulkBody(0, `{"method":"POST","path":"/Users","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"n2@x.com"}}`), 400, "invalidValue"},
		{"duplicate bulkId", bulkBody(0, bulkUser("a", "n3@x.com"), bulkUser("a", "n4@x.com")), 400, "invalidValue"},
		{"path outside Users and Groups", bulkBody(0, `{"method":"DELETE","path":"/Schemas/x"}`), 400, "invalidPath"},
		{"dot segment", bulkBody(0, `{"method":"DELETE","path":"/Users/.."}`), 400, "invalidPath"},
		{"nested Bulk", bulkBody(0, `{"method":"POST","path":"/Bulk","bulkId":"b","data":{}}`), 400, "invalidPath"},
		{"PUT without data", bulkBody(0, `{"method":"PUT","path":"/Users/x"}`), 400, "invalidValue"},
		{"failOnErrors 0", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"failOnErrors":0,"Operations":[` + bulkUser("a", "n5@x.com") + `]}`, 400, "invalidValue"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := userCount()
			r := call(t, e, e.token, "POST", "/Bulk", c.body)
			if r.status != c.status || (c.scimType != "" && r.str("scimType") != c.scimType) {
				t.Fatalf("got %d %s, want %d %s", r.status, r.raw, c.status, c.scimType)
			}
			if userCount() != before {
				t.Fatal("a refused Bulk request changed the users")
			}
		})
	}

	t.Run("only whole strings are references", func(t *testing.T) {
		r := call(t, e, e.token, "POST", "/Bulk", bulkBody(0, bulkUser("w", "whole@x.com"),
			`{"method":"POST","path":"/Groups","bulkId":"g2","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"team bulkId:w","members":[{"value":"bulkId:w"}]}}`,
		)).want(t, 200)
		if got := strings.Join(bulkStatuses(r), ","); got != "201,201" {
			t.Fatalf("statuses %s: %s", got, r.raw)
		}
		loc := r.json["Operations"].([]any)[1].(map[string]any)["location"].(string)
		g := call(t, e, e.token, "GET", "/Groups/"+loc[strings.LastIndex(loc, "/")+1:], "").want(t, 200)
		if g.str("displayName") != "team bulkId:w" {
			t.Fatalf("a reference inside a string was replaced: %s", g.raw)
		}
	})

	t.Run("needs a credential", func(t *testing.T) {
		call(t, e, "", "POST", "/Bulk", bulkBody(0, bulkUser("a", "n6@x.com"))).want(t, 401)
	})
}

// TestBulkUnderRateLimits: a Bulk request larger than the credential's
// burst waits out the rate limit operation by operation instead of
// answering 429 for most of them.
func TestBulkUnderRateLimits(t *testing.T) {
	srv := instancetest.StartOn(t, store.SQLiteURL(t.TempDir()), func(c *instance.Config) {
		c.RateLimits = ratelimit.Limits{PerCredential: 100, CredentialBurst: 20}
	})
	e := newEnvOn(t, srv)
	time.Sleep(300 * time.Millisecond) // the setup's calls spent part of the burst
	ops := make([]string, 60)
	for i := range ops {
		ops[i] = bulkUser(fmt.Sprint(i), fmt.Sprintf("limited%d@x.com", i))
	}
	r := call(t, e, e.token, "POST", "/Bulk", bulkBody(0, ops...)).want(t, 200)
	for i, st := range bulkStatuses(r) {
		if st != "201" {
			t.Fatalf("operation %d answered %s: %s", i, st, r.raw)
		}
	}
}
