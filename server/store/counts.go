package store

import (
	"context"
	stdsql "database/sql"
	"encoding/json"
	"fmt"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/change"
	"github.com/acme/identity/ent/group"
	"github.com/acme/identity/ent/tenant"
	"github.com/acme/identity/ent/tenantcount"
	"github.com/acme/identity/ent/user"
	"github.com/acme/identity/server/store/scope"
)

// Count adds delta to the number of the tenant's rows of kind (a user or
// group create adds 1, a delete -1), when the write is settled (see Settler).
func (tx *Tx) Count(tenantID string, kind tenantcount.Kind, delta int64) {
	tx.counts = append(tx.counts, countDelta{TenantID: tenantID, Kind: kind, N: delta})
}

// addCountSQL adds $3 to the count of kind $2 of tenant $1, if the tenant
// exists, at shard 0 (see the schema of TenantCount). Both databases accept
// the statement as written (SQLite needs the WHERE to read ON CONFLICT as
// the upsert's).
var addCountSQL = "INSERT INTO " + tenantcount.Table + " (" + tenantcount.FieldTenantID + ", " + tenantcount.FieldKind + ", " +
	tenantcount.FieldShard + ", " + tenantcount.FieldN + ") SELECT " + tenant.FieldID + ", $2, 0, $3 FROM " + tenant.Table +
	" WHERE " + tenant.FieldID + " = $1 ON CONFLICT (" + tenantcount.FieldTenantID + ", " + tenantcount.FieldKind + ", " +
	tenantcount.FieldShard + ") DO UPDATE SET " + tenantcount.FieldN + " = " + tenantcount.Table + "." + tenantcount.FieldN +
	" + excluded." + tenantcount.FieldN

// totalSQL reads, in one statement (one snapshot), the counts of kind $2 of
// tenant $1 and the settlements of its writes not numbered yet, whose
// deltas are not in the counts yet. The 0 of "revision = 0" is written into
// the statement so that the planner uses the partial index of unnumbered
// entries (see changelog.unnumbered).
var totalSQL = "SELECT 0, " + change.FieldSettlement + " FROM " + change.Table + " WHERE " + change.FieldRevision + " = 0 AND " +
	change.FieldTenantID + " = $1 AND " + change.FieldSettlement + " IS NOT NULL UNION ALL SELECT " + tenantcount.FieldN +
	", NULL FROM " + tenantcount.Table + " WHERE " + tenantcount.FieldTenantID + " = $1 AND " + tenantcount.FieldKind + " = $2"

// Total returns the number of rows of kind of the tenant ctx is scoped to,
// from its counts: a few rows read instead of every row counted.
func Total(ctx context.Context, db *ent.Client, kind tenantcount.Kind) (int, error) {
	sc, ok := scope.From(ctx)
	if !ok || sc.TenantID == "" {
		return 0, scope.ErrUnscoped
	}
	n, err := total(ctx, db, sc.TenantID, kind)
	if err != nil {
		return 0, fmt.Errorf("read %s count: %w", kind, err)
	}
	return int(n), nil
}

// querier is what total reads through: a client or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*stdsql.Rows, error)
}

func total(ctx context.Context, db querier, tenantID string, kind tenantcount.Kind) (int64, error) {
	rows, err := db.QueryContext(ctx, totalSQL, tenantID, string(kind))
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var n int64
	for rows.Next() {
		var counted int64
		var pending []byte
		if err := rows.Scan(&counted, &pending); err != nil {
			return 0, err
		}
		n += counted
		if pending == nil {
			continue
		}
		var s settlement
		if json.Unmarshal(pending, &s) != nil {
			continue // skipped when numbered too (Settler)
		}
		for _, d := range s.Counts {
			if d.TenantID == tenantID && d.Kind == kind {
				n += d.N
			}
		}
	}
	return n, rows.Err()
}

// Recount counts, once, the users and groups of every tenant that has no
// counters yet (a tenant stored before counters existed). It runs at start;
// on PostgreSQL each tenant's count holds the tenant's row lock, which every
// create of the tenant's rows also needs (its foreign key), and so does the
// settling of a count (the count row's foreign key), so no create is missed
// or counted twice by another instance meanwhile.
func Recount(ctx context.Context, db *ent.Client) error {
	ctx = scope.System(ctx)
	counted, err := db.TenantCount.Query().Unique(true).Select(tenantcount.FieldTenantID).Strings(ctx)
	if err != nil {
		return fmt.Errorf("read counted tenants: %w", err)
	}
	tenants, err := db.Tenant.Query().IDs(ctx)
	if err != nil {
		return fmt.Errorf("read tenants: %w", err)
	}
	done := map[string]bool{}
	for _, t := range counted {
		done[t] = true
	}
	for _, t := range tenants {
		if done[t] {
			continue
		}
		if err := recountTenant(ctx, db, t); err != nil {
			return fmt.Errorf("count tenant %s: %w", t, err)
		}
	}
	return nil
}

func recountTenant(ctx context.Context, db *ent.Client, tenantID string) error {
	tx, err := db.Tx(ctx)
	if err != nil {
		return err
	}
	err = func() error {
		// FOR UPDATE, not the writers' NO KEY UPDATE: the count must also
		// keep out the creates, whose foreign keys take FOR KEY SHARE.
		if err := findTenant(ctx, tx.Client(), tenantID, forUpdate); err != nil {
			return err
		}
		if n, err := tx.TenantCount.Query().Where(tenantcount.TenantID(tenantID)).Count(ctx); err != nil || n > 0 {
			return err // counted by another instance meanwhile
		}
		users, err := tx.User.Query().Where(user.TenantID(tenantID)).Count(ctx)
		if err != nil {
			return err
		}
		groups, err := tx.Group.Query().Where(group.TenantID(tenantID)).Count(ctx)
		if err != nil {
			return err
		}
		// Rows of writes not numbered yet are counted when they are:
		// leave their deltas out.
		pendingUsers, err := total(ctx, tx, tenantID, tenantcount.KindUser)
		if err != nil {
			return err
		}
		pendingGroups, err := total(ctx, tx, tenantID, tenantcount.KindGroup)
		if err != nil {
			return err
		}
		return tx.TenantCount.CreateBulk(
			tx.TenantCount.Create().SetTenantID(tenantID).SetKind(tenantcount.KindUser).SetShard(0).SetN(int64(users)-pendingUsers),
			tx.TenantCount.Create().SetTenantID(tenantID).SetKind(tenantcount.KindGroup).SetShard(0).SetN(int64(groups)-pendingGroups),
		).Exec(ctx)
	}()
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
