package scim_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acme/identity/gateway/scim/filter"
	"github.com/acme/identity/server/store"
)

// oracleUsers are the users FuzzFilterOracle filters: mixed case, letters
// beyond ASCII, empty and absent values, several values per attribute.
var oracleUsers = []string{
	`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
	  "userName":"Ada@Example.com","externalId":"EXT-1","displayName":"Ada Lovelace","title":"Countess","nickName":"ada",
	  "name":{"givenName":"Ada","familyName":"Lovelace","middleName":"Byron"},"active":true,"locale":"en-GB",
	  "emails":[{"value":"ada@example.com","type":"work","primary":true},{"value":"ada@home.org","type":"home"}],
	  "phoneNumbers":[{"value":"+44 20 7946 0000","type":"work","primary":true}],
	  "addresses":[{"type":"work","locality":"London","country":"GB","primary":true}],
	  "roles":[{"value":"Analyst","display":"Analyst","primary":true}],
	  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"1815","department":"Engines","manager":{"value":"m-1"}}}`,
	`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
	  "userName":"grace@navy.mil","externalId":"ext-2","displayName":"Grace Hopper","title":"Rear Admiral",
	  "name":{"givenName":"Grace","familyName":"Hopper"},"active":false,
	  "emails":[{"value":"grace@navy.mil","type":"WORK"}],
	  "ims":[{"value":"grace_h","type":"xmpp"}],"photos":[{"value":"https://x.example/G.jpg","type":"photo"}]}`,
	`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
	  "userName":"ärzte@klinik.de","displayName":"ÄRZTE Klinik","title":"","nickName":"Öl",
	  "emails":[{"value":"Team@Klinik.de","type":"work","primary":true}],
	  "phoneNumbers":[{"value":"+49 30 0000","type":"home"},{"value":"+49 30 1111","type":"work"}]}`,
	`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
	  "userName":"zed","externalId":"Ext-1","displayName":"zed","active":true,
	  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"0007","costCenter":"CC"}}`,
}

// oracleSeeds start the fuzzer: the RFC 7644 3.4.2.2 examples over these
// users' attributes, and the forms IdPs send.
var oracleSeeds = []string{
	`userName eq "ada@example.com"`, `userName sw "GR"`, `displayName co "ärzte"`, `title pr`, `not (title pr)`,
	`externalId eq "ext-1"`, `externalId co "Ext"`, `name.familyName gt "Hopper"`, `nickName le "ada"`,
	`emails[type eq "work" and value co "@example.com"]`, `emails[type eq "work"].value eq "grace@navy.mil"`,
	`emails.primary eq true`, `emails pr`, `phoneNumbers[type eq "work"] or ims pr`, `addresses.country eq "gb"`,
	`active eq false`, `active ne true and userName ew ".mil"`, `meta.created gt "2000-01-01T00:00:00Z"`,
	`meta.lastModified lt "2000-01-01T02:00:00+02:00"`, `roles[primary eq true and display sw "an"]`,
	`photos.value eq "https://x.example/g.jpg"`, `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber lt "1"`,
	`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "M-1"`,
	`urn:ietf:params:scim:schemas:core:2.0:User:locale sw "en"`, `(title eq "Countess" or title eq "") and not (active eq false)`,
}

// FuzzFilterOracle runs arbitrary filters through the real server (SQL on
// SQLite) and compares the users it answers with an in-memory reference
// evaluation of the same filter over the same users as the server returns
// them (RFC 7644 3.4.2.2 with this service's stated rules: caseExact from
// /Schemas, an absent string compares as "", a multi-valued attribute
// matches when some value does). Any disagreement fails; a filter the
// server refuses must be refused with a 400, never a 5xx.
func FuzzFilterOracle(f *testing.F) {
	e := newEnv(f)
	for _, u := range oracleUsers {
		call(f, e, e.token, "POST", "/Users", u).want(f, 201)
	}
	all := call(f, e, e.token, "GET", "/Users?count=100", "").want(f, 200)
	var docs []map[string]any
	for _, r := range all.json["Resources"].([]any) {
		docs = append(docs, r.(map[string]any))
	}
	o := oracle{exact: caseExactAttrs(call(f, e, e.token, "GET", "/Schemas", "").want(f, 200))}
	for _, s := range oracleSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r := call(t, e, e.token, "GET", "/Users?count=100&filter="+url.QueryEscape(in), "")
		switch {
		case r.status >= 500:
			t.Fatalf("%q: %d %s", in, r.status, r.raw)
		case r.status != 200:
			return
		}
		if in == "" {
			return // no filter: every user
		}
		expr, err := filter.Parse(in)
		if err != nil {
			t.Fatalf("%q: the server answered a filter the parser refuses: %v", in, err)
		}
		var got, want []string
		res, _ := r.json["Resources"].([]any)
		for _, x := range res {
			got = append(got, x.(map[string]any)["userName"].(string))
		}
		for _, d := range docs {
			if o.match(expr, d) {
				want = append(want, d["userName"].(string))
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("%q: the server answered %v, the reference %v", in, got, want)
		}
	})
}

// caseExactAttrs reads caseExact from /Schemas, by lower-case path
// ("name.givenname", "emails.value", "<urn>:employeenumber").
func caseExactAttrs(schemas response) map[string]bool {
	out := map[string]bool{}
	var walk func(prefix string, attrs []any)
	walk = func(prefix string, attrs []any) {
		for _, a := range attrs {
			m := a.(map[string]any)
			name := prefix + strings.ToLower(m["name"].(string))
			out[name], _ = m["caseExact"].(bool)
			if subs, ok := m["subAttributes"].([]any); ok {
				walk(name+".", subs)
			}
		}
	}
	for _, s := range schemas.json["Resources"].([]any) {
		sc := s.(map[string]any)
		prefix := ""
		if id := sc["id"].(string); id == enterpriseURN {
			prefix = strings.ToLower(id) + ":"
		}
		walk(prefix, sc["attributes"].([]any))
	}
	return out
}

// oracle evaluates a filter over a user as returned by the server.
type oracle struct{ exact map[string]bool }

func (o oracle) match(e filter.Expr, doc map[string]any) bool {
	switch x := e.(type) {
	case filter.And:
		return o.match(x.Left, doc) && o.match(x.Right, doc)
	case filter.Or:
		return o.match(x.Left, doc) || o.match(x.Right, doc)
	case filter.Not:
		return !o.match(x.X, doc)
	case filter.ValuePath:
		name, base := o.attr(x.Attr, doc)
		v, _ := lookup(base, x.Attr.Attr)
		for _, el := range elements(v) {
			if o.matchElement(x.Filter, name, el) {
				return true
			}
		}
		return false
	case filter.Compare:
		name, base := o.attr(x.Path, doc)
		v, present := lookup(base, x.Path.Attr)
		if list, ok := v.([]any); ok || multiValued[name] {
			sub := strings.ToLower(x.Path.Sub)
			if x.Op == "pr" && sub == "" {
				return len(list) > 0
			}
			if sub == "" {
				sub = "value"
			}
			for _, el := range elements(list) {
				sv, _ := lookup(el, sub)
				if o.compare(name+"."+sub, sv, x) {
					return true
				}
			}
			return false
		}
		if x.Path.Sub != "" {
			m, _ := v.(map[string]any)
			v, present = lookup(m, x.Path.Sub)
			name += "." + strings.ToLower(x.Path.Sub)
		}
		_ = present
		return o.compare(name, v, x)
	}
	return false
}

// matchElement evaluates a value filter's expression over one element of
// the multi-valued attribute name.
func (o oracle) matchElement(e filter.Expr, name string, el map[string]any) bool {
	switch x := e.(type) {
	case filter.And:
		return o.matchElement(x.Left, name, el) && o.matchElement(x.Right, name, el)
	case filter.Or:
		return o.matchElement(x.Left, name, el) || o.matchElement(x.Right, name, el)
	case filter.Not:
		return !o.matchElement(x.X, name, el)
	case filter.Compare:
		sub := strings.ToLower(x.Path.String())
		v, _ := lookup(el, sub)
		return o.compare(name+"."+sub, v, x)
	}
	return false
}

// multiValued is every multi-valued attribute, matched even when absent.
var multiValued = map[string]bool{"emails": true, "phonenumbers": true, "addresses": true, "ims": true, "photos": true,
	"entitlements": true, "roles": true, "x509certificates": true}

// attr resolves a path's attribute: its lower-case key for caseExact and
// the object holding it (the user, or its enterprise extension).
func (o oracle) attr(p filter.Path, doc map[string]any) (string, map[string]any) {
	name := strings.ToLower(p.Attr)
	if p.URN != "" && strings.EqualFold(p.URN, enterpriseURN) {
		ext, _ := lookup(doc, enterpriseURN)
		m, _ := ext.(map[string]any)
		return strings.ToLower(enterpriseURN) + ":" + name, m
	}
	return name, doc
}

func lookup(m map[string]any, key string) (any, bool) {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

func elements(v any) []map[string]any {
	list, _ := v.([]any)
	var out []map[string]any
	for _, x := range list {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// compare applies one comparison to a value of the attribute at path.
func (o oracle) compare(path string, v any, c filter.Compare) bool {
	switch {
	case path == "active" || strings.HasSuffix(path, ".primary"):
		b, _ := v.(bool)
		want, ok := c.Value.Bool, c.Value.Kind == filter.KindBool
		if c.Value.Kind == filter.KindString && (strings.EqualFold(c.Value.Str, "true") || strings.EqualFold(c.Value.Str, "false")) {
			want, ok = strings.EqualFold(c.Value.Str, "true"), true
		}
		switch c.Op {
		case "pr":
			return path == "active" || b // a false primary is not stored
		case "eq":
			return ok && b == want
		case "ne":
			return ok && b != want
		}
		return false
	case path == "meta.created" || path == "meta.lastmodified":
		if c.Op == "pr" {
			return true
		}
		s, _ := v.(string)
		a, err1 := time.Parse(time.RFC3339Nano, s)
		b, err2 := time.Parse(time.RFC3339Nano, c.Value.Str)
		if err1 != nil || err2 != nil {
			return false
		}
		return order(a.Compare(b), c.Op)
	}
	s, _ := v.(string)
	if c.Op == "pr" {
		return s != ""
	}
	if c.Value.Kind != filter.KindString {
		return false // a string compares with a string only
	}
	want := c.Value.Str
	switch {
	case path == "username" || path == "emails.value":
		s, want = store.UserNameLookup(s), store.UserNameLookup(want)
	case !o.exact[path]:
		s, want = strings.ToLower(s), strings.ToLower(want)
	}
	switch c.Op {
	case "eq":
		return s == want
	case "ne":
		return s != want
	case "co":
		return strings.Contains(s, want)
	case "sw":
		return strings.HasPrefix(s, want)
	case "ew":
		return strings.HasSuffix(s, want)
	}
	return order(strings.Compare(s, want), c.Op)
}

func order(cmp int, op string) bool {
	switch op {
	case "eq":
		return cmp == 0
	case "ne":
		return cmp != 0
	case "gt":
		return cmp > 0
	case "ge":
		return cmp >= 0
	case "lt":
		return cmp < 0
	case "le":
		return cmp <= 0
	}
	return false
}
