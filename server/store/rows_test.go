package store_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/acme/identity/ent/auditevent"
	"github.com/acme/identity/ent/change"
	"github.com/acme/identity/ent/email"
	"github.com/acme/identity/ent/user"
	"github.com/acme/identity/server/apierr"
	"github.com/acme/identity/server/audit"
	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/instance/instancetest"
	"github.com/acme/identity/server/store"
	"github.com/acme/identity/server/store/scope"
)

// userRow is a row of user id of tenant, every column without a default
// set.
func userRow(tenant, id, name string, now time.Time) store.Row {
	return store.Row{Table: user.Table,
		Columns: []string{user.FieldID, user.FieldCreateTime, user.FieldUpdateTime, user.FieldVersion, user.FieldTenantID,
			user.FieldUserName, user.FieldUserNameKey, user.FieldExternalID, user.FieldGivenName, user.FieldFamilyName,
			user.FieldMiddleName, user.FieldHonorificPrefix, user.FieldHonorificSuffix, user.FieldFormattedName,
			user.FieldDisplayName, user.FieldActive},
		Values: []any{id, now, now, int64(1), tenant, name, name, "", "", "", "", "", "", "", "", true}}
}

func emailRow(tenant, userID, value string) store.Row {
	return store.Row{Table: email.Table,
		Columns: []string{email.FieldTenantID, email.FieldUserID, email.FieldValue, email.FieldValueKey, email.FieldType,
			email.FieldPrimary, email.FieldDisplay, email.FieldPosition},
		Values: []any{tenant, userID, value, value, "work", true, "", 0}}
}

// TestInsertRows runs insertions on both databases (on PostgreSQL
// pipelined, on SQLite in the write's transaction), their tenant vouched for
// by the scope (as the SCIM gateway's is) or found first, and requires each
// to be all or nothing: a row a unique index refuses, a row whose parent is
// missing after rows that were fine, a row of another tenant and a row of a
// table no tenant owns leave no row and no change-log entry, and the
// database's violation reaches the caller; another project's tenant is
// NotFound.
func TestInsertRows(t *testing.T) {
	type outcome int
	const (
		stored outcome = iota
		duplicate
		takenID
		missingParent
		refused
	)
	cases := []struct {
		name string
		rows func(now time.Time) []store.Row
		want outcome
	}{
		{"a user and its email", func(now time.Time) []store.Row {
			return []store.Row{userRow("t", "u-new", "new", now), emailRow("t", "u-new", "new@example.com"), emailRow("t", "u-new", "2@example.com")}
		}, stored},
		{"a taken user name", func(now time.Time) []store.Row {
			return []store.Row{userRow("t", "u-dup", "ada", now), emailRow("t", "u-dup", "dup@example.com")}
		}, duplicate},
		{"a taken id", func(now time.Time) []store.Row {
			return []store.Row{userRow("t", "u-ada", "someone", now)}
		}, takenID},
		{"an email of no user after a new user", func(now time.Time) []store.Row {
			return []store.Row{userRow("t", "u-orphan", "orphan", now), emailRow("t", "nobody", "orphan@example.com")}
		}, missingParent},
		{"a row of another tenant", func(now time.Time) []store.Row {
			return []store.Row{userRow("t", "u-other", "other", now), userRow("t2", "u-t2", "t2", now)}
		}, refused},
		{"a row of a table no tenant owns", func(now time.Time) []store.Row {
			return []store.Row{userRow("t", "u-audit", "audit", now),
				{Table: auditevent.Table, Columns: []string{auditevent.FieldProjectID, auditevent.FieldTenantID}, Values: []any{"other", "t"}}}
		}, refused},
	}
	for _, d := range instancetest.Databases() {
		for _, vouched := range []bool{true, false} {
			name := d.Name + "/tenant found"
			if vouched {
				name = d.Name + "/vouched for"
			}
			t.Run(name, func(t *testing.T) {
				sys := scope.System(context.Background())
				sqlite := d.Name == "sqlite"
				db, now, w, _ := openFollowed(t, d.URL(t), sqlite)
				db.Project.Create().SetID("q").SetDisplayName("q").SetCreateTime(now).SetUpdateTime(now).ExecX(sys)
				for id, project := range map[string]string{"t2": "p", "q1": "q"} {
					db.Tenant.Create().SetID(id).SetProjectID(project).SetDisplayName(id).SetCreateTime(now).SetUpdateTime(now).SetVersion(1).ExecX(sys)
				}
				scoped := func() context.Context {
					ctx := scope.WithTenant(context.Background(), "p", "t")
					if vouched {
						ctx = scope.WithKnownTenant(context.Background(), "p", "t")
					}
					return audit.With(ctx, audit.Request{ActorKind: auditevent.ActorKindScimToken, ActorID: "token",
						Source: auditevent.SourceScim, Gateway: true})
				}
				insert := func(rows ...store.Row) error {
					in := w.NewInsertion()
					in.Add(rows...)
					in.Record(changelog.UserCreated{Tenant: "t", User: changelog.UserID(rows[0].Values[0].(string))})
					_, err := w.InsertRows(scoped(), in)
					return err
				}
				if err := insert(userRow("t", "u-ada", "ada", now)); err != nil {
					t.Fatal(err)
				}
				for _, c := range cases {
					rows := c.rows(now)
					entries := db.Change.Query().CountX(sys)
					err := insert(rows...)
					switch c.want {
					case stored:
						if err != nil {
							t.Fatalf("%s: %v", c.name, err)
						}
					case duplicate:
						if !apierr.UniqueViolation(err, user.Table, user.FieldTenantID, user.FieldUserNameKey) {
							t.Fatalf("%s: %v, want the user name's unique violation", c.name, err)
						}
					case takenID:
						if err == nil || apierr.UniqueViolation(err, user.Table, user.FieldTenantID, user.FieldUserNameKey) {
							t.Fatalf("%s: %v, want another violation than the user name's", c.name, err)
						}
					case missingParent:
						if !apierr.ForeignKeyViolation(err) {
							t.Fatalf("%s: %v, want a foreign key violation", c.name, err)
						}
					case refused:
						if err == nil || apierr.ForeignKeyViolation(err) {
							t.Fatalf("%s: %v, want the scope's refusal", c.name, err)
						}
					}
					users := db.User.Query().Where(user.ID(rows[0].Values[0].(string))).CountX(sys)
					emails := db.Email.Query().Where(email.UserID(rows[0].Values[0].(string))).CountX(sys)
					got := db.Change.Query().CountX(sys) - entries
					if c.want == stored {
						if users != 1 || emails != 2 || got != 1 {
							t.Fatalf("%s: %d users, %d emails, %d entries stored, want 1, 2, 1", c.name, users, emails, got)
						}
						continue
					}
					if c.want == takenID {
						users, emails = 0, 0 // the row of that id is ada's
					}
					if users != 0 || emails != 0 || got != 0 || db.User.Query().Where(user.TenantID("t2")).CountX(sys) != 0 {
						t.Fatalf("%s failed but stored %d users, %d emails, %d entries", c.name, users, emails, got)
					}
				}
				if !vouched {
					// another project's tenant, whose id the caller names
					in := w.NewInsertion()
					in.Add(userRow("q1", "u-q1", "q1", now))
					in.Record(changelog.UserCreated{Tenant: "q1", User: "u-q1"})
					_, err := w.InsertRows(scope.WithTenant(context.Background(), "p", "q1"), in)
					if st, ok := status.FromError(apierr.ToStatus(context.Background(), slog.New(slog.DiscardHandler), "", err)); !ok || st.Code() != codes.NotFound {
						t.Fatalf("another project's tenant: %v, want NotFound", err)
					}
					if db.User.Query().Where(user.TenantID("q1")).ExistX(sys) {
						t.Fatal("a row of another project's tenant was stored")
					}
				}
				if pipelined := w.Pipelined(); !sqlite && pipelined != 2 {
					t.Fatalf("%d insertions pipelined, want the two that succeeded", pipelined)
				} else if sqlite && pipelined != 0 {
					t.Fatalf("%d insertions pipelined on SQLite", pipelined)
				}
				// Every entry is numbered, with no gap.
				ctx, cancel := context.WithTimeout(sys, 10*time.Second)
				defer cancel()
				for db.Change.Query().Where(change.Revision(0)).ExistX(ctx) {
					if ctx.Err() != nil {
						t.Fatal("entries left unnumbered")
					}
					time.Sleep(10 * time.Millisecond)
				}
				revs := db.Change.Query().Order(change.ByRevision()).Select(change.FieldRevision).IntsX(sys)
				for i, r := range revs {
					if r != revs[0]+i {
						t.Fatalf("revisions %v have a gap", revs)
					}
				}
			})
		}
	}
}
