package scope

import (
	"context"
	"fmt"

	"entgo.io/ent/dialect/sql"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/intercept"
)

// scoped is what ent generates on every entity client.
type scoped interface {
	Intercept(...ent.Interceptor)
	Use(...ent.Hook)
}

// Confine installs the scope's interceptors and hooks on every project- and
// tenant-owned entity of client. store.Open calls it on every client it
// opens; confine_test.go fails when an entity with a tenant_id or project_id
// column is missing here.
func Confine(client *ent.Client) {
	tenantOwned := []scoped{
		client.User, client.Email, client.Group, client.GroupMembership, client.Role,
		client.RoleAssignment, client.GroupRole, client.SamlConfig, client.ScimToken,
	}
	for _, c := range tenantOwned {
		install(c, TenantRows, func(ctx context.Context, m ent.Mutation) error {
			return CheckCreate(ctx, stringField(m, "tenant_id"))
		})
	}
	projectCreate := func(ctx context.Context, m ent.Mutation) error {
		return CheckProject(ctx, stringField(m, "project_id"))
	}
	install(client.Tenant, func(ctx context.Context) (func(*sql.Selector), error) { return ProjectRows(ctx, "id") }, projectCreate)
	install(client.AccessKey, func(ctx context.Context) (func(*sql.Selector), error) { return ProjectRows(ctx, "") }, projectCreate)
}

// Confined lists the tables Confine scopes, for its test. The change log
// (read only by the follower and written only by store.Writer) and projects
// are the service's own.
var Confined = []string{
	"users", "emails", "groups", "group_memberships", "roles", "role_assignments", "group_roles",
	"saml_configs", "scim_tokens", "tenants", "access_keys",
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
