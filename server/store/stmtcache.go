package store

import (
	"context"
	"database/sql/driver"
	"errors"
)

// Keeping SQLite's statements prepared: modernc's driver prepares every
// statement it is given and finalizes it after one use, and ent passes SQL
// text, never prepared statements, so SQLite parsed and planned the same
// few dozen statements on every call (its parser alone was about a sixth of
// the CPU of a SCIM write, and more of a sign-in). No library does this for
// modernc's driver; it is written here. Each connection keeps the
// statements it ran, by their text, and runs them again prepared; modernc
// resets and unbinds such a statement after each use.

// maxCachedStatements bounds the statements one connection keeps; past it, a
// statement not in use is finalized to make room.
const maxCachedStatements = 256

// maxCachedSQL is the longest statement kept: the longer ones are bulk
// inserts, whose text changes with their row count.
const maxCachedSQL = 4096

// stmtConnector opens connections of the SQLite driver whose statements
// are kept.
type stmtConnector struct {
	dsn    string
	driver driver.Driver
}

func (c stmtConnector) Driver() driver.Driver { return c.driver }

func (c stmtConnector) Connect(ctx context.Context) (driver.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	conn, err := c.driver.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	for _, ok := range []bool{isA[driver.ExecerContext](conn), isA[driver.QueryerContext](conn), isA[driver.ConnPrepareContext](conn),
		isA[driver.ConnBeginTx](conn), isA[driver.Pinger](conn), isA[driver.SessionResetter](conn), isA[driver.Validator](conn)} {
		if !ok {
			conn.Close()
			return nil, errors.New("the SQLite driver's connection lacks an interface the statement cache forwards")
		}
	}
	return &stmtConn{Conn: conn, stmts: map[string]*cachedStmt{}}, nil
}

func isA[T any](v any) bool { _, ok := v.(T); return ok }

// stmtConn is a connection that keeps its statements prepared. database/sql
// uses a connection from one goroutine at a time, so it needs no lock; a
// statement whose rows are still open (a query run while another's rows
// are read) is not run again until they close: that call prepares its own.
type stmtConn struct {
	driver.Conn
	stmts map[string]*cachedStmt
}

type cachedStmt struct {
	driver.Stmt
	busy bool // its rows are open
}

// stmt returns the kept statement for query, preparing it the first time;
// nil when the call must run on a statement of its own.
func (c *stmtConn) stmt(ctx context.Context, query string) *cachedStmt {
	if len(query) > maxCachedSQL {
		return nil
	}
	if s := c.stmts[query]; s != nil {
		if s.busy {
			return nil
		}
		return s
	}
	if len(c.stmts) >= maxCachedStatements {
		for q, s := range c.stmts { // any statement not in use
			if !s.busy {
				s.Close()
				delete(c.stmts, q)
				break
			}
		}
	}
	prepared, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil // the call prepares it again and answers the error
	}
	s := &cachedStmt{Stmt: prepared}
	c.stmts[query] = s
	return s
}

func (c *stmtConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if s := c.stmt(ctx, query); s != nil {
		return s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
	}
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, query, args)
}

func (c *stmtConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s := c.stmt(ctx, query)
	if s == nil {
		return c.Conn.(driver.QueryerContext).QueryContext(ctx, query, args)
	}
	rows, err := s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	s.busy = true
	return &cachedRows{Rows: rows, stmt: s}, nil
}

// Close finalizes the kept statements, then closes the connection.
func (c *stmtConn) Close() error {
	for q, s := range c.stmts {
		s.Close()
		delete(c.stmts, q)
	}
	return c.Conn.Close()
}

func (c *stmtConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
}

func (c *stmtConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

func (c *stmtConn) Ping(ctx context.Context) error { return c.Conn.(driver.Pinger).Ping(ctx) }

func (c *stmtConn) ResetSession(ctx context.Context) error {
	return c.Conn.(driver.SessionResetter).ResetSession(ctx)
}

func (c *stmtConn) IsValid() bool { return c.Conn.(driver.Validator).IsValid() }

// cachedRows are the rows of a kept statement: closing them (which resets
// the statement) frees it for the next call.
type cachedRows struct {
	driver.Rows
	stmt *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.stmt.busy = false
	return err
}
