package scim

import (
	"encoding/json"
	"strings"

	"github.com/acme/identity/gateway/scim/resource"
)

// project applies attributes / excludedAttributes (RFC 7644 section 3.9) to a
// resource. id, schemas and meta are always returned. Names compare without
// regard to case and may carry the core schema URN; enterprise attributes
// are named with their URN.
func project(v any, attributes, excluded []string) any {
	if len(attributes) == 0 && len(excluded) == 0 {
		return v
	}
	b, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	if len(attributes) > 0 {
		keep := map[string]any{}
		for _, k := range []string{"id", "schemas", "meta"} {
			if x, ok := m[k]; ok {
				keep[k] = x
			}
		}
		for _, a := range attributes {
			copyPath(keep, m, a)
		}
		return keep
	}
	for _, a := range excluded {
		top, sub := splitAttr(a)
		key := findKey(m, top)
		if key == "" || key == "id" || key == "schemas" {
			continue
		}
		if sub == "" {
			delete(m, key)
		} else if inner, ok := m[key].(map[string]any); ok {
			if k := findKey(inner, sub); k != "" {
				delete(inner, k)
			}
		}
	}
	return m
}

// splitAttr splits "name.givenName" or "urn:...:User:name.givenName" into
// the top-level key and the sub-attribute; an enterprise attribute becomes
// (enterprise URN, attribute).
func splitAttr(a string) (string, string) {
	lower := strings.ToLower(a)
	if rest, ok := strings.CutPrefix(lower, strings.ToLower(resource.EnterpriseSchema)+":"); ok {
		return resource.EnterpriseSchema, a[len(a)-len(rest):]
	}
	if strings.EqualFold(a, resource.EnterpriseSchema) {
		return resource.EnterpriseSchema, ""
	}
	if _, ok := strings.CutPrefix(lower, strings.ToLower(resource.UserSchema)+":"); ok {
		a = a[len(resource.UserSchema)+1:]
	} else if _, ok := strings.CutPrefix(lower, strings.ToLower(resource.GroupSchema)+":"); ok {
		a = a[len(resource.GroupSchema)+1:]
	}
	top, sub, _ := strings.Cut(a, ".")
	return top, sub
}

func findKey(m map[string]any, name string) string {
	for k := range m {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	return ""
}

func copyPath(dst, src map[string]any, a string) {
	top, sub := splitAttr(a)
	key := findKey(src, top)
	if key == "" {
		return
	}
	if sub == "" {
		dst[key] = src[key]
		return
	}
	inner, ok := src[key].(map[string]any)
	if !ok {
		dst[key] = src[key] // a multi-valued attribute: keep it whole
		return
	}
	k := findKey(inner, sub)
	if k == "" {
		return
	}
	out, _ := dst[key].(map[string]any)
	if out == nil {
		out = map[string]any{}
		dst[key] = out
	}
	out[k] = inner[k]
}

// onRequest is the attributes returned only when attributes names them.
var onRequest = map[string]bool{"groups": true}

// wants says whether an attribute is returned under the projection.
//
// An attribute returned only on request (RFC 7643 7 "returned": "request":
// a user's groups, which cost a query per user) is wanted only when
// attributes names it.
func wants(attributes, excluded []string, name string) bool {
	for _, a := range excluded {
		if top, _ := splitAttr(a); strings.EqualFold(top, name) {
			return false
		}
	}
	if len(attributes) == 0 {
		return !onRequest[strings.ToLower(name)]
	}
	for _, a := range attributes {
		if top, _ := splitAttr(a); strings.EqualFold(top, name) {
			return true
		}
	}
	return false
}
