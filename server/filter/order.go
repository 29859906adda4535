package filter

import (
	"fmt"
	"strings"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/apierr"
)

// Order is a list's order by one attribute of its table, then by the key
// column (RFC 7644 3.4.2.3). Every attribute sorts by one SQL key: strings
// by their caseExact (lower-cased when not), by code point on both
// databases; times in time order; booleans as "0" and "1". A row whose
// string is empty sorts last ascending and first descending, by an "empty"
// flag before the key. A page token holds the id of the page's last row
// (the anchor) only: the next page starts after the anchor's current
// terms, read by a subquery of its own query, so no key is read apart from
// the page it belongs to.
type Order struct {
	attr Attr
	desc bool
}

// CompileOrder checks o against the schema's single-valued attributes; a
// nil o is id order (nil Order).
func CompileOrder(o *identityv1.SortOrder, fs Schema) (*Order, error) {
	if o == nil {
		return nil, nil
	}
	a, ok := fs.Attrs[o.GetAttribute()]
	if !ok {
		return nil, apierr.InvalidField("order_by.attribute", "INVALID_ORDER",
			fmt.Sprintf("%q is not a single-valued attribute this list sorts by", o.GetAttribute()))
	}
	return &Order{attr: a, desc: o.GetDescending()}, nil
}

// key is the SQL the rows sort by.
func (o *Order) key(s *sql.Selector) string {
	x := o.attr.operand(s)
	collate := ""
	if s.Dialect() == dialect.Postgres {
		collate = ` COLLATE "C"`
	}
	switch o.attr.Kind {
	case Fold:
		return "(LOWER(" + x + ")" + collate + ")"
	case Bool:
		return "(CASE WHEN " + x + " THEN 1 ELSE 0 END)"
	case Time:
		return x
	}
	return "(" + x + collate + ")"
}

// terms are the SQL expressions rows sort by, in order: for a string the
// flag that puts rows without a value last (ascending), its key, and the key
// column.
func (o *Order) terms(s *sql.Selector, keyColumn string) []string {
	var out []string
	if o.attr.Kind != Bool && o.attr.Kind != Time {
		out = append(out, "(CASE WHEN "+o.attr.operand(s)+" = '' THEN 1 ELSE 0 END)")
	}
	return append(out, o.key(s), s.C(keyColumn))
}

// anchorAlias names the anchor row's table in the subquery.
const anchorAlias = "anchor"

// Apply orders the query by the key, then by keyColumn, in the order's
// direction, and, after a page token's anchor (afterID; "" for the first
// page), keeps only the rows that follow the anchor's current terms. If the
// anchor no longer exists, no row follows it: see AnchorGone.
func (o *Order) Apply(s *sql.Selector, keyColumn, afterID string) {
	terms := o.terms(s, keyColumn)
	for _, t := range terms {
		if o.desc {
			t += " DESC"
		}
		s.OrderBy(t)
	}
	if afterID == "" {
		return
	}
	anchor := sql.Dialect(s.Dialect()).Select().From(sql.Table(s.TableName()).As(anchorAlias))
	op := ">"
	if o.desc {
		op = "<"
	}
	s.Where(sql.P(func(b *sql.Builder) {
		b.WriteString("(" + strings.Join(terms, ", ") + ") " + op + " (SELECT " + strings.Join(o.terms(anchor, keyColumn), ", ") +
			" FROM " + b.Quote(s.TableName()) + " AS " + b.Quote(anchorAlias) + " WHERE " + anchor.C(keyColumn) + " = ").
			Arg(afterID).WriteString(")")
	}))
}

// AnchorGone is the error of a sorted page whose token's anchor row was
// deleted: the position in the order went with it, and answering an empty
// page would end the list early without a word.
func AnchorGone() error {
	return apierr.FailedPrecondition("PAGE_ANCHOR_DELETED",
		"the last resource of the previous page was deleted, and with it the position in this sorted list: start again from the first page")
}
