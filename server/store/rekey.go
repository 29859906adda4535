package store

import (
	"context"
	"fmt"
	"log/slog"

	"entgo.io/ent/dialect/sql/sqlgraph"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/email"
	"github.com/acme/identity/ent/group"
	"github.com/acme/identity/ent/role"
	"github.com/acme/identity/ent/user"
	"github.com/acme/identity/server/store/scope"
)

// keyedColumns are the stored names and the key columns they are found by.
var keyedColumns = []struct {
	table, value, key string
	rule              func(string) string
}{
	{user.Table, user.FieldUserName, user.FieldUserNameKey, UserNameLookup},
	{email.Table, email.FieldValue, email.FieldValueKey, UserNameLookup},
	{group.Table, group.FieldDisplayName, group.FieldDisplayNameKey, NameLookup},
	{role.Table, role.FieldName, role.FieldNameKey, NameLookup},
}

// Rekey brings the stored keys of user names, emails, group and role names
// to the rules of keys.go, for data written under an earlier rule. It runs at
// start, before the role index loads, and changes only keys that differ. A
// row whose new key another row of its tenant already holds (two look-alike
// names stored before the rule) keeps its old key: lookups by name find the
// other row, this one is found by id, and the log names it for an
// administrator to resolve. Keys change outside the change log, so every
// instance of a deployment restarts on the new version (each rekeys
// idempotently and loads its role index after). The tables and columns are the schema's own constants;
// plain SQL serves all four alike.
func Rekey(ctx context.Context, db *ent.Client, log *slog.Logger) error {
	ctx = scope.System(ctx)
	for _, c := range keyedColumns {
		var after any = ""
		if c.table == email.Table {
			after = 0 // emails have integer ids
		}
		for {
			n, last, err := rekeyPage(ctx, db, log, c.table, c.value, c.key, c.rule, after)
			if err != nil {
				return fmt.Errorf("rekey %s: %w", c.table, err)
			}
			if n == 0 {
				break
			}
			after = last
		}
	}
	return nil
}

// rekeyPage rekeys up to 1,000 rows after id after and returns how many it
// read and the last id.
func rekeyPage(ctx context.Context, db *ent.Client, log *slog.Logger, table, value, key string, rule func(string) string, after any) (int, any, error) {
	rows, err := db.QueryContext(ctx, fmt.Sprintf("SELECT id, %s, %s FROM %s WHERE id > $1 ORDER BY id LIMIT 1000", value, key, table), after)
	if err != nil {
		return 0, nil, err
	}
	type row struct {
		id         any
		value, key string
	}
	var page []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.value, &r.key); err != nil {
			rows.Close()
			return 0, nil, err
		}
		page = append(page, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, nil, err
	}
	for _, r := range page {
		k := rule(r.value)
		if k == r.key {
			continue
		}
		_, err := db.ExecContext(ctx, fmt.Sprintf("UPDATE %s SET %s = $1 WHERE id = $2", table, key), k, r.id)
		switch {
		case sqlgraph.IsUniqueConstraintError(err):
			// Name lookups now find the other row; this one is reachable by
			// id only until an administrator renames or deletes one of them.
			log.ErrorContext(ctx, "two stored names are one under the name rule: the row keeps its old key and is found by id only; rename or delete one",
				"table", table, "id", fmt.Sprint(r.id), "key", k)
		case err != nil:
			return 0, nil, err
		}
	}
	if len(page) == 0 {
		return 0, nil, nil
	}
	return len(page), page[len(page)-1].id, nil
}
