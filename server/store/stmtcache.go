package store

import (
	"context"
	"database/sql"
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

// openSQLite opens the SQLite database of dsn with its statements kept.
func openSQLite(dsn string) (*sql.DB, error) {
	// modernc's registered driver, which holds the functions of init
	registered, err := sql.Open("sqlite", "")
	if err != nil {
		return nil, err
	}
	defer registered.Close()
	return sql.OpenDB(stmtConnector{dsn: dsn, driver: registered.Driver()}), nil
}

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
	sc, ok := conn.(sqliteConn)
	if !ok {
		conn.Close()
		return nil, errors.New("the SQLite driver's connection lacks an interface the statement cache forwards")
	}
	return &stmtConn{sqliteConn: sc, stmts: map[string]*cachedStmt{}}, nil
}

// sqliteConn is what database/sql uses of modernc's connection; stmtConn
// forwards all of it but ExecContext, QueryContext and Close.
type sqliteConn interface {
	driver.Conn
	driver.ExecerContext
	driver.QueryerContext
	driver.ConnPrepareContext
	driver.ConnBeginTx
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// preparedStmt is what a kept statement runs: modernc's statement.
type preparedStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// stmtConn is a connection that keeps its statements prepared. database/sql
// uses a connection from one goroutine at a time, so it needs no lock; a
// statement whose rows are still open (a query run while another's rows
// are read) is not run again until they close: that call prepares its own.
type stmtConn struct {
	sqliteConn
	stmts map[string]*cachedStmt
}

type cachedStmt struct {
	preparedStmt
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
	prepared, err := c.sqliteConn.PrepareContext(ctx, query)
	if err != nil {
		return nil // the call prepares it again and answers the error
	}
	ps, ok := prepared.(preparedStmt)
	if !ok {
		prepared.Close()
		return nil
	}
	s := &cachedStmt{preparedStmt: ps}
	c.stmts[query] = s
	return s
}

func (c *stmtConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if s := c.stmt(ctx, query); s != nil {
		return s.ExecContext(ctx, args)
	}
	return c.sqliteConn.ExecContext(ctx, query, args)
}

func (c *stmtConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s := c.stmt(ctx, query)
	if s == nil {
		return c.sqliteConn.QueryContext(ctx, query, args)
	}
	rows, err := s.QueryContext(ctx, args)
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
	return c.sqliteConn.Close()
}

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
