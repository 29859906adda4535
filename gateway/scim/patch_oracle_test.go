package scim_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/acme/identity/gateway/scim/filter"
)

// FuzzPatchOracle sends arbitrary PATCH bodies to the real server (SQLite)
// against one user, reset before each, and compares the user the server
// then returns with an in-memory reference application of the same PATCH
// to the same user, written from RFC 7644 3.5.2 and the rules the README
// states (case-insensitive names, complex values merged, one primary per
// attribute, a replace through a filter matching nothing refused). When the
// server answers 200 the two must agree; when it refuses, the user must be
// unchanged; it never answers 5xx.
func FuzzPatchOracle(f *testing.F) {
	e := newEnv(f)
	id := call(f, e, e.token, "POST", "/Users", patchBase).want(f, 201).str("id")
	base := call(f, e, e.token, "GET", "/Users/"+id, "").want(f, 200)
	schema := readPatchSchema(call(f, e, e.token, "GET", "/Schemas", "").want(f, 200))
	exact := caseExactAttrs(call(f, e, e.token, "GET", "/Schemas", "").want(f, 200))
	for _, ops := range patchOracleSeeds {
		f.Add(patchOps(ops))
	}
	f.Fuzz(func(t *testing.T, body string) {
		call(t, e, e.token, "PUT", "/Users/"+id, patchBase).want(t, 200)
		r := call(t, e, e.token, "PATCH", "/Users/"+id, body)
		got := call(t, e, e.token, "GET", "/Users/"+id, "").want(t, 200)
		switch {
		case r.status >= 500:
			t.Fatalf("%s: %d %s", body, r.status, r.raw)
		case r.status != 200:
			if d := userDiff(base.json, got.json); d != "" {
				t.Fatalf("%s: refused (%d %s) but the user changed: %s", body, r.status, r.raw, d)
			}
			return
		}
		want, err := referencePatch(schema, oracle{exact: exact}, base.json, []byte(body))
		if err != nil {
			t.Fatalf("%s: the server applied it, the reference refuses it: %v\n%s", body, err, got.raw)
		}
		if d := userDiff(want, got.json); d != "" {
			t.Fatalf("%s: server and reference disagree: %s\nserver: %s", body, d, got.raw)
		}
	})
}

var patchOracleSeeds = []string{
	`{"op":"add","value":{"emails":[{"value":"babs@jensen.net","type":"other"}],"nickName":"Barbie"}}`,
	`{"op":"add","path":"phoneNumbers","value":[{"value":"555-555-3333","type":"home"}]}`,
	`{"op":"add","path":"emails","value":[{"value":"new@example.com","type":"work","primary":true}]}`,
	`{"op":"remove","path":"emails[type eq \"work\" and value ew \"example.com\"]"}`,
	`{"op":"remove","path":"addresses[type eq \"work\"].streetAddress"}`,
	`{"op":"replace","path":"addresses[type eq \"work\"].locality","value":"Burbank"}`,
	`{"op":"replace","value":{"name":{"givenName":"Babs","middleName":""}}}`,
	`{"op":"replace","path":"name","value":{"familyName":"Jensen-Smith"}}`,
	`{"op":"replace","value":{"name.givenName":"B","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"42"}}`,
	`{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","value":{"costCenter":"4130"}}`,
	`{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"m-2"}`,
	`{"op":"Replace","path":"active","value":"False"}`,
	`{"op":"replace","path":"emails[type eq \"home\"].primary","value":true}`,
	`{"op":"replace","path":"emails[primary eq \"true\"].type","value":"main"}`,
	`{"op":"add","path":"roles","value":[{"value":"admin"}]},{"op":"replace","path":"roles[value eq \"GUIDE\"].display","value":"Guide"}`,
	`{"op":"add","path":"ims[type eq \"xmpp\"].value","value":"babs_j"}`,
	`{"op":"remove","path":"title"},{"op":"add","path":"TITLE","value":"Chief"}`,
	`{"op":"add","path":"emails","value":[{"value":"x@example.com","type":"x","Primary":"True"}]}`,
	`{"op":"add","path":"photos","value":[{"value":"https://p.example/A.jpg"}]},{"op":"replace","path":"photos[value eq \"https://p.example/a.jpg\"].display","value":"d"}`,
}

// patchAttr is one attribute of /Schemas as PATCH needs it.
type patchAttr struct {
	name     string // canonical
	multi    bool
	complex  bool
	readOnly bool
	subs     map[string]*patchAttr
}

type patchSchema struct {
	core, enterprise map[string]*patchAttr // by lower-case name
}

func readPatchSchema(r response) patchSchema {
	var walk func(attrs []any) map[string]*patchAttr
	walk = func(attrs []any) map[string]*patchAttr {
		out := map[string]*patchAttr{}
		for _, a := range attrs {
			m := a.(map[string]any)
			pa := &patchAttr{name: m["name"].(string), multi: m["multiValued"] == true, complex: m["type"] == "complex",
				readOnly: m["mutability"] == "readOnly"}
			if subs, ok := m["subAttributes"].([]any); ok {
				pa.subs = walk(subs)
			}
			out[strings.ToLower(pa.name)] = pa
		}
		return out
	}
	var s patchSchema
	for _, x := range r.json["Resources"].([]any) {
		sc := x.(map[string]any)
		switch sc["id"] {
		case "urn:ietf:params:scim:schemas:core:2.0:User":
			s.core = walk(sc["attributes"].([]any))
		case enterpriseURN:
			s.enterprise = walk(sc["attributes"].([]any))
		}
	}
	s.core["id"].readOnly = true
	return s
}

var errRefused = errors.New("refused")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errRefused, fmt.Sprintf(format, args...))
}

// referencePatch applies a PatchOp body to a copy of the user.
func referencePatch(s patchSchema, o oracle, user map[string]any, body []byte) (map[string]any, error) {
	var req struct {
		Operations []struct {
			Op    string          `json:"op"`
			Path  string          `json:"path"`
			Value json.RawMessage `json:"value"`
		} `json:"Operations"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, refuse("body: %v", err)
	}
	doc := deepCopy(user).(map[string]any)
	for _, op := range req.Operations {
		var value any
		if len(op.Value) > 0 {
			if err := json.Unmarshal(op.Value, &value); err != nil {
				return nil, refuse("value: %v", err)
			}
		}
		verb := strings.ToLower(op.Op)
		if op.Path == "" {
			obj, ok := value.(map[string]any)
			if !ok {
				return nil, refuse("a path-less %s needs an object", verb)
			}
			keys := make([]string, 0, len(obj))
			for k := range obj {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if strings.EqualFold(k, enterpriseURN) {
					inner, _ := obj[k].(map[string]any)
					for ik, iv := range inner {
						if err := applyPath(s, o, doc, verb, enterpriseURN+":"+ik, iv); err != nil {
							return nil, err
						}
					}
					continue
				}
				switch strings.ToLower(k) {
				case "id", "meta", "schemas", "groups":
					continue // read-only inside a value: ignored
				}
				if err := applyPath(s, o, doc, verb, k, obj[k]); err != nil {
					return nil, err
				}
			}
			continue
		}
		if err := applyPath(s, o, doc, verb, op.Path, value); err != nil {
			return nil, err
		}
	}
	return doc, nil
}

// applyPath applies one operation at a path.
func applyPath(s patchSchema, o oracle, doc map[string]any, verb, path string, value any) error {
	pe, err := filter.ParsePath(path)
	if err != nil {
		return refuse("path %q: %v", path, err)
	}
	if strings.EqualFold(pe.Attr.URN+":"+pe.Attr.Attr, enterpriseURN) && pe.Filter == nil && pe.Attr.Sub == "" {
		// the extension's URN as the path: its attributes
		if verb == "remove" {
			delete(doc, enterpriseURN)
			return nil
		}
		obj, ok := value.(map[string]any)
		if !ok {
			return refuse("the extension takes an object")
		}
		for k, v := range obj {
			if err := applyPath(s, o, doc, verb, enterpriseURN+":"+k, v); err != nil {
				return err
			}
		}
		return nil
	}
	attrs, holder := s.core, doc
	if pe.Attr.URN != "" {
		switch {
		case strings.EqualFold(pe.Attr.URN, enterpriseURN):
			attrs = s.enterprise
			ext, _ := holder[enterpriseURN].(map[string]any)
			if ext == nil {
				ext = map[string]any{}
				holder[enterpriseURN] = ext
			}
			holder = ext
		case !strings.EqualFold(pe.Attr.URN, "urn:ietf:params:scim:schemas:core:2.0:User"):
			return refuse("schema %s", pe.Attr.URN)
		}
	}
	a, ok := attrs[strings.ToLower(pe.Attr.Attr)]
	if ea, isExt := s.enterprise[strings.ToLower(pe.Attr.Attr)]; !ok && isExt && pe.Attr.URN == "" {
		// the service's stated leniency: an enterprise attribute's bare
		// name, which no core attribute shares, reaches the extension
		a, ok = ea, true
		ext, _ := holder[enterpriseURN].(map[string]any)
		if ext == nil {
			ext = map[string]any{}
			holder[enterpriseURN] = ext
		}
		holder = ext
	}
	switch {
	case !ok:
		return refuse("no attribute %s", pe.Attr.Attr)
	case strings.EqualFold(a.name, "password"):
		return nil
	case a.readOnly || strings.EqualFold(a.name, "meta"):
		return refuse("mutability: %s", a.name)
	case verb != "remove" && value == nil:
		return refuse("%s needs a value", verb)
	}
	sub := pe.Attr.Sub
	if pe.Sub != "" {
		sub = pe.Sub
	}
	if a.multi {
		return applyMultiRef(o, holder, a, pe, sub, verb, value)
	}
	if pe.Filter != nil {
		return refuse("%s is not multi-valued", a.name)
	}
	if a.complex {
		cur, _ := holder[a.name].(map[string]any)
		if cur == nil {
			cur = map[string]any{}
		}
		if sub != "" {
			sa, ok := a.subs[strings.ToLower(sub)]
			if !ok {
				return refuse("no sub-attribute %s", sub)
			}
			if verb == "remove" {
				delete(cur, sa.name)
			} else {
				cur[sa.name] = value
			}
			holder[a.name] = cur
			return nil
		}
		if verb == "remove" {
			delete(holder, a.name)
			return nil
		}
		if id, ok := value.(string); ok && strings.EqualFold(a.name, "manager") {
			value = map[string]any{"value": id} // Entra's bare manager id
		}
		obj, ok := value.(map[string]any)
		if !ok {
			return refuse("%s takes an object", a.name)
		}
		for k, v := range obj { // merged: sub-attributes not given stay
			sa, ok := a.subs[strings.ToLower(k)]
			if !ok {
				return refuse("no sub-attribute %s.%s", a.name, k)
			}
			cur[sa.name] = v
		}
		holder[a.name] = cur
		return nil
	}
	if sub != "" {
		return refuse("%s has no sub-attributes", a.name)
	}
	if verb == "remove" {
		if strings.EqualFold(a.name, "userName") {
			return refuse("mutability: userName")
		}
		delete(holder, a.name)
		return nil
	}
	if strings.EqualFold(a.name, "active") {
		if s, ok := value.(string); ok {
			switch strings.ToLower(s) {
			case "true":
				value = true
			case "false":
				value = false
			}
		}
	}
	holder[a.name] = value
	return nil
}

// applyMultiRef applies an operation to a multi-valued attribute, keeping
// one primary.
func applyMultiRef(o oracle, holder map[string]any, a *patchAttr, pe filter.PathExpr, sub, verb string, value any) error {
	list, _ := holder[a.name].([]any)
	if sub == "" && verb != "remove" {
		// every element given carries declared sub-attributes only, named
		// as the schema names them
		for _, v := range append([]any{value}, valuesOf(value)...) {
			m, ok := v.(map[string]any)
			if !ok {
				continue
			}
			for k, x := range m {
				sa, ok := a.subs[strings.ToLower(k)]
				if !ok {
					return refuse("no sub-attribute %s.%s", a.name, k)
				}
				delete(m, k)
				m[sa.name] = boolText(sa.name, x)
			}
		}
	}
	var fresh []map[string]any // elements this operation wrote
	asList := func() []any {
		if l, ok := value.([]any); ok {
			return l
		}
		return []any{value}
	}
	if sub != "" {
		sa, ok := a.subs[strings.ToLower(sub)]
		if !ok {
			return refuse("no sub-attribute %s.%s", a.name, sub)
		}
		sub = sa.name
	}
	if pe.Filter != nil && !filterNamesSubs(pe.Filter, a) {
		return refuse("the value filter names an attribute the elements do not have")
	}
	switch {
	case pe.Filter == nil && sub == "":
		switch verb {
		case "remove":
			delete(holder, a.name)
			return nil
		case "replace":
			list = nil
		}
		for _, v := range asList() {
			m, ok := v.(map[string]any)
			if !ok {
				return refuse("%s takes objects", a.name)
			}
			list = append(list, m)
			fresh = append(fresh, m)
		}
	default:
		var selected []map[string]any
		for _, el := range elements(list) {
			if pe.Filter == nil || o.matchElement(pe.Filter, strings.ToLower(a.name), el) {
				selected = append(selected, el)
			}
		}
		if len(selected) == 0 && pe.Filter != nil && verb == "replace" {
			return refuse("noTarget")
		}
		switch {
		case verb == "remove" && sub == "":
			var kept []any
			for _, el := range elements(list) {
				if !containsMap(selected, el) {
					kept = append(kept, el)
				}
			}
			list = kept
		case verb == "remove":
			for _, el := range selected {
				delete(el, sub)
			}
		case sub == "":
			m, ok := value.(map[string]any)
			if !ok {
				return refuse("a filtered %s takes one object", verb)
			}
			if len(selected) == 0 {
				list = append(list, m)
				fresh = append(fresh, m)
			}
			for i, el := range elements(list) {
				if containsMap(selected, el) {
					c := deepCopy(m).(map[string]any)
					list[i] = c
					fresh = append(fresh, c)
				}
			}
		default:
			if len(selected) == 0 { // add creates the element the filter describes
				el := map[string]any{}
				for k, v := range filterEqualities(pe.Filter) {
					el[k] = v
				}
				list = append(list, el)
				selected = []map[string]any{el}
			}
			for _, el := range selected {
				el[sub] = boolText(sub, value)
				fresh = append(fresh, el)
			}
		}
	}
	// one primary (RFC 7643 2.4): a value this operation made primary takes
	// it from the others; two are refused
	var newPrimary []map[string]any
	for _, el := range fresh {
		if el["primary"] == true {
			newPrimary = append(newPrimary, el)
		}
	}
	if len(newPrimary) > 1 {
		return refuse("two primaries")
	}
	if len(newPrimary) == 1 {
		for _, el := range elements(list) {
			if !sameMap(el, newPrimary[0]) {
				delete(el, "primary")
			}
		}
	}
	holder[a.name] = list
	return nil
}

func filterEqualities(e filter.Expr) map[string]any {
	out := map[string]any{}
	var walk func(filter.Expr)
	walk = func(e filter.Expr) {
		switch x := e.(type) {
		case filter.And:
			walk(x.Left)
			walk(x.Right)
		case filter.Compare:
			if x.Op == "eq" && x.Value.Kind == filter.KindString {
				out[x.Path.Attr] = x.Value.Str
			} else if x.Op == "eq" && x.Value.Kind == filter.KindBool {
				out[x.Path.Attr] = x.Value.Bool
			}
		}
	}
	walk(e)
	return out
}

func containsMap(list []map[string]any, m map[string]any) bool {
	for _, x := range list {
		if sameMap(x, m) {
			return true
		}
	}
	return false
}

func sameMap(a, b map[string]any) bool {
	return reflect.ValueOf(a).Pointer() == reflect.ValueOf(b).Pointer()
}

func deepCopy(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// userDiff compares two users as SCIM renders them, without id, meta and
// schemas, and with what the server does not keep normalized away (empty
// strings, false primaries, empty lists and objects, the manager's $ref).
func userDiff(want, got map[string]any) string {
	w, g := normalizeUser(deepCopy(want)), normalizeUser(deepCopy(got))
	if reflect.DeepEqual(w, g) {
		return ""
	}
	wb, _ := json.Marshal(w)
	gb, _ := json.Marshal(g)
	return fmt.Sprintf("want %s\n got %s", wb, gb)
}

func normalizeUser(v any) any {
	m, _ := v.(map[string]any)
	for _, k := range []string{"id", "meta", "schemas"} {
		delete(m, k)
	}
	if ext, ok := m[enterpriseURN].(map[string]any); ok {
		if mgr, ok := ext["manager"].(map[string]any); ok {
			delete(mgr, "$ref")
		}
	}
	return prune(m)
}

// prune drops empty values, recursively; nil when nothing is left.
func prune(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, sub := range x {
			if p := prune(sub); p == nil || (k == "primary" && p == false) {
				delete(x, k)
			} else {
				x[k] = p
			}
		}
		if len(x) == 0 {
			return nil
		}
		return x
	case []any:
		var out []any
		for _, sub := range x {
			if p := prune(sub); p != nil {
				out = append(out, p)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case string:
		if x == "" {
			return nil
		}
	case nil:
		return nil
	}
	return v
}

func valuesOf(v any) []any {
	l, _ := v.([]any)
	return l
}

// boolText reads a primary given as "true" or "false" (in any case) as the
// boolean, as the service does (Entra sends booleans as strings).
func boolText(name string, v any) any {
	if s, ok := v.(string); ok && name == "primary" {
		switch strings.ToLower(s) {
		case "true":
			return true
		case "false":
			return false
		}
	}
	return v
}

// filterNamesSubs says whether every comparison of a value filter names a
// sub-attribute of a (without a schema URN).
func filterNamesSubs(e filter.Expr, a *patchAttr) bool {
	switch x := e.(type) {
	case filter.And:
		return filterNamesSubs(x.Left, a) && filterNamesSubs(x.Right, a)
	case filter.Or:
		return filterNamesSubs(x.Left, a) && filterNamesSubs(x.Right, a)
	case filter.Not:
		return filterNamesSubs(x.X, a)
	case filter.Compare:
		_, ok := a.subs[strings.ToLower(x.Path.String())]
		return ok && x.Path.URN == ""
	}
	return false
}
