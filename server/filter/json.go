package filter

import (
	"strings"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
)

// The descriptive attributes of a user live in JSON columns (the profile and
// the phone numbers). They are filtered in the database like any column: an
// attribute with a Path compares the JSON value at that path, and a
// multi-valued attribute held as a JSON array is matched with EXISTS over the
// array's elements. ent's sqljson has no case-folding comparisons and no
// predicates over array elements, so the few expressions needed are written
// here, once per dialect (SQLite's JSON1 functions, PostgreSQL's jsonb
// operators); the paths are constants of the attribute tables, never input.

// elementColumn is the column of an array element in the EXISTS subquery:
// json_each's value on SQLite, jsonb_array_elements' value on PostgreSQL.
const elementColumn = "value"

// elementTable is the alias of an array's elements.
const elementTable = "el"

// operand is the SQL expression an attribute's comparisons apply to. A JSON
// string that is absent reads as "", as an unset column does, so ne and pr
// mean the same on both kinds of attribute.
func (a Attr) operand(s *sql.Selector) string {
	if len(a.Path) == 0 {
		return s.C(a.Column)
	}
	raw := a.raw(s)
	if a.Kind == Bool {
		if s.Dialect() == dialect.Postgres {
			return "COALESCE((" + raw + ")::boolean, false)"
		}
		return "COALESCE(" + raw + ", 0)"
	}
	return "COALESCE(" + raw + ", '')"
}

// raw extracts the JSON value at a.Path as SQL text (NULL when absent).
func (a Attr) raw(s *sql.Selector) string {
	col := s.C(a.Column)
	if s.Dialect() == dialect.Postgres {
		return "(" + col + " #>> '{" + strings.Join(a.Path, ",") + "}')"
	}
	return "json_extract(" + col + ", '" + sqlitePath(a.Path) + "')"
}

func sqlitePath(path []string) string {
	return `$."` + strings.Join(path, `"."`) + `"`
}

// jsonArray returns the Has of a multi-valued attribute stored as a JSON
// array at path inside column: some element (a JSON object) matches inner,
// whose attributes have Column elementColumn.
func jsonArray(column string, path ...string) func(inner func(*sql.Selector)) func(*sql.Selector) {
	return func(inner func(*sql.Selector)) func(*sql.Selector) {
		return func(s *sql.Selector) {
			el := sql.Dialect(s.Dialect()).Select().From(sql.Table(elementTable))
			inner(el)
			col := s.C(column)
			s.Where(sql.P(func(b *sql.Builder) {
				if s.Dialect() == dialect.Postgres {
					arr := col
					if len(path) > 0 {
						arr = "(" + col + " #> '{" + strings.Join(path, ",") + "}')"
					}
					b.WriteString("EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(" + arr + ") = 'array' THEN " +
						arr + " END) AS " + elementTable + " WHERE jsonb_typeof(" + elementTable + "." + elementColumn + ") = 'object'")
				} else {
					from := "json_each(" + col + ")"
					if len(path) > 0 {
						from = "json_each(" + col + ", '" + sqlitePath(path) + "')"
					}
					b.WriteString("EXISTS (SELECT 1 FROM " + from + " AS " + elementTable + " WHERE " + elementTable + ".type = 'object'")
				}
				if p := el.P(); p != nil {
					b.WriteString(" AND ").Join(p)
				}
				b.WriteString(")")
			}))
		}
	}
}
