package filter

import (
	"fmt"

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
	op := c.GetOperator()
	col := a.Column
	if op == identityv1.FilterOperator_FILTER_OPERATOR_PR {
		switch a.Kind {
		case Bool, Time:
			return sql.FieldNotNull(col), nil
		}
		return sql.AndPredicates(sql.FieldNotNull(col), sql.FieldNEQ(col, "")), nil
	}
	switch a.Kind {
	case Bool:
		v, ok := c.GetValue().(*identityv1.FilterCondition_BoolValue)
		if !ok {
			return nil, badExpr(i, fmt.Sprintf("%q takes a boolean", c.GetAttribute()))
		}
		switch op {
		case identityv1.FilterOperator_FILTER_OPERATOR_EQ:
			return sql.FieldEQ(col, v.BoolValue), nil
		case identityv1.FilterOperator_FILTER_OPERATOR_NE:
			return sql.FieldNEQ(col, v.BoolValue), nil
		}
		return nil, badExpr(i, fmt.Sprintf("%q takes eq, ne or pr", c.GetAttribute()))
	case Time:
		v, ok := c.GetValue().(*identityv1.FilterCondition_TimeValue)
		if !ok {
			return nil, badExpr(i, fmt.Sprintf("%q takes a time", c.GetAttribute()))
		}
		t := v.TimeValue.AsTime()
		switch op {
		case identityv1.FilterOperator_FILTER_OPERATOR_EQ:
			return sql.FieldEQ(col, t), nil
		case identityv1.FilterOperator_FILTER_OPERATOR_NE:
			return sql.FieldNEQ(col, t), nil
		case identityv1.FilterOperator_FILTER_OPERATOR_GT:
			return sql.FieldGT(col, t), nil
		case identityv1.FilterOperator_FILTER_OPERATOR_GE:
			return sql.FieldGTE(col, t), nil
		case identityv1.FilterOperator_FILTER_OPERATOR_LT:
			return sql.FieldLT(col, t), nil
		case identityv1.FilterOperator_FILTER_OPERATOR_LE:
			return sql.FieldLTE(col, t), nil
		}
		return nil, badExpr(i, fmt.Sprintf("%q takes eq, ne, gt, ge, lt, le or pr", c.GetAttribute()))
	}
	sv, ok := c.GetValue().(*identityv1.FilterCondition_StringValue)
	if !ok {
		return nil, badExpr(i, fmt.Sprintf("%q takes a string", c.GetAttribute()))
	}
	v := sv.StringValue
	if a.Kind == Folded {
		v = a.Key(v)
	}
	fold := a.Kind == Fold
	switch op {
	case identityv1.FilterOperator_FILTER_OPERATOR_EQ:
		if fold {
			return sql.FieldEqualFold(col, v), nil
		}
		return sql.FieldEQ(col, v), nil
	case identityv1.FilterOperator_FILTER_OPERATOR_NE:
		if fold {
			return sql.NotPredicates(sql.FieldEqualFold(col, v)), nil
		}
		return sql.FieldNEQ(col, v), nil
	case identityv1.FilterOperator_FILTER_OPERATOR_CO:
		if fold {
			return sql.FieldContainsFold(col, v), nil
		}
		return sql.FieldContains(col, v), nil
	case identityv1.FilterOperator_FILTER_OPERATOR_SW:
		if fold {
			return sql.FieldHasPrefixFold(col, v), nil
		}
		return sql.FieldHasPrefix(col, v), nil
	case identityv1.FilterOperator_FILTER_OPERATOR_EW:
		if fold {
			return sql.FieldHasSuffixFold(col, v), nil
		}
		return sql.FieldHasSuffix(col, v), nil
	case identityv1.FilterOperator_FILTER_OPERATOR_GT:
		return sql.FieldGT(col, v), nil
	case identityv1.FilterOperator_FILTER_OPERATOR_GE:
		return sql.FieldGTE(col, v), nil
	case identityv1.FilterOperator_FILTER_OPERATOR_LT:
		return sql.FieldLT(col, v), nil
	case identityv1.FilterOperator_FILTER_OPERATOR_LE:
		return sql.FieldLTE(col, v), nil
	}
	return nil, badExpr(i, "unknown operator")
}
