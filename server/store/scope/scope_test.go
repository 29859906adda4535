package scope_test

import (
	"context"
	"testing"
	"time"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/schema"
	"github.com/acme/identity/server/store"
	"github.com/acme/identity/server/store/scope"
)

// TestScopes reads and writes one project's rows under each kind of scope,
// straight through ent: what each sees, and what it may create.
func TestScopes(t *testing.T) {
	bg := context.Background()
	db, err := store.Open(bg, store.SQLiteURL(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sys := scope.System(bg)
	now := time.Now().UTC()
	seed := func(projectID, tenantID string) {
		t.Helper()
		db.Project.Create().SetID(projectID).SetDisplayName(projectID).SetCreateTime(now).SetUpdateTime(now).ExecX(sys)
		db.Tenant.Create().SetID(tenantID).SetProjectID(projectID).SetDisplayName(tenantID).
			SetCreateTime(now).SetUpdateTime(now).SetVersion(1).ExecX(sys)
		db.AccessKey.Create().SetID(projectID + "-key").SetProjectID(projectID).SetName("k").SetSecretHash([]byte{1}).
			SetRoleBindings([]schema.RoleBinding{{Role: "Project Admin"}}).SetCreateTime(now).ExecX(sys)
		db.User.Create().SetID(tenantID + "-user").SetTenantID(tenantID).SetUserName("u").SetUserNameKey("u").
			SetCreateTime(now).SetUpdateTime(now).SetVersion(1).ExecX(sys)
	}
	seed("p1", "t1")
	seed("p2", "t2")
	db.Tenant.Create().SetID("t1b").SetProjectID("p1").SetDisplayName("t1b").SetCreateTime(now).SetUpdateTime(now).SetVersion(1).ExecX(sys)

	cases := []struct {
		name                 string
		ctx                  context.Context
		tenants, keys, users int
		unscoped             bool
	}{
		{"system sees everything", sys, 3, 2, 2, false},
		{"project sees its tenants, keys and users", scope.WithProject(bg, "p1"), 2, 1, 1, false},
		{"tenant sees itself and its users, no keys", scope.WithTenant(bg, "p1", "t1"), 1, 0, 1, false},
		{"another tenant of the project sees none of t1's users", scope.WithTenant(bg, "p1", "t1b"), 1, 0, 0, false},
		{"a tenant named under the wrong project sees nothing", scope.WithTenant(bg, "p2", "t1"), 0, 0, 0, false},
		{"no scope reads nothing", bg, 0, 0, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			counts := []struct {
				what string
				n    func(context.Context) (int, error)
				want int
			}{
				{"tenants", db.Tenant.Query().Count, c.tenants},
				{"keys", db.AccessKey.Query().Count, c.keys},
				{"users", db.User.Query().Count, c.users},
			}
			for _, q := range counts {
				n, err := q.n(c.ctx)
				if c.unscoped {
					if err == nil {
						t.Errorf("%s: counted %d without a scope", q.what, n)
					}
					continue
				}
				if err != nil || n != q.want {
					t.Errorf("%s: got %d (%v), want %d", q.what, n, err, q.want)
				}
			}
		})
	}

	// Rows of a tenant are created only in a scope of that tenant that a
	// write verified (store.Writer does), and updates stay in the scope.
	create := func(ctx context.Context) error {
		return db.User.Create().SetID(store.NewID()).SetTenantID("t1").SetUserName("v").SetUserNameKey("v").
			SetCreateTime(now).SetUpdateTime(now).SetVersion(1).Exec(ctx)
	}
	if err := create(scope.WithProject(bg, "p1")); err == nil {
		t.Error("created a user of t1 in the project's scope")
	}
	unverified := scope.WithTenant(bg, "p1", "t1")
	if err := create(unverified); err == nil {
		t.Error("created a user of t1 before the tenant was verified")
	}
	s, _ := scope.From(unverified)
	s.MarkVerified()
	if err := create(unverified); err != nil {
		t.Errorf("verified scope of t1: %v", err)
	}
	if n, err := db.User.Update().SetDisplayName("x").Save(scope.WithTenant(bg, "p1", "t1b")); err != nil || n != 0 {
		t.Errorf("an update in t1b's scope changed %d users of other tenants (%v)", n, err)
	}
	if _, err := db.User.Delete().Exec(bg); err == nil {
		t.Error("deleted without a scope")
	}
	if !ent.IsNotFound(db.User.UpdateOneID("t1-user").SetDisplayName("x").Exec(scope.WithTenant(bg, "p1", "t1b"))) {
		t.Error("updated t1's user by id in t1b's scope")
	}
}
