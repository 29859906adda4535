package server_test

import (
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// TestFilterExpressionMustBeATree sends expressions that are not trees, or
// exceed the bounds, through ListUsers: each is refused at once with
// InvalidArgument naming the node, and none reaches the database. The first
// is the defect that cost 12 s and 2.5 GB: 20 nodes each naming the next one
// twice, 2^20 paths.
func TestFilterExpressionMustBeATree(t *testing.T) {
	cond := func(v string) *identityv1.FilterNode {
		return &identityv1.FilterNode{Node: &identityv1.FilterNode_Condition{Condition: &identityv1.FilterCondition{
			Attribute: "user_name", Operator: identityv1.FilterOperator_FILTER_OPERATOR_EQ,
			Value: &identityv1.FilterCondition_StringValue{StringValue: v}}}}
	}
	any := func(ops ...int32) *identityv1.FilterNode {
		return &identityv1.FilterNode{Node: &identityv1.FilterNode_Any{Any: &identityv1.FilterOperands{Operands: ops}}}
	}
	not := func(j int32) *identityv1.FilterNode {
		return &identityv1.FilterNode{Node: &identityv1.FilterNode_Not{Not: j}}
	}

	doubling := make([]*identityv1.FilterNode, 0, 21)
	for k := int32(0); k < 20; k++ {
		doubling = append(doubling, any(k+1, k+1))
	}
	doubling = append(doubling, cond("x"))
	deep := make([]*identityv1.FilterNode, 0, 41)
	for k := int32(0); k < 40; k++ {
		deep = append(deep, not(k+1))
	}
	deep = append(deep, cond("x"))
	big := []*identityv1.FilterNode{any()}
	for k := int32(1); k <= 40; k++ {
		big[0].GetAny().Operands = append(big[0].GetAny().Operands, k)
		big = append(big, cond(strings.Repeat("x", 1000)))
	}

	cases := []struct {
		name      string
		nodes     []*identityv1.FilterNode
		wantField string // "" when the expression is valid
	}{
		{"a valid tree", []*identityv1.FilterNode{any(1, 2), cond("a"), not(3), cond("b")}, ""},
		{"a node named twice by its parent", doubling, "filter.expression.nodes[1]"},
		{"a node with two parents", []*identityv1.FilterNode{any(1, 2), not(3), not(3), cond("a")}, "filter.expression.nodes[3]"},
		{"an operand before its node", []*identityv1.FilterNode{any(1), not(0)}, "filter.expression.nodes[1]"},
		{"a node no node names", []*identityv1.FilterNode{any(1), cond("a"), cond("b")}, "filter.expression.nodes[2]"},
		{"a chain of 40 levels (SCIM's long or-chains)", deep, ""},
		{"too many value bytes", big, "filter.expression.nodes[33]"},
	}
	forEachDB(t, func(t *testing.T, db database) {
		e := newEnv(t, db)
		tid := e.tenant(t)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				_, err := e.users.ListUsers(e.ctx, &identityv1.ListUsersRequest{TenantId: tid,
					Filter: &identityv1.UserFilter{Expression: &identityv1.FilterExpression{Nodes: c.nodes}}})
				if c.wantField == "" {
					if err != nil {
						t.Fatalf("valid tree refused: %v", err)
					}
					return
				}
				wantCode(t, err, codes.InvalidArgument)
				if field := violatedField(err); field != c.wantField {
					t.Fatalf("violation names %q, want %q (%v)", field, c.wantField, err)
				}
			})
		}
	})
}

// violatedField returns the field of an InvalidArgument's first violation.
func violatedField(err error) string {
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	return ""
}

// TestOrderBy: a list sorts by any single-valued attribute of its filter
// table, refuses any other with a violation on order_by.attribute, and a
// page token continues only the order it was issued for.
func TestOrderBy(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		e := newEnv(t, db)
		tid := e.tenant(t)
		for _, name := range []string{"carol", "Alice", "bob"} {
			if _, err := e.users.CreateUser(e.ctx, &identityv1.CreateUserRequest{TenantId: tid, User: &identityv1.User{UserName: name}}); err != nil {
				t.Fatal(err)
			}
		}
		list := func(o *identityv1.SortOrder, token string) (*identityv1.ListUsersResponse, error) {
			return e.users.ListUsers(e.ctx, &identityv1.ListUsersRequest{TenantId: tid, PageSize: 2, PageToken: token, OrderBy: o})
		}
		byName := &identityv1.SortOrder{Attribute: "user_name", Descending: true}
		first, err := list(byName, "")
		if err != nil {
			t.Fatal(err)
		}
		second, err := list(byName, first.GetNextPageToken())
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, u := range append(first.GetUsers(), second.GetUsers()...) {
			got = append(got, u.GetUserName())
		}
		if strings.Join(got, ",") != "carol,bob,Alice" {
			t.Fatalf("user_name descending: %v", got)
		}
		_, err = list(&identityv1.SortOrder{Attribute: "title"}, first.GetNextPageToken())
		wantCode(t, err, codes.InvalidArgument)
		// the page's last user deleted: the next page says so instead of
		// ending the list early
		last := first.GetUsers()[len(first.GetUsers())-1]
		if _, err := e.users.DeleteUser(e.ctx, &identityv1.DeleteUserRequest{TenantId: tid, UserId: last.GetId()}); err != nil {
			t.Fatal(err)
		}
		_, err = list(byName, first.GetNextPageToken())
		wantCode(t, err, codes.FailedPrecondition)
		for _, attr := range []string{"emails", "password", "nosuch"} {
			_, err := list(&identityv1.SortOrder{Attribute: attr}, "")
			wantCode(t, err, codes.InvalidArgument)
			if field := violatedField(err); field != "order_by.attribute" {
				t.Fatalf("%s: violation names %q", attr, field)
			}
		}
	})
}
