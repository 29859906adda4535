package patch

import (
	"encoding/json"
	"strings"

	"github.com/acme/identity/gateway/scim/filter"
	"github.com/acme/identity/gateway/scim/resource"
)

// GroupAction is one change to a group, in request order. Membership
// changes are deltas (Add, Remove) or an explicit full replacement (Set);
// none needs the current member list.
type GroupAction struct {
	Kind GroupActionKind
	// IDs are the members to add, remove or set (Set with none empties the group).
	IDs []string
	// Value is the new display name or external id.
	Value string
}

// GroupActionKind says what a GroupAction does.
type GroupActionKind int

// The group actions.
const (
	AddMembers GroupActionKind = iota + 1
	RemoveMembers
	SetMembers
	Rename
	SetExternalID
)

// PlanGroup turns operations into group actions.
func PlanGroup(ops []Operation) ([]GroupAction, error) {
	var out []GroupAction
	for _, o := range ops {
		if err := readOnly(o); err != nil {
			return nil, err
		}
		parts := []Operation{o}
		if o.Path == nil {
			var err error
			if parts, err = split(o); err != nil {
				return nil, err
			}
		}
		for _, p := range parts {
			a, err := planGroup(p)
			if err != nil {
				return nil, err
			}
			out = append(out, a...)
		}
	}
	return out, nil
}

func planGroup(o Operation) ([]GroupAction, error) {
	p := o.Path
	if p.Attr.URN != "" && !strings.EqualFold(p.Attr.URN, resource.GroupSchema) {
		return nil, errorf("invalidPath", "Operations[%d]: schema %s is not supported", o.index, p.Attr.URN)
	}
	switch strings.ToLower(p.Attr.Attr) {
	case "displayname":
		if o.Op == "remove" {
			return nil, errorf("mutability", "Operations[%d]: displayName is required and cannot be removed", o.index)
		}
		var s string
		if err := json.Unmarshal(o.Value, &s); err != nil || s == "" {
			return nil, errorf("invalidValue", "Operations[%d]: displayName takes a non-empty string", o.index)
		}
		return []GroupAction{{Kind: Rename, Value: s}}, nil
	case "externalid":
		var s string
		if o.Op != "remove" {
			if err := json.Unmarshal(o.Value, &s); err != nil {
				return nil, errorf("invalidValue", "Operations[%d]: externalId takes a string", o.index)
			}
		}
		return []GroupAction{{Kind: SetExternalID, Value: s}}, nil
	case "id", "schemas", "meta":
		return nil, nil // Okta's rename form carries the id; read-only, ignored
	case "members":
		return planMembers(o)
	}
	return nil, errorf("invalidPath", "Operations[%d]: attribute %s is not supported on groups", o.index, p.Attr)
}

func planMembers(o Operation) ([]GroupAction, error) {
	p := o.Path
	if p.Attr.Sub != "" || p.Sub != "" {
		return nil, errorf("invalidPath", "Operations[%d]: members takes no sub-attribute path", o.index)
	}
	if p.Filter != nil {
		if o.Op != "remove" {
			return nil, errorf("invalidPath", "Operations[%d]: a members filter is only for remove", o.index)
		}
		ids, ok := memberIDs(p.Filter)
		if !ok {
			return nil, errorf("invalidFilter", `Operations[%d]: a members filter must be value eq "<id>" (joined by or)`, o.index)
		}
		return []GroupAction{{Kind: RemoveMembers, IDs: ids}}, nil
	}
	var ids []string
	if o.Value != nil {
		var members []resource.Member
		if err := json.Unmarshal(o.Value, &members); err != nil {
			var one resource.Member
			if err := json.Unmarshal(o.Value, &one); err != nil {
				return nil, errorf("invalidValue", "Operations[%d]: members takes [{\"value\": \"<id>\"}]", o.index)
			}
			members = []resource.Member{one}
		}
		for _, m := range members {
			if m.Value == "" {
				return nil, errorf("invalidValue", "Operations[%d]: a member without value", o.index)
			}
		}
		ids = resource.MemberIDs(members)
	}
	switch o.Op {
	case "add":
		if len(ids) == 0 {
			return nil, nil
		}
		return []GroupAction{{Kind: AddMembers, IDs: ids}}, nil
	case "replace":
		return []GroupAction{{Kind: SetMembers, IDs: ids}}, nil
	}
	// remove: with a value, exactly those members (Entra ID); without, all.
	if o.Value == nil {
		return []GroupAction{{Kind: SetMembers}}, nil
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return []GroupAction{{Kind: RemoveMembers, IDs: ids}}, nil
}

// memberIDs reads `value eq "a" or value eq "b"`.
func memberIDs(e filter.Expr) ([]string, bool) {
	switch x := e.(type) {
	case filter.Or:
		a, ok1 := memberIDs(x.Left)
		b, ok2 := memberIDs(x.Right)
		return append(a, b...), ok1 && ok2
	case filter.Compare:
		if x.Path.Is("value", "") && x.Op == "eq" && x.Value.Kind == filter.KindString {
			return []string{x.Value.Str}, true
		}
	}
	return nil, false
}
