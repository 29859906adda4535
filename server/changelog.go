package server

import (
	"context"
	"fmt"
	"time"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/change"
	"github.com/acme/identity/ent/tenant"
)

// changeSet collects the change-log entries of one write transaction.
type changeSet struct {
	projectID string
	// revision is the revision this write commits as; resources it touches take
	// it as their version.
	revision int64
	now      time.Time
	entries  []*ent.ChangeCreate
	tx       *ent.Tx
}

// add records one entry and returns it, for the fields only some kinds carry
// (the role of a group_role entry). resourceID is the resource the entry is
// about; userID is the member or assignee of group_member and role_assignment
// entries.
func (cs *changeSet) add(tenantID string, kind change.Kind, op change.Operation, resourceID, userID string) *ent.ChangeCreate {
	c := cs.tx.Change.Create().
		SetProjectID(cs.projectID).
		SetRevision(cs.revision).
		SetTenantID(tenantID).
		SetKind(kind).
		SetOperation(op).
		SetResourceID(resourceID).
		SetUserID(userID).
		SetCreateTime(cs.now)
	cs.entries = append(cs.entries, c)
	return c
}

// write runs fn in one transaction and appends its change-log entries in that
// same transaction, so the log never misses a committed write nor holds an
// uncommitted one. It returns the write's revision.
//
// Revision order is commit order: the transaction first increments the
// project's revision counter. On PostgreSQL that UPDATE takes the project row's
// lock, which the transaction holds until it commits or rolls back, so a
// second writer of the same project waits at its own increment and reads the
// committed value; revisions are therefore handed out one transaction at a
// time, and no revision becomes visible before a smaller one. On SQLite every
// transaction begins IMMEDIATE (see OpenDatabase), which serializes writers of
// the whole database the same way. A rolled-back write leaves no gap.
//
// When fn records no entry (an idempotent call that changed nothing), the
// transaction rolls back and write returns the current revision, which already
// reflects the requested state.
func (srv *Server) write(ctx context.Context, projectID string, fn func(ctx context.Context, cs *changeSet) error) (int64, error) {
	tx, err := srv.db.Tx(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	rollback := func(err error) (int64, error) {
		if rerr := tx.Rollback(); rerr != nil {
			srv.log.WarnContext(ctx, "rollback failed", "error", rerr)
		}
		return 0, err
	}
	p, err := tx.Project.UpdateOneID(projectID).AddRevision(1).Save(ctx)
	if err != nil {
		if ent.IsNotFound(err) {
			return rollback(notFound("project", projectID))
		}
		return rollback(fmt.Errorf("increment revision: %w", err))
	}
	cs := &changeSet{projectID: projectID, revision: p.Revision, now: srv.clock(), tx: tx}
	if err := fn(ctx, cs); err != nil {
		return rollback(err)
	}
	if len(cs.entries) == 0 {
		if _, err := rollback(nil); err != nil {
			return 0, err
		}
		return p.Revision - 1, nil
	}
	if err := tx.Change.CreateBulk(cs.entries...).Exec(ctx); err != nil {
		return rollback(fmt.Errorf("append change log: %w", err))
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	// The write returns once this instance's role index and credential cache
	// hold it, so checks and revocations take effect from the next request. The
	// write is committed either way: a slow index is logged, not failed.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.index.committed(wctx, projectID, p.Revision); err != nil {
		srv.log.WarnContext(ctx, "role index behind a committed write", "revision", p.Revision, "error", err)
	}
	return p.Revision, nil
}

// requireTenant fails with NotFound unless the project owns the tenant; it is
// the check that keeps tenants of other projects invisible. c is the client of
// a transaction (cs.tx.Tenant) or of the database for reads.
func requireTenant(ctx context.Context, c *ent.TenantClient, projectID, tenantID string) error {
	ok, err := c.Query().Where(tenant.ID(tenantID), tenant.ProjectID(projectID)).Exist(ctx)
	if err != nil {
		return fmt.Errorf("find tenant: %w", err)
	}
	if !ok {
		return notFound("tenant", tenantID)
	}
	return nil
}

// deleteInTenant deletes one user, group or role of a tenant with del (which
// returns how many rows it deleted) and logs it; NotFound when there was none.
func (srv *Server) deleteInTenant(ctx context.Context, tenantID string, kind change.Kind, id string,
	del func(ctx context.Context, tx *ent.Tx) (int, error)) (int64, error) {
	projectID := principalFrom(ctx).ProjectID
	return srv.write(ctx, projectID, func(ctx context.Context, cs *changeSet) error {
		if err := requireTenant(ctx, cs.tx.Tenant, projectID, tenantID); err != nil {
			return err
		}
		n, err := del(ctx, cs.tx)
		if err != nil {
			return fmt.Errorf("delete %s: %w", kind, err)
		}
		if n == 0 {
			return notFound(string(kind), id)
		}
		cs.add(tenantID, kind, change.OperationDelete, id, "")
		return nil
	})
}

// versionIs checks the version a query selects (one row's version field)
// against expected; a missing row is left to the caller's delete to report.
func versionIs(ctx context.Context, q interface {
	Ints(context.Context) ([]int, error)
}, expected int64) error {
	if expected == 0 {
		return nil
	}
	vs, err := q.Ints(ctx)
	if err != nil {
		return fmt.Errorf("read version: %w", err)
	}
	if len(vs) == 0 {
		return nil
	}
	return checkVersion(int64(vs[0]), expected)
}
