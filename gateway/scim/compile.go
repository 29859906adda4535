package scim

import (
	"net/http"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/acme/identity/gateway/scim/filter"
	"github.com/acme/identity/gateway/scim/resource"
	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// A SCIM filter is compiled into the API's FilterExpression through a
// whitelist of attributes, so it runs in the database; an attribute outside
// the whitelist is refused (invalidFilter), never silently ignored.

type valueKind int

const (
	valString valueKind = iota
	valBool
	valTime
)

type target struct {
	attr string // the API's attribute name
	kind valueKind
}

type multiTarget struct {
	attr string
	subs map[string]target // sub-attribute (lower case) -> element attribute
	// bare is the sub-attribute a comparison on the attribute itself means
	// (RFC 7644: "emails co x" compares the emails' value).
	bare string
}

type whitelist struct {
	schema string
	// extension is the schema URN whose attributes are keyed
	// "urn:...:attr" (lower case) in attrs.
	extension string
	attrs     map[string]target
	multis    map[string]multiTarget
}

// plain is the sub-attributes of ims, photos, entitlements, roles and
// x509Certificates (RFC 7643 4.1.2).
func plain(attr string) multiTarget {
	return multiTarget{attr: attr, bare: "value", subs: map[string]target{
		"value": {"value", valString}, "display": {"display", valString}, "type": {"type", valString}, "primary": {"primary", valBool},
	}}
}

// enterpriseKey is the whitelist key of an enterprise extension attribute.
func enterpriseKey(attr string) string {
	return strings.ToLower(resource.EnterpriseSchema + ":" + attr)
}

var userWhitelist = whitelist{
	schema:    resource.UserSchema,
	extension: resource.EnterpriseSchema,
	attrs: map[string]target{
		"id":                            {"id", valString},
		"username":                      {"user_name", valString},
		"externalid":                    {"external_id", valString},
		"displayname":                   {"display_name", valString},
		"name.givenname":                {"name.given_name", valString},
		"name.familyname":               {"name.family_name", valString},
		"name.formatted":                {"name.formatted", valString},
		"name.middlename":               {"name.middle_name", valString},
		"name.honorificprefix":          {"name.honorific_prefix", valString},
		"name.honorificsuffix":          {"name.honorific_suffix", valString},
		"active":                        {"active", valBool},
		"nickname":                      {"nick_name", valString},
		"profileurl":                    {"profile_url", valString},
		"title":                         {"title", valString},
		"usertype":                      {"user_type", valString},
		"preferredlanguage":             {"preferred_language", valString},
		"locale":                        {"locale", valString},
		"timezone":                      {"timezone", valString},
		enterpriseKey("employeeNumber"): {"enterprise.employee_number", valString},
		enterpriseKey("costCenter"):     {"enterprise.cost_center", valString},
		enterpriseKey("organization"):   {"enterprise.organization", valString},
		enterpriseKey("division"):       {"enterprise.division", valString},
		enterpriseKey("department"):     {"enterprise.department", valString},
		enterpriseKey("manager.value"):  {"enterprise.manager_id", valString},
		"meta.created":                  {"create_time", valTime},
		"meta.lastmodified":             {"update_time", valTime},
	},
	multis: map[string]multiTarget{
		"emails": {attr: "emails", bare: "value", subs: map[string]target{
			"value": {"value", valString}, "type": {"type", valString}, "primary": {"primary", valBool},
		}},
		"phonenumbers": {attr: "phone_numbers", bare: "value", subs: map[string]target{
			"value": {"value", valString}, "type": {"type", valString}, "primary": {"primary", valBool},
		}},
		"addresses": {attr: "addresses", subs: map[string]target{
			"formatted": {"formatted", valString}, "streetaddress": {"street_address", valString},
			"locality": {"locality", valString}, "region": {"region", valString},
			"postalcode": {"postal_code", valString}, "country": {"country", valString},
			"type": {"type", valString}, "primary": {"primary", valBool},
		}},
		"ims":              plain("ims"),
		"photos":           plain("photos"),
		"entitlements":     plain("entitlements"),
		"roles":            plain("roles"),
		"x509certificates": plain("x509_certificates"),
	},
}

var groupWhitelist = whitelist{
	schema: resource.GroupSchema,
	attrs: map[string]target{
		"id":                {"id", valString},
		"displayname":       {"display_name", valString},
		"externalid":        {"external_id", valString},
		"meta.created":      {"create_time", valTime},
		"meta.lastmodified": {"update_time", valTime},
	},
	multis: map[string]multiTarget{
		"members": {attr: "members", bare: "value", subs: map[string]target{"value": {"value", valString}}},
	},
}

var operators = map[string]identityv1.FilterOperator{
	"eq": identityv1.FilterOperator_FILTER_OPERATOR_EQ, "ne": identityv1.FilterOperator_FILTER_OPERATOR_NE,
	"co": identityv1.FilterOperator_FILTER_OPERATOR_CO, "sw": identityv1.FilterOperator_FILTER_OPERATOR_SW,
	"ew": identityv1.FilterOperator_FILTER_OPERATOR_EW, "pr": identityv1.FilterOperator_FILTER_OPERATOR_PR,
	"gt": identityv1.FilterOperator_FILTER_OPERATOR_GT, "ge": identityv1.FilterOperator_FILTER_OPERATOR_GE,
	"lt": identityv1.FilterOperator_FILTER_OPERATOR_LT, "le": identityv1.FilterOperator_FILTER_OPERATOR_LE,
}

// single finds a single-valued attribute, of the resource's own schema or,
// by its URN, of its extension.
func (wl whitelist) single(p filter.Path) (target, bool) {
	key := strings.ToLower(p.String())
	if p.URN != "" && !strings.EqualFold(p.URN, wl.schema) {
		key = strings.ToLower(p.URN) + ":" + key
	}
	t, ok := wl.attrs[key]
	return t, ok
}

// compileSort maps sortBy (RFC 7644 3.4.2.3) onto the API's order: any
// single-valued attribute a filter can name.
func compileSort(sortBy string, descending bool, wl whitelist) (*identityv1.SortOrder, error) {
	p, err := filter.ParsePath(sortBy)
	if err == nil && p.Filter == nil && p.Sub == "" {
		if t, ok := wl.single(p.Attr); ok {
			return &identityv1.SortOrder{Attribute: t.attr, Descending: descending}, nil
		}
	}
	return nil, errorf(http.StatusBadRequest, "invalidValue", "sortBy %q is not a single-valued attribute this service sorts by", sortBy)
}

// maxNodes is the API's limit on an expression's nodes.
const maxNodes = 256

// compileFilter parses and compiles a filter parameter.
func compileFilter(s string, wl whitelist) (*identityv1.FilterExpression, error) {
	e, err := filter.Parse(s)
	if err != nil {
		return nil, err
	}
	b := &builder{wl: wl}
	if _, err := b.expr(e, nil); err != nil {
		return nil, err
	}
	if len(b.nodes) > maxNodes {
		return nil, errorf(http.StatusBadRequest, "invalidFilter", "the filter has more than %d terms", maxNodes)
	}
	return &identityv1.FilterExpression{Nodes: b.nodes}, nil
}

type builder struct {
	wl    whitelist
	nodes []*identityv1.FilterNode
}

func badFilter(format string, args ...any) error {
	return errorf(http.StatusBadRequest, "invalidFilter", format, args...)
}

// expr appends e and returns its index; operands always come after their
// node. inside is the multi-valued attribute of an enclosing value filter.
func (b *builder) expr(e filter.Expr, inside *multiTarget) (int32, error) {
	i := int32(len(b.nodes))
	b.nodes = append(b.nodes, nil)
	if len(b.nodes) > maxNodes {
		return 0, badFilter("the filter has more than %d terms", maxNodes)
	}
	switch x := e.(type) {
	case filter.And, filter.Or:
		var l, r filter.Expr
		if a, ok := x.(filter.And); ok {
			l, r = a.Left, a.Right
		} else {
			o := x.(filter.Or)
			l, r = o.Left, o.Right
		}
		li, err := b.expr(l, inside)
		if err != nil {
			return 0, err
		}
		ri, err := b.expr(r, inside)
		if err != nil {
			return 0, err
		}
		ops := &identityv1.FilterOperands{Operands: []int32{li, ri}}
		if _, ok := x.(filter.And); ok {
			b.nodes[i] = &identityv1.FilterNode{Node: &identityv1.FilterNode_All{All: ops}}
		} else {
			b.nodes[i] = &identityv1.FilterNode{Node: &identityv1.FilterNode_Any{Any: ops}}
		}
	case filter.Not:
		j, err := b.expr(x.X, inside)
		if err != nil {
			return 0, err
		}
		b.nodes[i] = &identityv1.FilterNode{Node: &identityv1.FilterNode_Not{Not: j}}
	case filter.ValuePath:
		if inside != nil {
			return 0, badFilter("value filters do not nest")
		}
		m, ok := b.multi(x.Attr)
		if !ok || x.Attr.Sub != "" {
			return 0, badFilter("%s is not a multi-valued attribute that can be filtered", x.Attr)
		}
		j, err := b.expr(x.Filter, &m)
		if err != nil {
			return 0, err
		}
		b.nodes[i] = element(m.attr, j)
	case filter.Compare:
		n, err := b.compare(x, inside)
		if err != nil {
			return 0, err
		}
		if n.element != nil {
			// a comparison on a multi-valued attribute: its element node follows
			j := int32(len(b.nodes))
			b.nodes = append(b.nodes, n.element)
			b.nodes[i] = element(n.attr, j)
		} else {
			b.nodes[i] = n.node
		}
	default:
		return 0, badFilter("unsupported expression")
	}
	return i, nil
}

func element(attr string, j int32) *identityv1.FilterNode {
	return &identityv1.FilterNode{Node: &identityv1.FilterNode_Condition{Condition: &identityv1.FilterCondition{
		Attribute: attr, Operator: identityv1.FilterOperator_FILTER_OPERATOR_PR, Element: j,
	}}}
}

// strip checks a path's schema: the resource's own, or its extension's
// (whose attributes are single-valued, so never a multi).
func (b *builder) strip(p filter.Path) (filter.Path, bool) {
	if p.URN != "" && !strings.EqualFold(p.URN, b.wl.schema) && (b.wl.extension == "" || !strings.EqualFold(p.URN, b.wl.extension)) {
		return p, false
	}
	return p, true
}

// multi finds a multi-valued attribute of the resource's own schema.
func (b *builder) multi(p filter.Path) (multiTarget, bool) {
	if p.URN != "" && !strings.EqualFold(p.URN, b.wl.schema) {
		return multiTarget{}, false
	}
	m, ok := b.wl.multis[strings.ToLower(p.Attr)]
	return m, ok
}

type compiled struct {
	node    *identityv1.FilterNode
	attr    string
	element *identityv1.FilterNode
}

func (b *builder) compare(c filter.Compare, inside *multiTarget) (compiled, error) {
	p, ok := b.strip(c.Path)
	if !ok {
		return compiled{}, badFilter("attribute %s:%s cannot be filtered on", c.Path.URN, c.Path)
	}
	if inside != nil {
		t, ok := inside.subs[strings.ToLower(p.String())]
		if !ok {
			return compiled{}, badFilter("%s.%s cannot be filtered on", inside.attr, p)
		}
		n, err := condition(t, c)
		return compiled{node: n}, err
	}
	if m, ok := b.multi(p); ok {
		sub := p.Sub
		if sub == "" {
			sub = m.bare
		}
		t, ok := m.subs[strings.ToLower(sub)]
		if !ok {
			return compiled{}, badFilter("%s.%s cannot be filtered on", p.Attr, sub)
		}
		n, err := condition(t, c)
		return compiled{attr: m.attr, element: n}, err
	}
	t, ok := b.wl.single(p)
	if !ok {
		return compiled{}, badFilter("attribute %s cannot be filtered on", p)
	}
	n, err := condition(t, c)
	return compiled{node: n}, err
}

func condition(t target, c filter.Compare) (*identityv1.FilterNode, error) {
	cond := &identityv1.FilterCondition{Attribute: t.attr, Operator: operators[c.Op]}
	if c.Op != "pr" {
		switch t.kind {
		case valBool:
			switch {
			case c.Value.Kind == filter.KindBool:
				cond.Value = &identityv1.FilterCondition_BoolValue{BoolValue: c.Value.Bool}
			case c.Value.Kind == filter.KindString && strings.EqualFold(c.Value.Str, "true"):
				cond.Value = &identityv1.FilterCondition_BoolValue{BoolValue: true}
			case c.Value.Kind == filter.KindString && strings.EqualFold(c.Value.Str, "false"):
				cond.Value = &identityv1.FilterCondition_BoolValue{BoolValue: false}
			default:
				return nil, badFilter("%s takes true or false", c.Path)
			}
		case valTime:
			ts, err := time.Parse(time.RFC3339Nano, c.Value.Str)
			if c.Value.Kind != filter.KindString || err != nil {
				return nil, badFilter("%s takes a date-time such as \"2024-01-31T12:00:00Z\"", c.Path)
			}
			cond.Value = &identityv1.FilterCondition_TimeValue{TimeValue: timestamppb.New(ts)}
		default:
			if c.Value.Kind != filter.KindString {
				return nil, badFilter("%s takes a quoted string", c.Path)
			}
			cond.Value = &identityv1.FilterCondition_StringValue{StringValue: c.Value.Str}
		}
	}
	return &identityv1.FilterNode{Node: &identityv1.FilterNode_Condition{Condition: cond}}, nil
}
