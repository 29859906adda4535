package store

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/email"
	"github.com/acme/identity/ent/group"
	"github.com/acme/identity/ent/role"
	"github.com/acme/identity/ent/user"
	"github.com/acme/identity/server/store/scope"
)

// keyed is one stored value and its key.
type keyed struct {
	id         int64 // emails
	sid        string
	value, key string
}

// Rekey brings the stored keys of user names, emails, group and role names
// to the rules of keys.go, for data written under an earlier rule. It runs at
// start, before the role index loads. A row whose new key another row of its
// tenant already holds (two look-alike names stored before the rule) keeps
// its old key, so both stay reachable; the log names it.
func Rekey(ctx context.Context, db *ent.Client, log *slog.Logger) error {
	ctx = scope.System(ctx)
	tables := []struct {
		what  string
		key   func(string) string
		page  func(after keyed) ([]keyed, error)
		store func(k keyed, key string) error
	}{
		{"user name", UserNameLookup, func(after keyed) ([]keyed, error) {
			var rows []keyed
			us, err := db.User.Query().Where(user.IDGT(after.sid)).Order(ent.Asc(user.FieldID)).Limit(1000).
				Select(user.FieldID, user.FieldUserName, user.FieldUserNameKey).All(ctx)
			for _, u := range us {
				rows = append(rows, keyed{sid: u.ID, value: u.UserName, key: u.UserNameKey})
			}
			return rows, err
		}, func(k keyed, key string) error {
			return db.User.UpdateOneID(k.sid).SetUserNameKey(key).Exec(ctx)
		}},
		{"email", UserNameLookup, func(after keyed) ([]keyed, error) {
			var rows []keyed
			es, err := db.Email.Query().Where(email.IDGT(int(after.id))).Order(ent.Asc(email.FieldID)).Limit(1000).
				Select(email.FieldID, email.FieldValue, email.FieldValueKey).All(ctx)
			for _, e := range es {
				rows = append(rows, keyed{id: int64(e.ID), value: e.Value, key: e.ValueKey})
			}
			return rows, err
		}, func(k keyed, key string) error {
			return db.Email.UpdateOneID(int(k.id)).SetValueKey(key).Exec(ctx)
		}},
		{"group name", NameLookup, func(after keyed) ([]keyed, error) {
			var rows []keyed
			gs, err := db.Group.Query().Where(group.IDGT(after.sid)).Order(ent.Asc(group.FieldID)).Limit(1000).
				Select(group.FieldID, group.FieldDisplayName, group.FieldDisplayNameKey).All(ctx)
			for _, g := range gs {
				rows = append(rows, keyed{sid: g.ID, value: g.DisplayName, key: g.DisplayNameKey})
			}
			return rows, err
		}, func(k keyed, key string) error {
			return db.Group.UpdateOneID(k.sid).SetDisplayNameKey(key).Exec(ctx)
		}},
		{"role name", NameLookup, func(after keyed) ([]keyed, error) {
			var rows []keyed
			rs, err := db.Role.Query().Where(role.IDGT(after.sid)).Order(ent.Asc(role.FieldID)).Limit(1000).
				Select(role.FieldID, role.FieldName, role.FieldNameKey).All(ctx)
			for _, r := range rs {
				rows = append(rows, keyed{sid: r.ID, value: r.Name, key: r.NameKey})
			}
			return rows, err
		}, func(k keyed, key string) error {
			return db.Role.UpdateOneID(k.sid).SetNameKey(key).Exec(ctx)
		}},
	}
	for _, t := range tables {
		var after keyed
		for {
			rows, err := t.page(after)
			if err != nil {
				return fmt.Errorf("rekey %ss: %w", t.what, err)
			}
			for _, r := range rows {
				key := t.key(r.value)
				if key == r.key {
					continue
				}
				switch err := t.store(r, key); {
				case ent.IsConstraintError(err):
					id := r.sid
					if id == "" {
						id = fmt.Sprint(r.id)
					}
					log.WarnContext(ctx, "a stored name is a look-alike of another; it keeps its old key", "kind", t.what, "id", id)
				case err != nil:
					return fmt.Errorf("rekey %s: %w", t.what, err)
				}
			}
			if len(rows) == 0 {
				break
			}
			after = rows[len(rows)-1]
		}
	}
	return nil
}
