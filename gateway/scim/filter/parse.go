package filter

import (
	"encoding/json"
	"fmt"
	"strings"
)

// The grammar, from RFC 7644 section 3.4.2.2, with Entra ID's value path
// followed by a sub-attribute comparison added:
//
//	FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"
//	valuePath = attrPath "[" valFilter "]" [ "." subAttr ( SP "pr" / SP compareOp SP compValue ) ]
//	valFilter = attrExp / logExp / *1"not" "(" valFilter ")"
//	attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)
//	logExp    = FILTER SP ("and" / "or") SP FILTER
//	compValue = false / null / true / number / string
//	compareOp = "eq" / "ne" / "co" / "sw" / "ew" / "gt" / "lt" / "ge" / "le"
//	attrPath  = [URI ":"] ATTRNAME *1subAttr
//
// "and" binds tighter than "or"; operators and attribute names are case
// insensitive.

// MaxDepth bounds nesting, so a hostile filter cannot exhaust the stack.
const MaxDepth = 32

// Error is a parse failure, with the byte offset where it was found.
type Error struct {
	Pos int
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("at position %d: %s", e.Pos+1, e.Msg) }

// Parse parses a filter.
func Parse(s string) (Expr, error) {
	p, err := newParser(s)
	if err != nil {
		return nil, err
	}
	e, err := p.or(0, true)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, p.errAt(t, fmt.Sprintf("unexpected %q after a complete filter", t.text))
	}
	return e, nil
}

// PathExpr is a PATCH path: an attribute path, optionally with a value filter
// (`members[value eq "x"]`) and a sub-attribute after it
// (`emails[type eq "work"].value`).
type PathExpr struct {
	Attr   Path
	Filter Expr // nil without a value filter
	Sub    string
}

// ParsePath parses a PATCH operation's path.
func ParsePath(s string) (PathExpr, error) {
	p, err := newParser(s)
	if err != nil {
		return PathExpr{}, err
	}
	t := p.next()
	if t.kind != tokWord {
		return PathExpr{}, p.errAt(t, "a path starts with an attribute name")
	}
	attr, err := parseAttrPath(t)
	if err != nil {
		return PathExpr{}, err
	}
	out := PathExpr{Attr: attr}
	if p.peek().kind == tokLBracket {
		if attr.Sub != "" {
			return PathExpr{}, p.errAt(p.peek(), "a value filter follows an attribute, not a sub-attribute")
		}
		p.next()
		if out.Filter, err = p.or(1, false); err != nil {
			return PathExpr{}, err
		}
		if t := p.next(); t.kind != tokRBracket {
			return PathExpr{}, p.errAt(t, `expected "]"`)
		}
		if t := p.peek(); t.kind == tokWord && strings.HasPrefix(t.text, ".") {
			p.next()
			out.Sub = t.text[1:]
			if !validName(out.Sub) {
				return PathExpr{}, p.errAt(t, fmt.Sprintf("%q is not a sub-attribute name", out.Sub))
			}
		}
	}
	if t := p.peek(); t.kind != tokEOF {
		return PathExpr{}, p.errAt(t, fmt.Sprintf("unexpected %q after the path", t.text))
	}
	return out, nil
}

type parser struct {
	toks []token
	pos  int
	src  string
}

func newParser(s string) (*parser, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	return &parser{toks: toks, src: s}, nil
}

func (p *parser) peek() token { return p.toks[p.pos] }

func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tokEOF {
		p.pos++
	}
	return t
}

func (p *parser) errAt(t token, msg string) error { return &Error{Pos: t.pos, Msg: msg} }

func (p *parser) keyword(t token, kw string) bool {
	return t.kind == tokWord && strings.EqualFold(t.text, kw)
}

// or parses and-expressions joined by "or"; valuePaths says whether value
// paths may appear (not inside a value filter, RFC 7644).
func (p *parser) or(depth int, valuePaths bool) (Expr, error) {
	if depth > MaxDepth {
		return nil, p.errAt(p.peek(), fmt.Sprintf("the filter nests deeper than %d levels", MaxDepth))
	}
	left, err := p.and(depth, valuePaths)
	if err != nil {
		return nil, err
	}
	for p.keyword(p.peek(), "or") {
		p.next()
		right, err := p.and(depth, valuePaths)
		if err != nil {
			return nil, err
		}
		left = Or{left, right}
	}
	return left, nil
}

func (p *parser) and(depth int, valuePaths bool) (Expr, error) {
	left, err := p.unary(depth, valuePaths)
	if err != nil {
		return nil, err
	}
	for p.keyword(p.peek(), "and") {
		p.next()
		right, err := p.unary(depth, valuePaths)
		if err != nil {
			return nil, err
		}
		left = And{left, right}
	}
	return left, nil
}

func (p *parser) unary(depth int, valuePaths bool) (Expr, error) {
	t := p.next()
	switch {
	case t.kind == tokLParen:
		e, err := p.or(depth+1, valuePaths)
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tokRParen {
			return nil, p.errAt(c, `expected ")"`)
		}
		return e, nil
	case p.keyword(t, "not"):
		if o := p.next(); o.kind != tokLParen {
			return nil, p.errAt(o, `"not" must be followed by "("`)
		}
		e, err := p.or(depth+1, valuePaths)
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tokRParen {
			return nil, p.errAt(c, `expected ")"`)
		}
		return Not{e}, nil
	case t.kind == tokWord:
		path, err := parseAttrPath(t)
		if err != nil {
			return nil, err
		}
		if p.peek().kind == tokLBracket {
			if !valuePaths {
				return nil, p.errAt(p.peek(), "value filters do not nest")
			}
			return p.valuePath(path, depth)
		}
		return p.comparison(path)
	case t.kind == tokEOF:
		return nil, p.errAt(t, "the filter ends where an expression was expected")
	}
	return nil, p.errAt(t, fmt.Sprintf("unexpected %q where an attribute was expected", t.text))
}

func (p *parser) valuePath(attr Path, depth int) (Expr, error) {
	open := p.next()
	if attr.Sub != "" {
		return nil, p.errAt(open, "a value filter follows an attribute, not a sub-attribute")
	}
	inner, err := p.or(depth+1, false)
	if err != nil {
		return nil, err
	}
	if c := p.next(); c.kind != tokRBracket {
		return nil, p.errAt(c, `expected "]"`)
	}
	// Entra ID: emails[type eq "work"].value eq "x".
	if t := p.peek(); t.kind == tokWord && strings.HasPrefix(t.text, ".") {
		p.next()
		sub := t.text[1:]
		if !validName(sub) {
			return nil, p.errAt(t, fmt.Sprintf("%q is not a sub-attribute name", sub))
		}
		cmp, err := p.comparison(Path{Attr: sub})
		if err != nil {
			return nil, err
		}
		inner = And{inner, cmp}
	}
	return ValuePath{Attr: attr, Filter: inner}, nil
}

var compareOps = map[string]bool{"eq": true, "ne": true, "co": true, "sw": true, "ew": true, "gt": true, "lt": true, "ge": true, "le": true}

func (p *parser) comparison(path Path) (Expr, error) {
	opTok := p.next()
	op := strings.ToLower(opTok.text)
	if opTok.kind != tokWord || (op != "pr" && !compareOps[op]) {
		return nil, p.errAt(opTok, fmt.Sprintf("expected an operator (eq, ne, co, sw, ew, gt, lt, ge, le, pr) after %q", path.String()))
	}
	if op == "pr" {
		return Compare{Path: path, Op: op}, nil
	}
	vt := p.next()
	var v Value
	switch {
	case vt.kind == tokString:
		v = Value{Kind: KindString, Str: vt.text}
	case vt.kind == tokWord && strings.EqualFold(vt.text, "true"):
		v = Value{Kind: KindBool, Bool: true}
	case vt.kind == tokWord && strings.EqualFold(vt.text, "false"):
		v = Value{Kind: KindBool}
	case vt.kind == tokWord && strings.EqualFold(vt.text, "null"):
		v = Value{Kind: KindNull}
	case vt.kind == tokWord && isNumber(vt.text):
		v = Value{Kind: KindNumber, Str: vt.text}
	case vt.kind == tokWord:
		return nil, p.errAt(vt, fmt.Sprintf("the value %s must be quoted: %s %s %q", vt.text, path.String(), op, vt.text))
	default:
		return nil, p.errAt(vt, fmt.Sprintf("expected a value after %q", op))
	}
	return Compare{Path: path, Op: op, Value: v}, nil
}

func isNumber(s string) bool {
	var f json.Number
	return json.Unmarshal([]byte(s), &f) == nil
}

// parseAttrPath splits a word into URN, attribute and sub-attribute.
func parseAttrPath(t token) (Path, error) {
	s := t.text
	var out Path
	if i := strings.LastIndex(s, ":"); i >= 0 {
		if !strings.HasPrefix(strings.ToLower(s), "urn:") {
			return Path{}, &Error{Pos: t.pos, Msg: fmt.Sprintf("%q is not an attribute path", s)}
		}
		out.URN, s = s[:i], s[i+1:]
	}
	out.Attr, out.Sub, _ = strings.Cut(s, ".")
	if !validName(out.Attr) || (out.Sub != "" && !validName(out.Sub)) || strings.Count(s, ".") > 1 {
		return Path{}, &Error{Pos: t.pos, Msg: fmt.Sprintf("%q is not an attribute path", t.text)}
	}
	return out, nil
}

// validName checks ATTRNAME = ALPHA *(nameChar), nameChar = "-" / "_" / DIGIT / ALPHA
// ("$ref" is allowed too: group members carry it).
func validName(s string) bool {
	if s == "$ref" {
		return true
	}
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !(c >= '0' && c <= '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
