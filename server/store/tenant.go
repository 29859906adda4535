package store

import (
	"context"
	"fmt"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/project"
	"github.com/acme/identity/ent/tenant"
	"github.com/acme/identity/server/apierr"
	"github.com/acme/identity/server/store/scope"
)

// RequireTenant fails with NotFound unless the tenant the request is scoped
// to exists in the caller's project. Reads that answer about a tenant as a
// whole (lists, settings) call it, so another project's tenant is NotFound,
// not an empty answer; rows are confined to the scope whether or not they do.
func RequireTenant(ctx context.Context, db *ent.Client) error {
	sc, ok := scope.From(ctx)
	if !ok || sc.TenantID == "" {
		return scope.ErrUnscoped
	}
	if sc.Verified() { // found already: scope.WithKnownTenant, or a write of this request
		return nil
	}
	// the query runs through the scope's interceptor, which confines it to
	// the caller's project
	return findTenant(ctx, db, sc.TenantID, nil)
}

// findTenant finds the tenant in the caller's project (NotFound otherwise)
// and, with a lock (forUpdate, forNoKeyUpdate), locks its row that way until
// the transaction ends.
func findTenant(ctx context.Context, db *ent.Client, tenantID string, lock func(*entsql.Selector)) error {
	q := db.Tenant.Query().Where(tenant.ID(tenantID)).Unique(false)
	if lock != nil {
		q.Modify(lock)
	}
	ids, err := q.Limit(1).IDs(ctx)
	if err != nil {
		return fmt.Errorf("find tenant: %w", err)
	}
	if len(ids) == 0 {
		return apierr.NotFound("tenant", tenantID)
	}
	return nil
}

// lockProject finds the project and on PostgreSQL locks its row until the
// transaction ends.
func lockProject(ctx context.Context, db *ent.Client, projectID string) error {
	q := db.Project.Query().Where(project.ID(projectID)).Unique(false)
	q.Modify(forUpdate)
	ids, err := q.IDs(ctx)
	if err != nil {
		return fmt.Errorf("lock project: %w", err)
	}
	if len(ids) == 0 {
		return apierr.NotFound("project", projectID)
	}
	return nil
}

// forUpdate locks the selected rows on PostgreSQL; SQLite has no row locks
// (its transactions hold the database's write lock instead). The change
// log's sequencer has the same modifier: it cannot import this package.
func forUpdate(s *entsql.Selector) {
	if s.Dialect() == dialect.Postgres {
		s.ForUpdate()
	}
}

// forNoKeyUpdate locks the selected rows on PostgreSQL against each other's
// writers, but not against the foreign-key checks of inserts that reference
// them (which take FOR KEY SHARE): a tenant's writes that lock its row run one
// at a time, and its inserts (Writer.InsertRows: the users an IdP provisions)
// run beside them. Deleting the row still waits for those inserts, and they for
// it.
func forNoKeyUpdate(s *entsql.Selector) {
	if s.Dialect() == dialect.Postgres {
		s.For(entsql.LockNoKeyUpdate)
	}
}

// LockProjects makes project creation one at a time for the rest of tx: two
// first starts on one empty PostgreSQL database would otherwise both find no
// project and both create one. On PostgreSQL it locks the projects table
// against other writers (SHARE ROW EXCLUSIVE conflicts with itself and with
// inserts, not with reads); SQLite's transactions already hold the
// database's write lock. The dialect is read from a query's selector, the
// one place ent shows it.
func LockProjects(ctx context.Context, tx *ent.Tx) error {
	postgres := false
	q := tx.Project.Query().Limit(1)
	q.Modify(func(s *entsql.Selector) { postgres = s.Dialect() == dialect.Postgres })
	if _, err := q.IDs(ctx); err != nil {
		return fmt.Errorf("read projects: %w", err)
	}
	if !postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "LOCK TABLE "+project.Table+" IN SHARE ROW EXCLUSIVE MODE"); err != nil {
		return fmt.Errorf("lock projects: %w", err)
	}
	return nil
}
