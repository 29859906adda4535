package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	"entgo.io/ent/dialect"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"modernc.org/sqlite"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/server/store/scope"
)

func init() {
	// SQLite's own lower() and upper() change only ASCII letters, while
	// the values compared with them are folded by Go (ent's case-folding
	// predicates lower the argument with strings.ToLower): "Ärzte" would not
	// even equal itself without regard to case. Overriding the two functions
	// with Go's makes SQLite fold as PostgreSQL and the rest of the service
	// do. They are registered on modernc's driver, which Open uses.
	for name, fold := range map[string]func(string) string{"lower": strings.ToLower, "upper": strings.ToUpper} {
		sqlite.MustRegisterDeterministicScalarFunction(name, 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			switch v := args[0].(type) {
			case string:
				return fold(v), nil
			case []byte:
				return fold(string(v)), nil
			case nil:
				return nil, nil
			default:
				return fold(fmt.Sprint(v)), nil
			}
		})
	}
}

// maxPostgresConns is one instance's share of PostgreSQL's connections.
const maxPostgresConns = 20

// maxSQLiteIdleConns is how many SQLite connections stay open unused.
const maxSQLiteIdleConns = 16

// SQLiteURL is the database of a data directory.
func SQLiteURL(dataDir string) string {
	return "file:" + filepath.Join(dataDir, "identity.db")
}

// SerializesWrites says whether the database of rawURL runs one write
// transaction at a time (SQLite).
func SerializesWrites(rawURL string) bool { return strings.HasPrefix(rawURL, "file:") }

// Open opens SQLite (a "file:" URL) or PostgreSQL (a "postgres://" or
// "postgresql://" URL) and migrates the schema.
//
// SQLite runs in WAL mode with foreign keys on, a busy timeout, and every
// transaction beginning IMMEDIATE: a writer takes the write lock at BEGIN, so
// writers queue instead of failing to upgrade a read lock, and change-log
// revisions follow commit order (see Writer).
func Open(ctx context.Context, rawURL string) (*ent.Client, error) {
	client, _, err := OpenWithPool(ctx, rawURL)
	return client, err
}

// OpenWithPool is Open that also returns, on PostgreSQL, the connection pool
// under the client (nil on SQLite), for the writer's pipelined insertions
// (Writer.PipelineOn): ent's client does not expose it.
func OpenWithPool(ctx context.Context, rawURL string) (*ent.Client, *sql.DB, error) {
	var drv *entsql.Driver
	var pg *sql.DB
	switch {
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		db, err := sql.Open("pgx", rawURL)
		if err != nil {
			return nil, nil, fmt.Errorf("open postgres: %w", err)
		}
		pg = db
		// A bounded pool: beyond it, requests queue for a connection instead
		// of exhausting the server's (PostgreSQL's default is 100 for all
		// clients, and several instances share it).
		db.SetMaxOpenConns(maxPostgresConns)
		db.SetMaxIdleConns(maxPostgresConns)
		db.SetConnMaxIdleTime(5 * time.Minute)
		drv = entsql.OpenDB(dialect.Postgres, db)
	case strings.HasPrefix(rawURL, "file:"):
		q := url.Values{}
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "synchronous(NORMAL)")
		// checkpoints run in the background instead (Checkpoint)
		q.Add("_pragma", "wal_autocheckpoint(0)")
		// LIKE compares as = does (by case), as on PostgreSQL: a caseExact
		// attribute's co, sw and ew must not ignore case; the case-folding
		// predicates lower both sides themselves.
		q.Add("_pragma", "case_sensitive_like(1)")
		// A write of a shared transaction (see batcher) keeps the pages it
		// may have to roll back to in a statement journal: in memory, not a
		// temporary file written page by page. Sorts and other temporary
		// tables move to memory too; they hold a query's rows, which its
		// page size bounds.
		q.Add("_pragma", "temp_store(MEMORY)")
		q.Set("_txlock", "immediate")
		sep := "?"
		if strings.Contains(rawURL, "?") {
			sep = "&"
		}
		db, err := openSQLite(rawURL + sep + q.Encode())
		if err != nil {
			return nil, nil, fmt.Errorf("open sqlite: %w", err)
		}
		// Connections stay open between requests: database/sql keeps two
		// idle by default, so under a few concurrent requests most queries
		// opened a connection (the file, its pragmas) and closed it again,
		// about a tenth of the CPU under a SCIM flood. Each idle connection
		// holds up to SQLite's default page cache (2 MiB).
		db.SetMaxIdleConns(maxSQLiteIdleConns)
		db.SetConnMaxIdleTime(5 * time.Minute)
		drv = entsql.OpenDB(dialect.SQLite, db)
	default:
		return nil, nil, fmt.Errorf("unsupported database URL: want file:PATH or postgres://")
	}
	client := ent.NewClient(ent.Driver(drv))
	scope.Confine(client)
	if err := migrate(ctx, client, pg); err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("migrate schema: %w", err)
	}
	return client, pg, nil
}

// migrating makes migrations one at a time in a process: ent's migration
// sets up the generated package's shared table definitions in place.
var migrating sync.Mutex

// migrationLock is the PostgreSQL advisory lock (an arbitrary constant)
// that makes the instances starting at once on one database migrate one at
// a time: the others then find the schema made.
const migrationLock = 0x1de7_1d00

// migrate creates or updates the schema; on PostgreSQL (pg set) under the
// advisory lock, held by a connection of its own for the migration's time.
func migrate(ctx context.Context, client *ent.Client, pg *sql.DB) error {
	migrating.Lock()
	defer migrating.Unlock()
	if pg != nil {
		conn, err := pg.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
			return fmt.Errorf("wait for other instances' migration: %w", err)
		}
		defer func() {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock)
		}()
	}
	return client.Schema.Create(scope.System(ctx))
}
