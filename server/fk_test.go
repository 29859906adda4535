package server_test

import (
	"testing"
	"time"

	"github.com/acme/identity/server/apierr"
	"github.com/acme/identity/server/store/scope"
)

// TestForeignKeyViolation checks, on each database, the test a user create
// uses to tell a tenant deleted under it (NotFound) from a taken name
// (AlreadyExists): both are constraint errors.
func TestForeignKeyViolation(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		e := newEnv(t, db)
		tid := e.tenant(t)
		ctx := scope.System(e.ctx)
		now := time.Now()
		create := func(tenantID, name string) error {
			return e.db.User.Create().SetID(newUUID()).SetTenantID(tenantID).SetUserName(name).SetUserNameKey(name).
				SetCreateTime(now).SetUpdateTime(now).SetVersion(1).Exec(ctx)
		}
		if err := create(tid, "taken"); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name, tenant, user string
			want               bool
		}{
			{"a tenant that does not exist", newUUID(), "someone", true},
			{"a name taken in the tenant", tid, "taken", false},
		} {
			err := create(c.tenant, c.user)
			if err == nil || apierr.ForeignKeyViolation(err) != c.want {
				t.Errorf("%s: %v, foreign key violation %v", c.name, err, apierr.ForeignKeyViolation(err))
			}
		}
	})
}
