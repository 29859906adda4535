package store

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/group"
	"github.com/acme/identity/ent/tenantcount"
	"github.com/acme/identity/ent/user"
	"github.com/acme/identity/server/store/scope"
)

// countShards is how many rows share a tenant's count of one kind: creates
// that run side by side (see Writer.Insert) rarely pick the same row, so
// they rarely wait for each other's lock on it.
const countShards = 32

// AddCount adds delta to the number of the tenant's rows of kind, in the
// write's transaction (a user or group create adds 1, a delete -1).
func AddCount(ctx context.Context, tx *Tx, tenantID string, kind tenantcount.Kind, delta int64) error {
	err := tx.TenantCount.Create().
		SetTenantID(tenantID).SetKind(kind).SetShard(rand.IntN(countShards)).SetN(delta).
		OnConflictColumns(tenantcount.FieldTenantID, tenantcount.FieldKind, tenantcount.FieldShard).
		AddN(delta).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("count %s: %w", kind, err)
	}
	return nil
}

// Total returns the number of rows of kind of the tenant ctx is scoped to,
// from its counters: a few rows read instead of every row counted.
func Total(ctx context.Context, db *ent.Client, kind tenantcount.Kind) (int, error) {
	ns, err := db.TenantCount.Query().Where(tenantcount.KindEQ(kind)).Select(tenantcount.FieldN).Ints(ctx)
	if err != nil {
		return 0, fmt.Errorf("read %s count: %w", kind, err)
	}
	total := 0
	for _, n := range ns {
		total += n
	}
	return total, nil
}

// Recount counts, once, the users and groups of every tenant that has no
// counters yet (a tenant stored before counters existed). It runs at start;
// on PostgreSQL each tenant's count holds the tenant's row lock, which every
// create of the tenant's rows also needs (its foreign key), so no create is
// missed or counted twice by another instance meanwhile.
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
		if err := findTenant(ctx, tx.Client(), tenantID, true); err != nil {
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
		return tx.TenantCount.CreateBulk(
			tx.TenantCount.Create().SetTenantID(tenantID).SetKind(tenantcount.KindUser).SetShard(0).SetN(int64(users)),
			tx.TenantCount.Create().SetTenantID(tenantID).SetKind(tenantcount.KindGroup).SetShard(0).SetN(int64(groups)),
		).Exec(ctx)
	}()
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
