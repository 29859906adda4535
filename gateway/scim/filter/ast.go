package filter

import "strings"

// Expr is a parsed filter.
type Expr interface{ expr() }

// And matches when both sides match.
type And struct{ Left, Right Expr }

// Or matches when either side matches.
type Or struct{ Left, Right Expr }

// Not matches when X does not.
type Not struct{ X Expr }

// Compare is `path op value`, or `path pr` (Value is then the zero Value).
type Compare struct {
	Path  Path
	Op    string // lower case: eq ne co sw ew gt lt ge le pr
	Value Value
}

// ValuePath is `attr[filter]`: some value of a multi-valued attribute matches
// Filter. `attr[filter].sub op value`, as Entra ID sends it, parses as a
// ValuePath whose Filter also holds the comparison of sub.
type ValuePath struct {
	Attr   Path
	Filter Expr
}

func (And) expr()       {}
func (Or) expr()        {}
func (Not) expr()       {}
func (Compare) expr()   {}
func (ValuePath) expr() {}

// Path is an attribute path: an optional schema URN, an attribute and an
// optional sub-attribute. Names keep the case they were written in; compare
// them with Is.
type Path struct {
	URN  string
	Attr string
	Sub  string
}

// Is says whether the path names attr (and sub, if given) without regard to
// case, as RFC 7643 section 2.1 requires of attribute names.
func (p Path) Is(attr, sub string) bool {
	return strings.EqualFold(p.Attr, attr) && strings.EqualFold(p.Sub, sub)
}

// String renders the path as written in a filter, without the URN.
func (p Path) String() string {
	if p.Sub != "" {
		return p.Attr + "." + p.Sub
	}
	return p.Attr
}

// ValueKind says which field of a Value is set.
type ValueKind int

// The kinds of compValue (RFC 7644: false / null / true / number / string).
const (
	KindNone ValueKind = iota
	KindString
	KindNumber
	KindBool
	KindNull
)

// Value is a comparison value.
type Value struct {
	Kind ValueKind
	Str  string // the string, or the number as written
	Bool bool
}
