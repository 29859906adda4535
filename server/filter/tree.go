package filter

import (
	"fmt"

	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// maxValueBytes bounds the values an expression carries into the SQL. The
// API's 256 nodes bound the rest: the parameters (one per condition), the
// work (one step per node of a tree) and the depth (a SCIM filter of many
// "or" terms is a chain as deep as it is long, so no tighter depth bound
// would leave such filters working).
const maxValueBytes = 32 << 10

// checkTree refuses an expression that is not a tree: nodes[0] is the root,
// every other node is the operand (or element filter) of exactly one node
// before it, with at most maxValueBytes of values.
// Compiling a tree costs one step per node; without this a node named by
// several parents would be compiled (and sent to the database) once per path
// to it, exponentially many.
func checkTree(nodes []*identityv1.FilterNode) error {
	if len(nodes) == 0 {
		return badExpr(0, "an expression needs at least its root node")
	}
	parent := make([]int, len(nodes))
	for i := range parent {
		parent[i] = -1
	}
	valueBytes := 0
	for i, n := range nodes {
		if i > 0 && parent[i] < 0 {
			return badExpr(i, fmt.Sprintf("node %d is not an operand of any node before it: every node but the root has one parent", i))
		}
		if c := n.GetCondition(); c != nil {
			valueBytes += len(c.GetStringValue())
			if valueBytes > maxValueBytes {
				return badExpr(i, fmt.Sprintf("the expression's values exceed %d bytes", maxValueBytes))
			}
		}
		for _, j := range operandsOf(n) {
			if int(j) <= i || int(j) >= len(nodes) {
				return badExpr(i, fmt.Sprintf("operand %d must be a later node (after %d, before %d)", j, i, len(nodes)))
			}
			if p := parent[j]; p >= 0 {
				return badExpr(int(j), fmt.Sprintf("node %d is an operand of both node %d and node %d: each node has one parent", j, p, i))
			}
			parent[j] = i
		}
	}
	return nil
}

// operandsOf returns the nodes a node refers to.
func operandsOf(n *identityv1.FilterNode) []int32 {
	switch x := n.GetNode().(type) {
	case *identityv1.FilterNode_All:
		return x.All.GetOperands()
	case *identityv1.FilterNode_Any:
		return x.Any.GetOperands()
	case *identityv1.FilterNode_Not:
		return []int32{x.Not}
	case *identityv1.FilterNode_Condition:
		if j := x.Condition.GetElement(); j != 0 {
			return []int32{j}
		}
	}
	return nil
}
