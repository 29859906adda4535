package filter

import (
	"entgo.io/ent/dialect/sql"
	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// The typed filter fields of list requests (UserFilter, GroupFilter,
// RoleFilter, TenantFilter) are conditions on attributes of the tables in
// attributes.go. They become a FilterExpression, the conjunction of the
// fields set, and go through Compile like any expression, so an attribute
// compares the same whichever way it is asked for.

// conj builds the conjunction: node 0 is the root, conditions follow it.
type conj struct {
	nodes []*identityv1.FilterNode
	terms []int32
}

func newConj() *conj {
	return &conj{nodes: []*identityv1.FilterNode{nil}}
}

func (c *conj) node(n *identityv1.FilterNode) int32 {
	c.nodes = append(c.nodes, n)
	return int32(len(c.nodes) - 1)
}

func conditionNode(attr string, op identityv1.FilterOperator, v any) *identityv1.FilterNode {
	cond := &identityv1.FilterCondition{Attribute: attr, Operator: op}
	switch v := v.(type) {
	case string:
		cond.Value = &identityv1.FilterCondition_StringValue{StringValue: v}
	case bool:
		cond.Value = &identityv1.FilterCondition_BoolValue{BoolValue: v}
	case *timestamppb.Timestamp:
		cond.Value = &identityv1.FilterCondition_TimeValue{TimeValue: v}
	}
	return &identityv1.FilterNode{Node: &identityv1.FilterNode_Condition{Condition: cond}}
}

// term adds a condition on a single-valued attribute.
func (c *conj) term(attr string, op identityv1.FilterOperator, v any) {
	c.terms = append(c.terms, c.node(conditionNode(attr, op, v)))
}

// str adds a StringFilter on attr: equals is EQ, starts_with SW, present PR
// or its negation.
func (c *conj) str(attr string, f *identityv1.StringFilter) {
	switch v := f.GetCondition().(type) {
	case *identityv1.StringFilter_Equals:
		c.term(attr, identityv1.FilterOperator_FILTER_OPERATOR_EQ, v.Equals)
	case *identityv1.StringFilter_StartsWith:
		c.term(attr, identityv1.FilterOperator_FILTER_OPERATOR_SW, v.StartsWith)
	case *identityv1.StringFilter_Present:
		c.present(attr, v.Present)
	}
}

// present adds "attr has a value", or its negation (operands come after
// their node).
func (c *conj) present(attr string, present bool) {
	term := int32(len(c.nodes))
	if !present {
		c.node(&identityv1.FilterNode{Node: &identityv1.FilterNode_Not{Not: term + 1}})
	}
	c.node(conditionNode(attr, identityv1.FilterOperator_FILTER_OPERATOR_PR, nil))
	c.terms = append(c.terms, term)
}

// element adds a condition on the values of a multi-valued attribute: some
// value's sub matches.
func (c *conj) element(attr, sub string, op identityv1.FilterOperator, v any) {
	cond := conditionNode(attr, identityv1.FilterOperator_FILTER_OPERATOR_PR, nil)
	c.terms = append(c.terms, c.node(cond))
	cond.GetCondition().Element = c.node(conditionNode(sub, op, v))
}

// multiStr adds a StringFilter on the sub-attribute of a multi-valued
// attribute; present means "has a value".
func (c *conj) multiStr(attr, sub string, f *identityv1.StringFilter) {
	switch v := f.GetCondition().(type) {
	case *identityv1.StringFilter_Equals:
		c.element(attr, sub, identityv1.FilterOperator_FILTER_OPERATOR_EQ, v.Equals)
	case *identityv1.StringFilter_StartsWith:
		c.element(attr, sub, identityv1.FilterOperator_FILTER_OPERATOR_SW, v.StartsWith)
	case *identityv1.StringFilter_Present:
		c.present(attr, v.Present)
	}
}

func (c *conj) after(attr string, t *timestamppb.Timestamp) {
	if t != nil {
		c.term(attr, identityv1.FilterOperator_FILTER_OPERATOR_GT, t)
	}
}

// expression returns the conjunction, or nil when no field was set.
func (c *conj) expression() *identityv1.FilterExpression {
	if len(c.terms) == 0 {
		return nil
	}
	c.nodes[0] = &identityv1.FilterNode{Node: &identityv1.FilterNode_All{All: &identityv1.FilterOperands{Operands: c.terms}}}
	return &identityv1.FilterExpression{Nodes: c.nodes}
}

// UserConditions returns the typed fields of a UserFilter as an expression.
func UserConditions(f *identityv1.UserFilter) *identityv1.FilterExpression {
	c := newConj()
	c.str("user_name", f.GetUserName())
	c.multiStr("emails", "value", f.GetEmail())
	c.str("external_id", f.GetExternalId())
	c.str("display_name", f.GetDisplayName())
	if f != nil && f.Active != nil {
		c.term("active", identityv1.FilterOperator_FILTER_OPERATOR_EQ, f.GetActive())
	}
	c.after("update_time", f.GetUpdatedAfter())
	return c.expression()
}

// GroupConditions returns the typed fields of a GroupFilter as an expression.
func GroupConditions(f *identityv1.GroupFilter) *identityv1.FilterExpression {
	c := newConj()
	c.str("display_name", f.GetDisplayName())
	c.str("external_id", f.GetExternalId())
	c.after("update_time", f.GetUpdatedAfter())
	if id := f.GetMemberUserId(); id != "" {
		c.element("members", "value", identityv1.FilterOperator_FILTER_OPERATOR_EQ, id)
	}
	return c.expression()
}

// RoleConditions returns the typed fields of a RoleFilter as an expression.
func RoleConditions(f *identityv1.RoleFilter) *identityv1.FilterExpression {
	c := newConj()
	c.str("name", f.GetName())
	c.after("update_time", f.GetUpdatedAfter())
	return c.expression()
}

// TenantConditions returns the typed fields of a TenantFilter as an
// expression.
func TenantConditions(f *identityv1.TenantFilter) *identityv1.FilterExpression {
	c := newConj()
	c.str("display_name", f.GetDisplayName())
	c.after("update_time", f.GetUpdatedAfter())
	return c.expression()
}

// Predicates compiles a list's expressions (typed conditions and a caller's
// expression; nil ones are skipped) over a resource's schema.
func Predicates(s Schema, exprs ...*identityv1.FilterExpression) ([]func(*sql.Selector), error) {
	var out []func(*sql.Selector)
	for _, e := range exprs {
		if e == nil {
			continue
		}
		p, err := Compile(e, s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
