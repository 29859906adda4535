// Package scope carries, in a request's context, the project and tenant its
// caller may touch, and confines every query and mutation of a project- or
// tenant-owned entity to it through ent interceptors and hooks installed on
// the client (Confine). It is the one chokepoint of tenant isolation: a
// service cannot forget the scope, because a query without one fails instead
// of reading across projects.
package scope

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"entgo.io/ent/dialect/sql"

	"github.com/acme/identity/ent/tenant"
)

// Scope is what a request may touch: the caller's project and, for a
// tenant-scoped request, one tenant of it (TenantID "" means every tenant of
// the project).
type Scope struct {
	ProjectID string
	TenantID  string
	// verified is set once the tenant was found in the project inside the
	// write transaction; only then may rows of the tenant be created.
	verified *atomic.Bool
	system   bool
}

type key struct{}

// WithProject scopes ctx to a project and all of its tenants.
func WithProject(ctx context.Context, projectID string) context.Context {
	return context.WithValue(ctx, key{}, &Scope{ProjectID: projectID, verified: new(atomic.Bool)})
}

// WithTenant scopes ctx to one tenant of a project.
func WithTenant(ctx context.Context, projectID, tenantID string) context.Context {
	return context.WithValue(ctx, key{}, &Scope{ProjectID: projectID, TenantID: tenantID, verified: new(atomic.Bool)})
}

// WithKnownTenant scopes ctx to one tenant of a project that the caller has
// just found there (the tenant of its credential, or a row it read), so the
// scope is verified from the start: a read about the tenant as a whole
// (store.RequireTenant) and a write that only inserts
// (store.Writer.InsertRows) need not find it again, since a tenant never changes projects and the
// rows' foreign keys to it fail an insert if it is deleted meanwhile.
func WithKnownTenant(ctx context.Context, projectID, tenantID string) context.Context {
	s := &Scope{ProjectID: projectID, TenantID: tenantID, verified: new(atomic.Bool)}
	s.verified.Store(true)
	return context.WithValue(ctx, key{}, s)
}

// System marks ctx as the service's own, seeing every project: for the
// readers that follow the change log, for authentication (which finds the
// project of a credential) and for initialization. A request's own reads never
// use it; the one exception is the public SP metadata, which finds a tenant by
// id alone and reveals only that it exists.
func System(ctx context.Context) context.Context {
	return context.WithValue(ctx, key{}, &Scope{system: true, verified: new(atomic.Bool)})
}

// From returns the scope of ctx.
func From(ctx context.Context) (*Scope, bool) {
	s, ok := ctx.Value(key{}).(*Scope)
	return s, ok
}

// ErrUnscoped is a query of project- or tenant-owned rows in a context that
// names no scope: a programming error, answered as an internal error.
var ErrUnscoped = errors.New("query of scoped rows without a scope in the context")

// MarkVerified records that the scope's tenant was found in its project.
func (s *Scope) MarkVerified() { s.verified.Store(true) }

// Verified says whether the scope's tenant was found in its project.
func (s *Scope) Verified() bool { return s.verified.Load() }

// request returns the scope of ctx, nil for the system scope.
func request(ctx context.Context) (*Scope, error) {
	s, ok := From(ctx)
	switch {
	case !ok:
		return nil, ErrUnscoped
	case s.system:
		return nil, nil
	}
	return s, nil
}

// TenantRows returns the predicate that confines rows with a tenant_id column
// to the scope (nil for the system scope).
func TenantRows(ctx context.Context) (func(*sql.Selector), error) {
	s, err := request(ctx)
	if s == nil {
		return nil, err
	}
	return func(sel *sql.Selector) {
		owned := sql.Select(sql.Table(tenant.Table).C("id")).From(sql.Table(tenant.Table)).
			Where(sql.EQ(sql.Table(tenant.Table).C("project_id"), s.ProjectID))
		if s.TenantID != "" {
			sel.Where(sql.EQ(sel.C("tenant_id"), s.TenantID))
		}
		sel.Where(sql.In(sel.C("tenant_id"), owned))
	}, nil
}

// ProjectRows returns the predicate that confines rows with a project_id
// column to the scope's project (nil for the system scope). Under a tenant's
// scope, tenantColumn names the column that must equal the tenant (the
// tenants table's own id); a table without one (access keys) shows a tenant's
// scope nothing.
func ProjectRows(ctx context.Context, tenantColumn string) (func(*sql.Selector), error) {
	s, err := request(ctx)
	if s == nil {
		return nil, err
	}
	return func(sel *sql.Selector) {
		sel.Where(sql.EQ(sel.C("project_id"), s.ProjectID))
		switch {
		case s.TenantID == "":
		case tenantColumn != "":
			sel.Where(sql.EQ(sel.C(tenantColumn), s.TenantID))
		default:
			sel.Where(sql.False())
		}
	}, nil
}

// CheckCreate refuses to create a row of tenantID unless the scope is that
// tenant, verified in the writing transaction.
func CheckCreate(ctx context.Context, tenantID string) error {
	s, err := request(ctx)
	if s == nil || err != nil {
		return err
	}
	if s.TenantID != tenantID || !s.verified.Load() {
		return fmt.Errorf("create a row of tenant %q in scope %q/%q (verified %v): refused", tenantID, s.ProjectID, s.TenantID, s.verified.Load())
	}
	return nil
}

// CheckProject refuses to create a row of projectID outside the scope.
func CheckProject(ctx context.Context, projectID string) error {
	s, err := request(ctx)
	if s == nil || err != nil {
		return err
	}
	if s.ProjectID != projectID {
		return fmt.Errorf("create a row of project %q in scope %q: refused", projectID, s.ProjectID)
	}
	return nil
}
