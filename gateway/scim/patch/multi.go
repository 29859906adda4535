package patch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/acme/identity/gateway/scim/filter"
	"github.com/acme/identity/gateway/scim/resource"
)

// attrsOf reads the sub-attributes of a multi-valued element for filters.
type attrsOf[T any] func(T) map[string]any

// setter sets a sub-attribute of an element from a JSON value.
type setter[T any] func(e *T, sub string, v json.RawMessage) error

func emailAttrs(e resource.Email) map[string]any {
	return map[string]any{"value": e.Value, "type": e.Type, "primary": bool(e.Primary), "display": e.Display}
}

func phoneAttrs(p resource.Phone) map[string]any {
	return map[string]any{"value": p.Value, "type": p.Type, "primary": bool(p.Primary), "display": p.Display}
}

func addressAttrs(a resource.Address) map[string]any {
	return map[string]any{
		"type": a.Type, "formatted": a.Formatted, "streetaddress": a.StreetAddress, "locality": a.Locality,
		"region": a.Region, "postalcode": a.PostalCode, "country": a.Country, "primary": bool(a.Primary),
	}
}

func multiAttrs(m resource.MultiValue) map[string]any {
	return map[string]any{"value": m.Value, "display": m.Display, "type": m.Type, "primary": bool(m.Primary)}
}

// exact is a caseExact string (RFC 7643 2.2): a value filter compares it
// with regard to case.
type exact string

// exactValueAttrs are the attributes of a photos or x509Certificates
// element, whose value is caseExact (a reference, a certificate).
func exactValueAttrs(m resource.MultiValue) map[string]any {
	attrs := multiAttrs(m)
	attrs["value"] = exact(m.Value)
	return attrs
}

func setMulti(m *resource.MultiValue, sub string, v json.RawMessage) error {
	switch sub {
	case "value":
		return setString(&m.Value, v)
	case "display":
		return setString(&m.Display, v)
	case "type":
		return setString(&m.Type, v)
	case "primary":
		return setBool(&m.Primary, v)
	}
	return errorf("invalidPath", "%s is not a sub-attribute", sub)
}

func setString(dst *string, v json.RawMessage) error { return json.Unmarshal(v, dst) }

func setBool(dst *resource.Bool, v json.RawMessage) error { return json.Unmarshal(v, dst) }

func setEmail(e *resource.Email, sub string, v json.RawMessage) error {
	switch sub {
	case "value":
		return setString(&e.Value, v)
	case "type":
		return setString(&e.Type, v)
	case "primary":
		return setBool(&e.Primary, v)
	case "display":
		return setString(&e.Display, v)
	}
	return errorf("invalidPath", "emails.%s is not supported", sub)
}

func setPhone(p *resource.Phone, sub string, v json.RawMessage) error {
	switch sub {
	case "value":
		return setString(&p.Value, v)
	case "type":
		return setString(&p.Type, v)
	case "primary":
		return setBool(&p.Primary, v)
	case "display":
		return setString(&p.Display, v)
	}
	return errorf("invalidPath", "phoneNumbers.%s is not supported", sub)
}

func setAddress(a *resource.Address, sub string, v json.RawMessage) error {
	switch sub {
	case "type":
		return setString(&a.Type, v)
	case "formatted":
		return setString(&a.Formatted, v)
	case "streetaddress":
		return setString(&a.StreetAddress, v)
	case "locality":
		return setString(&a.Locality, v)
	case "region":
		return setString(&a.Region, v)
	case "postalcode":
		return setString(&a.PostalCode, v)
	case "country":
		return setString(&a.Country, v)
	case "primary":
		return setBool(&a.Primary, v)
	}
	return errorf("invalidPath", "addresses.%s is not supported", sub)
}

// applyMulti applies an operation to a multi-valued attribute: the whole
// list, the elements a value filter selects, or a sub-attribute of those.
func applyMulti[T any](list *[]T, o Operation, attrs attrsOf[T], set setter[T]) error {
	p := o.Path
	sub := strings.ToLower(p.Sub)
	if sub == "" {
		sub = strings.ToLower(p.Attr.Sub) // emails.value without a filter
	}
	// The filter and the sub-attribute must name sub-attributes of the
	// elements, whether or not any element is selected.
	var zero T
	known := attrs(zero)
	if p.Filter != nil {
		if err := checkFilterAttrs(p.Filter, known); err != nil {
			return errorf("invalidFilter", "Operations[%d]: %s: %v", o.index, p.Attr, err)
		}
	}
	if _, ok := known[sub]; sub != "" && !ok {
		return errorf("invalidPath", "Operations[%d]: %s has no sub-attribute %s", o.index, p.Attr, sub)
	}
	if p.Filter == nil && sub == "" {
		switch o.Op {
		case "remove":
			*list = nil
			return nil
		case "replace":
			*list = nil
		}
		vals, err := decodeList[T](o)
		if err != nil {
			return err
		}
		*list = append(*list, vals...)
		return nil
	}
	var selected []int
	for i, e := range *list {
		if p.Filter == nil || matches(p.Filter, attrs(e)) {
			selected = append(selected, i)
		}
	}
	if len(selected) == 0 && p.Filter != nil && o.Op == "replace" {
		// RFC 7644 3.5.2.3: a value filter that matches no record is a
		// failure; add through such a filter creates the element instead.
		return errorf("noTarget", "Operations[%d]: no value of %s matches the filter", o.index, p.Attr)
	}
	switch {
	case o.Op == "remove" && sub == "":
		kept := (*list)[:0]
		for i, e := range *list {
			if !containsInt(selected, i) {
				kept = append(kept, e)
			}
		}
		*list = kept
		return nil
	case o.Op == "remove":
		// Removing a sub-attribute leaves its zero: no text, not primary.
		zero := json.RawMessage(`""`)
		if sub == "primary" {
			zero = json.RawMessage(`false`)
		}
		for _, i := range selected {
			if err := set(&(*list)[i], sub, zero); err != nil {
				return errorf("invalidPath", "Operations[%d]: %v", o.index, err)
			}
		}
		return nil
	case sub == "":
		// replace or add of whole elements selected by a filter
		vals, err := decodeList[T](o)
		if err != nil || len(vals) != 1 {
			return errorf("invalidValue", "Operations[%d]: a filtered %s takes one element", o.index, o.Op)
		}
		if len(selected) == 0 {
			*list = append(*list, vals[0])
		}
		for _, i := range selected {
			(*list)[i] = vals[0]
		}
		return nil
	}
	// A sub-attribute of the selected elements. When an add selects none,
	// the element is created with the attributes the filter names by
	// equality (Entra ID's `emails[type eq "work"].value` on a user without
	// one).
	if len(selected) == 0 {
		var e T
		for k, v := range equalities(p.Filter) {
			raw, _ := json.Marshal(v)
			if err := set(&e, strings.ToLower(k), raw); err != nil {
				return errorf("invalidFilter", "Operations[%d]: %v", o.index, err)
			}
		}
		*list = append(*list, e)
		selected = []int{len(*list) - 1}
	}
	for _, i := range selected {
		if err := set(&(*list)[i], sub, o.Value); err != nil {
			return errorf("invalidValue", "Operations[%d]: %v", o.index, err)
		}
	}
	return nil
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// decodeList accepts an array of elements or a single element.
func decodeList[T any](o Operation) ([]T, error) {
	var list []T
	if err := strictUnmarshal(o.Value, &list); err == nil {
		return list, nil
	}
	var one T
	if err := strictUnmarshal(o.Value, &one); err != nil {
		return nil, errorf("invalidValue", "Operations[%d]: value of %s: %v", o.index, o.Path.Attr, err)
	}
	return []T{one}, nil
}

// strictUnmarshal decodes a value refusing sub-attributes the schema does
// not declare, as POST and PUT refuse them, instead of dropping them.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("more than one JSON value")
	}
	return nil
}

// matches evaluates a value filter against one element's attributes, as
// a filter on the attribute would (compile.go): strings compare without
// regard to case unless caseExact (exact), booleans also as "true" and
// "false".
func matches(e filter.Expr, attrs map[string]any) bool {
	switch x := e.(type) {
	case filter.And:
		return matches(x.Left, attrs) && matches(x.Right, attrs)
	case filter.Or:
		return matches(x.Left, attrs) || matches(x.Right, attrs)
	case filter.Not:
		return !matches(x.X, attrs)
	case filter.Compare:
		v, ok := attrs[strings.ToLower(x.Path.Attr)]
		if !ok {
			return false
		}
		a, b := "", x.Value.Str
		switch v := v.(type) {
		case bool:
			want, ok := x.Value.Bool, x.Value.Kind == filter.KindBool
			if x.Value.Kind == filter.KindString && (strings.EqualFold(b, "true") || strings.EqualFold(b, "false")) {
				want, ok = strings.EqualFold(b, "true"), true
			}
			switch x.Op {
			case "pr":
				return v // a false primary is not kept, as a filter sees it
			case "eq":
				return ok && want == v
			case "ne":
				return ok && want != v
			}
			return false
		case exact:
			a = string(v)
		case string:
			a, b = strings.ToLower(v), strings.ToLower(b)
		}
		if x.Value.Kind != filter.KindString && x.Op != "pr" {
			return false
		}
		switch x.Op {
		case "pr":
			return a != ""
		case "eq":
			return a == b
		case "ne":
			return a != b
		case "co":
			return strings.Contains(a, b)
		case "sw":
			return strings.HasPrefix(a, b)
		case "ew":
			return strings.HasSuffix(a, b)
		case "gt":
			return a > b
		case "ge":
			return a >= b
		case "lt":
			return a < b
		case "le":
			return a <= b
		}
	}
	return false
}

// checkFilterAttrs refuses a value filter naming an attribute the elements
// do not have: it would match nothing, silently.
func checkFilterAttrs(e filter.Expr, known map[string]any) error {
	switch x := e.(type) {
	case filter.And:
		if err := checkFilterAttrs(x.Left, known); err != nil {
			return err
		}
		return checkFilterAttrs(x.Right, known)
	case filter.Or:
		if err := checkFilterAttrs(x.Left, known); err != nil {
			return err
		}
		return checkFilterAttrs(x.Right, known)
	case filter.Not:
		return checkFilterAttrs(x.X, known)
	case filter.Compare:
		if _, ok := known[strings.ToLower(x.Path.String())]; !ok || x.Path.URN != "" {
			return fmt.Errorf("the elements have no attribute %s", x.Path)
		}
		return nil
	}
	return fmt.Errorf("value filters do not nest")
}

// equalities collects the attr eq "value" comparisons joined by and.
func equalities(e filter.Expr) map[string]any {
	out := map[string]any{}
	var walk func(filter.Expr)
	walk = func(e filter.Expr) {
		switch x := e.(type) {
		case filter.And:
			walk(x.Left)
			walk(x.Right)
		case filter.Compare:
			if x.Op == "eq" {
				switch x.Value.Kind {
				case filter.KindString:
					out[x.Path.Attr] = x.Value.Str
				case filter.KindBool:
					out[x.Path.Attr] = x.Value.Bool
				}
			}
		}
	}
	walk(e)
	return out
}

// keepOnePrimary runs apply on a multi-valued attribute and keeps RFC 7643
// 2.4: at most one element is primary. An element this operation made
// primary (or changed while primary) takes it from the others; an operation
// that makes two primary is refused.
func keepOnePrimary[T any](name string, list *[]T, primary func(*T) *resource.Bool, apply func() error) error {
	key := func(e T) string { b, _ := json.Marshal(e); return string(b) }
	before := map[string]bool{}
	for i := range *list {
		if *primary(&(*list)[i]) {
			before[key((*list)[i])] = true
		}
	}
	if err := apply(); err != nil {
		return err
	}
	var fresh, old []int
	for i := range *list {
		if !*primary(&(*list)[i]) {
			continue
		}
		if before[key((*list)[i])] {
			old = append(old, i)
		} else {
			fresh = append(fresh, i)
		}
	}
	switch {
	case len(fresh) > 1:
		return errorf("invalidValue", "at most one of %s may be primary", name)
	case len(fresh) == 1:
		for _, i := range old {
			*primary(&(*list)[i]) = false
		}
	}
	return nil
}
