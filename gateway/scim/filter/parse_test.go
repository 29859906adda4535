package filter

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// show renders an expression in a canonical, fully parenthesized form.
func show(e Expr) string {
	switch x := e.(type) {
	case And:
		return "(" + show(x.Left) + " and " + show(x.Right) + ")"
	case Or:
		return "(" + show(x.Left) + " or " + show(x.Right) + ")"
	case Not:
		return "not(" + show(x.X) + ")"
	case ValuePath:
		return x.Attr.String() + "[" + show(x.Filter) + "]"
	case Compare:
		s := x.Path.String() + " " + x.Op
		switch x.Value.Kind {
		case KindString:
			b, _ := json.Marshal(x.Value.Str)
			s += " " + string(b)
		case KindBool:
			s += fmt.Sprintf(" %t", x.Value.Bool)
		case KindNull:
			s += " null"
		case KindNumber:
			s += " " + x.Value.Str
		}
		return s
	}
	return "?"
}

// The valid cases start from the examples of RFC 7644 section 3.4.2.2, then
// what Okta and Entra ID send.
var parseCases = []struct {
	in   string
	want string
}{
	{`userName Eq "john"`, `userName eq "john"`},
	{`Username eq "john"`, `Username eq "john"`},
	{`name.familyName co "O'Malley"`, `name.familyName co "O'Malley"`},
	{`urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"`, `userName sw "J"`},
	{`title pr`, `title pr`},
	{`meta.lastModified gt "2011-05-13T04:42:34Z"`, `meta.lastModified gt "2011-05-13T04:42:34Z"`},
	{`title pr and userType eq "Employee"`, `(title pr and userType eq "Employee")`},
	{`title pr or userType eq "Intern"`, `(title pr or userType eq "Intern")`},
	{`schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`, `schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`},
	{`userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`, `(userType eq "Employee" and (emails co "example.com" or emails.value co "example.org"))`},
	{`userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`, `(userType ne "Employee" and not((emails co "example.com" or emails.value co "example.org")))`},
	{`userType eq "Employee" and (emails.type eq "work")`, `(userType eq "Employee" and emails.type eq "work")`},
	{`userType eq "Employee" and emails[type eq "work" and value co "@example.com"]`, `(userType eq "Employee" and emails[(type eq "work" and value co "@example.com")])`},
	{`emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]`, `(emails[(type eq "work" and value co "@example.com")] or ims[(type eq "xmpp" and value co "@foo.com")])`},
	{`a eq "x" or b eq "y" and c eq "z"`, `(a eq "x" or (b eq "y" and c eq "z"))`},
	{`active eq true`, `active eq true`},
	{`active eq False`, `active eq false`},
	{`x eq null`, `x eq null`},
	{`x gt 42.5`, `x gt 42.5`},
	{`displayName eq "say \"hi\""`, `displayName eq "say \"hi\""`},
	// Entra ID.
	{`emails[type eq "work"].value eq "ada@example.com"`, `emails[(type eq "work" and value eq "ada@example.com")]`},
	{`externalId eq "5c0bb2ac-9ae8-4d4f-a7b4-0d4b7f3d8a9b"`, `externalId eq "5c0bb2ac-9ae8-4d4f-a7b4-0d4b7f3d8a9b"`},
	{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "42"`, `employeeNumber eq "42"`},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.in, func(t *testing.T) {
			e, err := Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := show(e); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

var badCases = []struct {
	in   string
	want string
}{
	{``, "ends where an expression"},
	{`userName`, "expected an operator"},
	{`userName eq`, "expected a value"},
	{`externalId eq jyoung`, "must be quoted"},
	{`userName xx "a"`, "expected an operator"},
	{`(userName eq "a"`, `expected ")"`},
	{`userName eq "a")`, "unexpected"},
	{`not userName eq "a"`, `"not" must be followed by "("`},
	{`emails[type eq "work"`, `expected "]"`},
	{`emails[type[value eq "x"] eq "y"]`, "do not nest"},
	{`userName eq "unterminated`, "not closed"},
	{`1abc eq "x"`, "not an attribute path"},
	{`a.b.c eq "x"`, "not an attribute path"},
	{`userName eq "a" and`, "ends where"},
	{strings.Repeat("(", 40) + `a eq "x"` + strings.Repeat(")", 40), "nests deeper"},
}

func TestParseErrors(t *testing.T) {
	for _, tc := range badCases {
		t.Run(tc.in, func(t *testing.T) {
			_, err := Parse(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestParsePath(t *testing.T) {
	cases := []struct {
		in, attr, filter, sub string
		bad                   bool
	}{
		{in: `members`, attr: "members"},
		{in: `name.givenName`, attr: "name.givenName"},
		{in: `members[value eq "2819c223"]`, attr: "members", filter: `value eq "2819c223"`},
		{in: `emails[type eq "work"].value`, attr: "emails", filter: `type eq "work"`, sub: "value"},
		{in: `addresses[type eq "work"].formatted`, attr: "addresses", filter: `type eq "work"`, sub: "formatted"},
		{in: `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`, attr: "manager"},
		{in: `members[value eq "a"`, bad: true},
		{in: ``, bad: true},
		{in: `name.givenName[x eq "y"]`, bad: true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			p, err := ParsePath(tc.in)
			if tc.bad {
				if err == nil {
					t.Fatalf("parsed %+v", p)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var f string
			if p.Filter != nil {
				f = show(p.Filter)
			}
			if p.Attr.String() != tc.attr || f != tc.filter || p.Sub != tc.sub {
				t.Fatalf("got %s %q %q", p.Attr, f, p.Sub)
			}
		})
	}
}

// FuzzFilter checks that any input either parses into an expression whose
// canonical form parses to itself, or fails with a position inside it.
func FuzzFilter(f *testing.F) {
	for _, c := range parseCases {
		f.Add(c.in)
	}
	for _, c := range badCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		e, err := Parse(in)
		if err != nil {
			pe, ok := err.(*Error)
			if !ok || pe.Pos < 0 || pe.Pos > len(in) {
				t.Fatalf("%q: bad error %v", in, err)
			}
			return
		}
		if len(show(e)) > MaxLength {
			return // escaping made the canonical form too long to check
		}
		again, err := Parse(show(e))
		if err != nil {
			t.Fatalf("%q: canonical form %q does not parse: %v", in, show(e), err)
		}
		if show(again) != show(e) {
			t.Fatalf("%q: %q reparses as %q", in, show(e), show(again))
		}
	})
}
