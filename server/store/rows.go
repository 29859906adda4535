package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/change"
	"github.com/acme/identity/ent/tenantcount"
	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/store/scope"
)

// Row is a row of a tenant-owned table to insert, its values as the
// database driver takes them and as ent would pass them: JSON columns
// marshalled to json.RawMessage, enums as strings, times as time.Time.
type Row struct {
	Table   string
	Columns []string
	Values  []any
}

// tenantID returns the row's tenant_id value ("" without one).
func (r Row) tenantID() string {
	if i := slices.Index(r.Columns, "tenant_id"); i >= 0 {
		s, _ := r.Values[i].(string)
		return s
	}
	return ""
}

// Insertion is a write that only adds rows of the caller's tenant, whose
// uniqueness unique indexes guard, and checks nothing it read: a user
// create. See Writer.InsertRows.
type Insertion struct {
	// Now is the write's time, as stored.
	Now    time.Time
	rows   []Row
	events []changelog.Event
	counts []countDelta
}

// NewInsertion starts an insertion at the writer's current time.
func (w *Writer) NewInsertion() *Insertion { return &Insertion{Now: Now(w.now)} }

// Add adds rows, inserted in the order added: a row before the rows that
// reference it.
func (in *Insertion) Add(rows ...Row) { in.rows = append(in.rows, rows...) }

// Record adds events to the write's change-log entries.
func (in *Insertion) Record(events ...changelog.Event) { in.events = append(in.events, events...) }

// Count adds delta to the number of the tenant's rows of kind (see
// Tx.Count).
func (in *Insertion) Count(tenantID string, kind tenantcount.Kind, delta int64) {
	in.counts = append(in.counts, countDelta{TenantID: tenantID, Kind: kind, N: delta})
}

// InsertRows runs an insertion as Insert runs a write, with one difference on
// PostgreSQL: its statements (the rows, then its change-log entries) go to
// the database in one round trip, as a pipeline that PostgreSQL runs as one
// implicit transaction, in order, the first failure rolling back the rest,
// instead of five (BEGIN, three inserts, COMMIT). The tenant is found in the
// caller's project first, unless the scope already vouches for it (the SCIM
// gateway's credential names it): a tenant never changes projects, and the
// rows must reference the tenant (a foreign key), which fails if the tenant
// was deleted meanwhile (see scope.WithKnownTenant). A failed row is the database's error,
// wrapped: the caller maps its constraint violations (apierr.UniqueViolation,
// apierr.ForeignKeyViolation). An insertion must record an event.
//
// One round trip once the connection has the statements prepared: pgx
// prepares a statement text new to a connection first (one more round trip;
// the emails' statement differs by their number), and after a batch fails
// (a user name taken) it prepares that batch's statements again on that
// connection.
//
// Why: a user create spent about half of both sides' CPU on its round trips
// (each a write and a read on both ends of the socket). Measured with
// cmd/writebench on the 2-core CI machine, the benchmark's own bare
// transaction cost 111 µs of the client's CPU and 193 µs of PostgreSQL's;
// pipelined, 46 µs and 117 µs. ent runs statements one at a time, and
// database/sql has no pipeline, so the statements are written here (from
// ent's table and column names) and sent through pgx's batch on the pool's
// connection.
func (w *Writer) InsertRows(ctx context.Context, in *Insertion) (int64, error) {
	sc, ok := scope.From(ctx)
	if !ok || sc.ProjectID == "" || sc.TenantID == "" {
		return 0, scope.ErrUnscoped
	}
	if len(in.events) == 0 {
		return 0, errNoEvent
	}
	if w.pool == nil {
		return w.Insert(ctx, func(ctx context.Context, tx *Tx) error {
			tx.Now = in.Now // the rows were built at it
			if err := checkRows(ctx, in.rows); err != nil {
				return err
			}
			if err := insertRows(ctx, tx.Tx, in.rows); err != nil {
				return err
			}
			tx.Record(in.events...)
			tx.counts = append(tx.counts, in.counts...)
			return nil
		})
	}
	if err := RequireTenant(ctx, w.db); err != nil {
		return 0, err
	}
	sc.MarkVerified()
	if err := checkRows(ctx, in.rows); err != nil {
		return 0, err
	}
	release, err := w.share(ctx, sc.TenantID)
	if err != nil {
		return 0, err
	}
	defer release()
	st := w.newStaged(ctx, sc, in.Now, in.events, in.counts)
	entries, err := w.entries(sc.ProjectID, st)
	if err != nil {
		return 0, err
	}
	return w.commit(ctx, sc, st, release, func() error {
		if err := w.pipeline(ctx, insertStatements(append(slices.Clip(in.rows), entries...))); err != nil {
			return err
		}
		w.pipelined.Add(1)
		return nil
	})
}

// errNoEvent refuses an insertion that records no event: it would be rolled
// back as a write that changed nothing.
var errNoEvent = errors.New("an insertion records no change-log event")

// checkRows refuses rows of a table that is not tenant-owned, and of another
// tenant than the scope's, as the scope's hooks refuse ent's creates
// (scope.Confine).
func checkRows(ctx context.Context, rows []Row) error {
	for _, r := range rows {
		if !scope.TenantOwned(r.Table) || len(r.Values) != len(r.Columns) {
			return fmt.Errorf("insert into %s: not a tenant-owned table, or %d values for %d columns", r.Table, len(r.Values), len(r.Columns))
		}
		if err := scope.CheckCreate(ctx, r.tenantID()); err != nil {
			return err
		}
	}
	return nil
}

// changeRow is the row of a change-log entry (changelog.Encode), with its
// settlement, if any. Its id is the database's.
func changeRow(c *ent.Change, settlement []byte) Row {
	var s any
	if settlement != nil {
		s = settlement
	}
	return Row{
		Table: change.Table,
		Columns: []string{change.FieldProjectID, change.FieldRevision, change.FieldWriteID, change.FieldTenantID,
			change.FieldKind, change.FieldOperation, change.FieldResourceID, change.FieldUserID, change.FieldRoleID,
			change.FieldDetail, change.FieldCreateTime, change.FieldSettlement},
		Values: []any{c.ProjectID, c.Revision, c.WriteID, c.TenantID, string(c.Kind), string(c.Operation),
			c.ResourceID, c.UserID, c.RoleID, c.Detail, c.CreateTime, s},
	}
}

// insertRows inserts rows in etx.
func insertRows(ctx context.Context, etx *ent.Tx, rows []Row) error {
	for _, s := range insertStatements(rows) {
		if _, err := etx.ExecContext(ctx, s.sql, s.args...); err != nil {
			return fmt.Errorf("insert into %s: %w", s.table, err)
		}
	}
	return nil
}

// statement is one INSERT of rows of a table.
type statement struct {
	table string
	sql   string
	args  []any
}

// insertStatements returns the statements that insert rows in their order:
// one per run of rows of the same table and columns. Their parameters are
// numbered ($1), which both databases accept; names are quoted as ent
// quotes them.
func insertStatements(rows []Row) []statement {
	var out []statement
	for i := 0; i < len(rows); {
		j := i + 1
		for j < len(rows) && rows[j].Table == rows[i].Table && slices.Equal(rows[j].Columns, rows[i].Columns) {
			j++
		}
		out = append(out, insertStatement(rows[i:j]))
		i = j
	}
	return out
}

func insertStatement(rows []Row) statement {
	var b strings.Builder
	b.WriteString(`INSERT INTO "` + rows[0].Table + `" (`)
	for i, c := range rows[0].Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`"` + c + `"`)
	}
	b.WriteString(") VALUES ")
	args := make([]any, 0, len(rows)*len(rows[0].Columns))
	for i, r := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j, v := range r.Values {
			if j > 0 {
				b.WriteString(", ")
			}
			args = append(args, v)
			b.WriteString("$" + strconv.Itoa(len(args)))
		}
		b.WriteByte(')')
	}
	return statement{table: rows[0].Table, sql: b.String(), args: args}
}
