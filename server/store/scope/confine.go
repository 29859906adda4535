package scope

import (
	"context"
	"fmt"
	"slices"

	"entgo.io/ent/dialect/sql"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/accesskey"
	"github.com/acme/identity/ent/auditevent"
	"github.com/acme/identity/ent/authcode"
	"github.com/acme/identity/ent/email"
	"github.com/acme/identity/ent/group"
	"github.com/acme/identity/ent/groupmembership"
	"github.com/acme/identity/ent/grouprole"
	"github.com/acme/identity/ent/intercept"
	"github.com/acme/identity/ent/oauthclient"
	"github.com/acme/identity/ent/pendinglogin"
	"github.com/acme/identity/ent/refreshtoken"
	"github.com/acme/identity/ent/role"
	"github.com/acme/identity/ent/roleassignment"
	"github.com/acme/identity/ent/samlconfig"
	"github.com/acme/identity/ent/scimtoken"
	"github.com/acme/identity/ent/seenassertion"
	"github.com/acme/identity/ent/session"
	"github.com/acme/identity/ent/signingkey"
	"github.com/acme/identity/ent/tenant"
	"github.com/acme/identity/ent/tenantcount"
	"github.com/acme/identity/ent/tenantdomain"
	"github.com/acme/identity/ent/user"
)

// scoped is what ent generates on every entity client.
type scoped interface {
	Intercept(...ent.Interceptor)
	Use(...ent.Hook)
}

// Confine installs the scope's interceptors and hooks on every project- and
// tenant-owned entity of client. store.Open calls it on every client it
// opens.
func Confine(client *ent.Client) {
	tenantOwned, projectOwned := owned(client)
	for _, c := range tenantOwned {
		install(c, TenantRows, func(ctx context.Context, m ent.Mutation) error {
			return CheckCreate(ctx, stringField(m, "tenant_id"))
		})
	}
	projectCreate := func(ctx context.Context, m ent.Mutation) error {
		return CheckProject(ctx, stringField(m, "project_id"))
	}
	// A tenant-scoped request sees its own tenant's row of the tenants
	// table, and its own tenant's audit events.
	tenantColumn := map[string]string{tenant.Table: "id", auditevent.Table: "tenant_id"}
	for table, c := range projectOwned {
		column := tenantColumn[table]
		install(c, func(ctx context.Context) (func(*sql.Selector), error) { return ProjectRows(ctx, column) }, projectCreate)
	}
}

// owned maps the tables of tenant- and of project-owned entities to their
// clients. The change log (written only by store.Writer, read by the
// change-log follower and by the audit trail, whose queries name the
// caller's project themselves) and projects are the service's own.
func owned(client *ent.Client) (tenantOwned, projectOwned map[string]scoped) {
	return map[string]scoped{
			user.Table: client.User, email.Table: client.Email, group.Table: client.Group,
			groupmembership.Table: client.GroupMembership, role.Table: client.Role,
			roleassignment.Table: client.RoleAssignment, grouprole.Table: client.GroupRole,
			samlconfig.Table: client.SamlConfig, scimtoken.Table: client.ScimToken,
			pendinglogin.Table: client.PendingLogin, authcode.Table: client.AuthCode,
			seenassertion.Table: client.SeenAssertion, session.Table: client.Session,
			refreshtoken.Table: client.RefreshToken, tenantdomain.Table: client.TenantDomain,
			tenantcount.Table: client.TenantCount,
		}, map[string]scoped{
			tenant.Table: client.Tenant, accesskey.Table: client.AccessKey, oauthclient.Table: client.OAuthClient,
			signingkey.Table: client.SigningKey, auditevent.Table: client.AuditEvent,
		}
}

// tenantTables are the tables of tenant-owned entities.
var tenantTables = func() map[string]bool {
	tenantOwned, _ := owned(ent.NewClient())
	out := make(map[string]bool, len(tenantOwned))
	for t := range tenantOwned {
		out[t] = true
	}
	return out
}()

// TenantOwned says whether table holds rows of one tenant each (its
// creates are checked with CheckCreate).
func TenantOwned(table string) bool { return tenantTables[table] }

// Confined returns the tables Confine confines, for tests.
func Confined() []string {
	tenantOwned, projectOwned := owned(ent.NewClient())
	var out []string
	for t := range tenantOwned {
		out = append(out, t)
	}
	for t := range projectOwned {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

type wherer interface {
	WhereP(...func(*sql.Selector))
}

// install adds pred(ctx) to every query, update and delete of c, and checks
// its creates with create.
func install(c scoped, pred func(context.Context) (func(*sql.Selector), error), create func(context.Context, ent.Mutation) error) {
	where := func(ctx context.Context, w wherer) error {
		p, err := pred(ctx)
		if err != nil || p == nil {
			return err
		}
		w.WhereP(p)
		return nil
	}
	c.Intercept(intercept.TraverseFunc(func(ctx context.Context, q intercept.Query) error { return where(ctx, q) }))
	c.Use(func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			var err error
			if m.Op().Is(ent.OpCreate) {
				err = create(ctx, m)
			} else if w, ok := m.(wherer); ok {
				err = where(ctx, w)
			} else {
				err = fmt.Errorf("%T cannot be scoped", m)
			}
			if err != nil {
				return nil, err
			}
			return next.Mutate(ctx, m)
		})
	})
}

func stringField(m ent.Mutation, name string) string {
	v, _ := m.Field(name)
	s, _ := v.(string)
	return s
}
