package patch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/acme/identity/gateway/scim/filter"
	"github.com/acme/identity/gateway/scim/resource"
)

// MaxOperations bounds one request.
const MaxOperations = 1000

// Error is a PATCH request that cannot be applied; ScimType is the RFC 7644
// error type (invalidSyntax, invalidPath, invalidFilter, invalidValue,
// noTarget, mutability).
type Error struct {
	ScimType string
	Detail   string
}

func (e *Error) Error() string { return e.Detail }

func errorf(scimType, format string, args ...any) error {
	return &Error{ScimType: scimType, Detail: fmt.Sprintf(format, args...)}
}

// Operation is one decoded operation.
type Operation struct {
	Op    string // add, remove or replace
	Path  *filter.PathExpr
	Value json.RawMessage
	index int
}

type wireRequest struct {
	Schemas    []string `json:"schemas"`
	Operations []struct {
		Op    string          `json:"op"`
		Path  string          `json:"path"`
		Value json.RawMessage `json:"value"`
	} `json:"Operations"`
}

// Decode reads a PatchOp request body.
func Decode(body []byte) ([]Operation, error) {
	var req wireRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		return nil, errorf("invalidSyntax", "the body is not a PatchOp request: %v", err)
	}
	if !slices.ContainsFunc(req.Schemas, func(s string) bool { return strings.EqualFold(s, resource.PatchSchema) }) {
		return nil, errorf("invalidValue", "schemas must contain %s", resource.PatchSchema)
	}
	if len(req.Operations) == 0 || len(req.Operations) > MaxOperations {
		return nil, errorf("invalidValue", "a PatchOp request carries 1 to %d Operations", MaxOperations)
	}
	out := make([]Operation, 0, len(req.Operations))
	for i, o := range req.Operations {
		op := strings.ToLower(o.Op)
		if op != "add" && op != "remove" && op != "replace" {
			return nil, errorf("invalidValue", "Operations[%d]: op %q is not add, remove or replace", i, o.Op)
		}
		var path *filter.PathExpr
		if o.Path != "" {
			p, err := filter.ParsePath(o.Path)
			if err != nil {
				return nil, errorf("invalidPath", "Operations[%d]: path %q: %v", i, o.Path, err)
			}
			path = &p
		}
		value := o.Value
		if string(value) == "null" {
			value = nil
		}
		switch {
		case op == "remove" && path == nil:
			return nil, errorf("noTarget", "Operations[%d]: remove needs a path", i)
		case op != "remove" && value == nil:
			return nil, errorf("invalidValue", "Operations[%d]: %s needs a value", i, op)
		case op != "remove" && path == nil && !isObject(value):
			return nil, errorf("invalidValue", "Operations[%d]: %s without a path needs an object value", i, op)
		}
		out = append(out, Operation{Op: op, Path: path, Value: value, index: i})
	}
	return out, nil
}

func isObject(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && v[0] == '{'
}

// split turns a path-less operation into one operation per key of its value.
// Keys may be attribute names, dotted sub-attributes ("name.givenName"), a
// schema URN whose value is an object of that schema's attributes, or
// URN-prefixed attributes ("urn:...:enterprise:2.0:User:employeeNumber").
func split(o Operation) ([]Operation, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(o.Value, &fields); err != nil {
		return nil, errorf("invalidValue", "Operations[%d]: %v", o.index, err)
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys) // a stable order, for repeatable results
	var out []Operation
	for _, k := range keys {
		v := fields[k]
		if strings.EqualFold(k, resource.EnterpriseSchema) || strings.EqualFold(k, resource.UserSchema) {
			sub, err := split(Operation{Op: o.Op, Value: v, index: o.index})
			if err != nil {
				return nil, err
			}
			for i := range sub {
				sub[i].Path.Attr.URN = k
			}
			out = append(out, sub...)
			continue
		}
		p, err := filter.ParsePath(k)
		if err != nil {
			return nil, errorf("invalidPath", "Operations[%d]: attribute %q: %v", o.index, k, err)
		}
		out = append(out, Operation{Op: o.Op, Path: &p, Value: v, index: o.index})
	}
	return out, nil
}

// readOnly refuses an operation whose path names a read-only attribute (id,
// meta, and a user's groups: RFC 7643 mutability readOnly) with scimType
// mutability (RFC 7644 3.5.2). Inside a value without a path they are
// tolerated and ignored: Okta's group rename sends the group's id there.
func readOnly(o Operation) error {
	if o.Path == nil {
		return nil
	}
	switch strings.ToLower(o.Path.Attr.Attr) {
	case "id", "meta", "groups", "schemas":
		return errorf("mutability", "Operations[%d]: %s is read-only", o.index, o.Path.Attr.Attr)
	}
	return nil
}
