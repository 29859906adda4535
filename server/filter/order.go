package filter

import (
	"context"
	"fmt"
	"strings"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/apierr"
)

// Order is a list's order by one attribute of its table, then by the key
// column (RFC 7644 3.4.2.3). Every attribute sorts by one text key, so
// that a page token can carry the last row's key and the next page starts
// after it with one row-value comparison, whatever the attribute's kind:
// strings by their caseExact (lower-cased when not), times as UTC text
// that sorts in time order, booleans as "0" and "1". A row whose string is empty sorts last
// ascending and first descending, by an "empty" flag before the key.
type Order struct {
	attr Attr
	desc bool
}

// keyAlias is the column SelectKey selects the sort key as.
const keyAlias = "sort_key"

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

// key is the SQL text the rows sort by.
func (o *Order) key(s *sql.Selector) string {
	x := o.attr.operand(s)
	// Strings sort by code point on both databases (SQLite's BINARY), not
	// by a PostgreSQL locale's collation.
	collate := ""
	if s.Dialect() == dialect.Postgres {
		collate = ` COLLATE "C"`
	}
	switch o.attr.Kind {
	case Fold:
		return "(LOWER(" + x + ")" + collate + ")"
	case Bool:
		return "(CASE WHEN " + x + " THEN '1' ELSE '0' END)"
	case Time:
		if s.Dialect() == dialect.Postgres {
			return "to_char(" + x + " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
		}
		// SQLite holds times as the UTC text the driver wrote, which
		// sorts in time order (the time filters compare it too); the
		// cast keeps the driver from reading it back as a time
		return "CAST(" + x + " AS TEXT)"
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

// Apply orders the query by the key, then by keyColumn, in the order's
// direction, and, after a page token's position (afterKey, afterID; afterID
// "" for the first page), keeps only the rows that follow it.
func (o *Order) Apply(s *sql.Selector, keyColumn, afterKey, afterID string) {
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
	args := []any{afterKey, afterID}
	if len(terms) == 3 {
		empty := 0
		if afterKey == "" {
			empty = 1
		}
		args = append([]any{empty}, args...)
	}
	op := ">"
	if o.desc {
		op = "<"
	}
	s.Where(sql.P(func(b *sql.Builder) {
		b.WriteString("(" + strings.Join(terms, ", ") + ") " + op + " (").Args(args...).WriteString(")")
	}))
}

// ScanKey reads the sort key of the one row a query selects (by id), for
// the token of the page after it; modify is the query's Modify. The key is
// computed by the database that compares it, so the two always agree. (It
// is read with a query of its own because SQLite's driver cannot tell ent
// the type of a computed column in the page's own query.)
func ScanKey[S interface {
	Scan(ctx context.Context, v any) error
}](ctx context.Context, o *Order, modify func(...func(*sql.Selector)) S) (string, error) {
	var rows []struct {
		Key string `json:"sort_key"`
	}
	err := modify(func(s *sql.Selector) {
		s.Select()
		s.AppendSelectExprAs(sql.Expr(o.key(s)), keyAlias)
	}).Scan(ctx, &rows)
	if err != nil {
		return "", err
	}
	if len(rows) != 1 {
		return "", fmt.Errorf("%d rows for one sort key", len(rows))
	}
	return rows[0].Key, nil
}
