package filter

import (
	"fmt"
	"strings"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/apierr"
)

// A FilterExpression is compiled into one SQL predicate through a table of
// attributes per resource (attributes.go), so every filter runs in the
// database, on an index where the attribute has one.

// Compile turns an expression into a predicate over the schema's resource.
// The expression must be a tree (checkTree), so compiling it costs one step
// per node.
func Compile(e *identityv1.FilterExpression, fs Schema) (func(*sql.Selector), error) {
	if err := checkTree(e.GetNodes()); err != nil {
		return nil, err
	}
	c := exprCompiler{nodes: e.GetNodes()}
	return c.node(0, fs.Attrs, &fs)
}

type exprCompiler struct {
	nodes []*identityv1.FilterNode
}

func badExpr(i int, msg string) error {
	return apierr.InvalidField(fmt.Sprintf("filter.expression.nodes[%d]", i), "INVALID_FILTER", msg)
}

// node compiles node i over attrs; fs is nil inside an element filter, where
// multi-valued attributes do not nest.
func (c exprCompiler) node(i int, attrs map[string]Attr, fs *Schema) (func(*sql.Selector), error) {
	n := c.nodes[i]
	operand := func(j int32) (func(*sql.Selector), error) {
		if int(j) <= i || int(j) >= len(c.nodes) {
			return nil, badExpr(i, fmt.Sprintf("operand %d must be a later node (after %d, before %d)", j, i, len(c.nodes)))
		}
		return c.node(int(j), attrs, fs)
	}
	operands := func(ops []int32) ([]func(*sql.Selector), error) {
		out := make([]func(*sql.Selector), 0, len(ops))
		for _, j := range ops {
			p, err := operand(j)
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
		return out, nil
	}
	switch x := n.GetNode().(type) {
	case *identityv1.FilterNode_All:
		ps, err := operands(x.All.GetOperands())
		if err != nil {
			return nil, err
		}
		return sql.AndPredicates(ps...), nil
	case *identityv1.FilterNode_Any:
		ps, err := operands(x.Any.GetOperands())
		if err != nil {
			return nil, err
		}
		return sql.OrPredicates(ps...), nil
	case *identityv1.FilterNode_Not:
		p, err := operand(x.Not)
		if err != nil {
			return nil, err
		}
		return sql.NotPredicates(p), nil
	case *identityv1.FilterNode_Condition:
		cond := x.Condition
		if fs != nil {
			if m, ok := fs.Multis[cond.GetAttribute()]; ok {
				return c.multiCondition(i, cond, m)
			}
		}
		a, ok := attrs[cond.GetAttribute()]
		if !ok {
			return nil, badExpr(i, fmt.Sprintf("attribute %q cannot be filtered on", cond.GetAttribute()))
		}
		if cond.GetElement() != 0 {
			return nil, badExpr(i, fmt.Sprintf("attribute %q has no values to filter", cond.GetAttribute()))
		}
		return condition(i, a, cond)
	}
	return nil, badExpr(i, "empty node")
}

func (c exprCompiler) multiCondition(i int, cond *identityv1.FilterCondition, m Multi) (func(*sql.Selector), error) {
	if cond.GetOperator() != identityv1.FilterOperator_FILTER_OPERATOR_PR || cond.GetValue() != nil {
		return nil, badExpr(i, fmt.Sprintf("%q is multi-valued: filter its values with operator PR and an element node", cond.GetAttribute()))
	}
	j := int(cond.GetElement())
	if j == 0 {
		return m.Has(func(*sql.Selector) {}), nil
	}
	if j <= i || j >= len(c.nodes) {
		return nil, badExpr(i, fmt.Sprintf("element %d must be a later node", j))
	}
	inner, err := c.node(j, m.Attrs, nil)
	if err != nil {
		return nil, err
	}
	return m.Has(inner), nil
}

// condition compiles one comparison on a single-valued attribute.
func condition(i int, a Attr, c *identityv1.FilterCondition) (func(*sql.Selector), error) {
	p, err := comparison(i, a, c)
	if err != nil {
		return nil, err
	}
	return func(s *sql.Selector) { s.Where(p(a.operand(s), s)) }, nil
}

// comparison returns the predicate of c over an attribute's operand x.
func comparison(i int, a Attr, c *identityv1.FilterCondition) (func(x string, s *sql.Selector) *sql.Predicate, error) {
	op := c.GetOperator()
	if op == identityv1.FilterOperator_FILTER_OPERATOR_PR {
		switch {
		case a.Kind == Bool && len(a.Path) > 0:
			// false is stored by leaving the value out
			return func(_ string, s *sql.Selector) *sql.Predicate { return sql.NotNull(a.raw(s)) }, nil
		case a.Kind == Bool, a.Kind == Time:
			return func(x string, _ *sql.Selector) *sql.Predicate { return sql.NotNull(x) }, nil
		}
		return func(x string, _ *sql.Selector) *sql.Predicate { return sql.And(sql.NotNull(x), sql.NEQ(x, "")) }, nil
	}
	var v any
	switch a.Kind {
	case Bool:
		bv, ok := c.GetValue().(*identityv1.FilterCondition_BoolValue)
		if !ok {
			return nil, badExpr(i, fmt.Sprintf("%q takes a boolean", c.GetAttribute()))
		}
		if op != identityv1.FilterOperator_FILTER_OPERATOR_EQ && op != identityv1.FilterOperator_FILTER_OPERATOR_NE {
			return nil, badExpr(i, fmt.Sprintf("%q takes eq, ne or pr", c.GetAttribute()))
		}
		v = bv.BoolValue
	case Time:
		tv, ok := c.GetValue().(*identityv1.FilterCondition_TimeValue)
		if !ok {
			return nil, badExpr(i, fmt.Sprintf("%q takes a time", c.GetAttribute()))
		}
		switch op {
		case identityv1.FilterOperator_FILTER_OPERATOR_CO, identityv1.FilterOperator_FILTER_OPERATOR_SW, identityv1.FilterOperator_FILTER_OPERATOR_EW:
			return nil, badExpr(i, fmt.Sprintf("%q takes eq, ne, gt, ge, lt, le or pr", c.GetAttribute()))
		}
		v = tv.TimeValue.AsTime()
	default:
		sv, ok := c.GetValue().(*identityv1.FilterCondition_StringValue)
		if !ok {
			return nil, badExpr(i, fmt.Sprintf("%q takes a string", c.GetAttribute()))
		}
		v = sv.StringValue
		if a.Kind == Folded {
			v = a.Key(sv.StringValue)
		}
	}
	if a.Kind == Fold {
		return foldComparison(i, op, v.(string))
	}
	switch op {
	case identityv1.FilterOperator_FILTER_OPERATOR_EQ:
		return func(x string, _ *sql.Selector) *sql.Predicate { return sql.EQ(x, v) }, nil
	case identityv1.FilterOperator_FILTER_OPERATOR_NE:
		return func(x string, _ *sql.Selector) *sql.Predicate { return sql.NEQ(x, v) }, nil
	case identityv1.FilterOperator_FILTER_OPERATOR_CO:
		return func(x string, _ *sql.Selector) *sql.Predicate { return sql.Contains(x, v.(string)) }, nil
	case identityv1.FilterOperator_FILTER_OPERATOR_SW:
		return func(x string, _ *sql.Selector) *sql.Predicate { return sql.HasPrefix(x, v.(string)) }, nil
	case identityv1.FilterOperator_FILTER_OPERATOR_EW:
		return func(x string, _ *sql.Selector) *sql.Predicate { return sql.HasSuffix(x, v.(string)) }, nil
	case identityv1.FilterOperator_FILTER_OPERATOR_GT:
		return func(x string, s *sql.Selector) *sql.Predicate { return sql.GT(byCodePoint(x, a.Kind, s), v) }, nil
	case identityv1.FilterOperator_FILTER_OPERATOR_GE:
		return func(x string, s *sql.Selector) *sql.Predicate { return sql.GTE(byCodePoint(x, a.Kind, s), v) }, nil
	case identityv1.FilterOperator_FILTER_OPERATOR_LT:
		return func(x string, s *sql.Selector) *sql.Predicate { return sql.LT(byCodePoint(x, a.Kind, s), v) }, nil
	case identityv1.FilterOperator_FILTER_OPERATOR_LE:
		return func(x string, s *sql.Selector) *sql.Predicate { return sql.LTE(byCodePoint(x, a.Kind, s), v) }, nil
	}
	return nil, badExpr(i, "unknown operator")
}

// byCodePoint makes a string comparison order by code point on PostgreSQL
// too (SQLite's BINARY does), not by the database locale's collation, so
// gt, ge, lt and le answer alike on both databases and agree with sorting.
func byCodePoint(x string, k Kind, s *sql.Selector) string {
	if k == Time || k == Bool || s.Dialect() != dialect.Postgres {
		return x
	}
	return "(" + x + ` COLLATE "C")`
}

// foldComparison compares without regard to case (caseExact false). gt, ge,
// lt and le compare the lower-cased strings (RFC 7644 3.4.2.2: ordering
// follows the attribute's caseExact).
func foldComparison(i int, op identityv1.FilterOperator, v string) (func(x string, s *sql.Selector) *sql.Predicate, error) {
	lower := func(x string) string { return "LOWER(" + x + ")" }
	lv := strings.ToLower(v)
	switch op {
	case identityv1.FilterOperator_FILTER_OPERATOR_EQ:
		return func(x string, _ *sql.Selector) *sql.Predicate { return sql.EqualFold(x, v) }, nil
	case identityv1.FilterOperator_FILTER_OPERATOR_NE:
		return func(x string, _ *sql.Selector) *sql.Predicate { return sql.Not(sql.EqualFold(x, v)) }, nil
	case identityv1.FilterOperator_FILTER_OPERATOR_CO:
		return func(x string, _ *sql.Selector) *sql.Predicate { return sql.ContainsFold(x, v) }, nil
	case identityv1.FilterOperator_FILTER_OPERATOR_SW:
		return func(x string, _ *sql.Selector) *sql.Predicate { return sql.HasPrefixFold(x, v) }, nil
	case identityv1.FilterOperator_FILTER_OPERATOR_EW:
		return func(x string, _ *sql.Selector) *sql.Predicate { return sql.HasSuffixFold(x, v) }, nil
	case identityv1.FilterOperator_FILTER_OPERATOR_GT:
		return func(x string, s *sql.Selector) *sql.Predicate { return sql.GT(byCodePoint(lower(x), Fold, s), lv) }, nil
	case identityv1.FilterOperator_FILTER_OPERATOR_GE:
		return func(x string, s *sql.Selector) *sql.Predicate { return sql.GTE(byCodePoint(lower(x), Fold, s), lv) }, nil
	case identityv1.FilterOperator_FILTER_OPERATOR_LT:
		return func(x string, s *sql.Selector) *sql.Predicate { return sql.LT(byCodePoint(lower(x), Fold, s), lv) }, nil
	case identityv1.FilterOperator_FILTER_OPERATOR_LE:
		return func(x string, s *sql.Selector) *sql.Predicate { return sql.LTE(byCodePoint(lower(x), Fold, s), lv) }, nil
	}
	return nil, badExpr(i, "unknown operator")
}
