package scim

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/acme/identity/server/filter"
)

// TestFilterMappingMatchesTheCore checks the gateway's mapping of SCIM
// attributes against the core's one table of filterable attributes
// (server/filter): every attribute the gateway compiles exists there with
// the same kind of value, and compares with regard to case exactly when
// /Schemas declares it caseExact (RFC 7643 section 2.2).
func TestFilterMappingMatchesTheCore(t *testing.T) {
	s := New(nil, "https://id.example.com", slog.New(slog.DiscardHandler))
	docs := map[string]map[string]any{}
	for _, sc := range s.schemaList() {
		docs[sc["id"].(string)] = sc
	}
	for _, c := range []struct {
		wl   whitelist
		core filter.Schema
	}{
		{userWhitelist, filter.Users},
		{groupWhitelist, filter.Groups},
	} {
		doc := docs[c.wl.schema]
		for name, tg := range c.wl.attrs {
			a, ok := c.core.Attrs[tg.attr]
			if !ok {
				t.Errorf("%s: SCIM %s maps to %q, which the core cannot filter", c.wl.schema, name, tg.attr)
				continue
			}
			doc, path := doc, name
			if ext := strings.ToLower(c.wl.extension) + ":"; c.wl.extension != "" && strings.HasPrefix(name, ext) {
				doc, path = docs[c.wl.extension], strings.TrimPrefix(name, ext)
			}
			checkAttr(t, c.wl.schema+" "+name, tg, a, doc, strings.Split(path, "."))
		}
		for name, m := range c.wl.multis {
			cm, ok := c.core.Multis[m.attr]
			if !ok {
				t.Errorf("%s: SCIM %s maps to %q, which the core cannot filter", c.wl.schema, name, m.attr)
				continue
			}
			for sub, tg := range m.subs {
				a, ok := cm.Attrs[tg.attr]
				if !ok {
					t.Errorf("%s: SCIM %s.%s maps to %q, which the core cannot filter", c.wl.schema, name, sub, tg.attr)
					continue
				}
				checkAttr(t, c.wl.schema+" "+name+"."+sub, tg, a, doc, []string{name, sub})
			}
		}
	}
}

func checkAttr(t *testing.T, what string, tg target, a filter.Attr, doc map[string]any, path []string) {
	t.Helper()
	want := map[valueKind][]filter.Kind{
		valString: {filter.Exact, filter.Folded, filter.Fold},
		valBool:   {filter.Bool},
		valTime:   {filter.Time},
	}[tg.kind]
	ok := false
	for _, k := range want {
		ok = ok || k == a.Kind
	}
	if !ok {
		t.Errorf("%s: the gateway sends a %v value, the core compares kind %v", what, tg.kind, a.Kind)
	}
	if tg.kind != valString || path[0] == "meta" {
		return // meta is common to every resource, not described in /Schemas
	}
	attr := findAttr(doc["attributes"], path)
	if attr == nil {
		t.Errorf("%s: not described in /Schemas", what)
		return
	}
	if exact := attr["caseExact"].(bool); exact != a.Kind.CaseExact() {
		t.Errorf("%s: /Schemas says caseExact %v, the core compares with caseExact %v", what, exact, a.Kind.CaseExact())
	}
}

// findAttr finds an attribute of a schema document by its (lower-case) path.
func findAttr(attrs any, path []string) map[string]any {
	list, _ := attrs.([]map[string]any)
	for _, a := range list {
		if strings.EqualFold(a["name"].(string), path[0]) {
			if len(path) == 1 {
				return a
			}
			return findAttr(a["subAttributes"], path[1:])
		}
	}
	return nil
}
