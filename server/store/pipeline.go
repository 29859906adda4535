package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// errNotPgx is a pool whose connections are not pgx's: a programming error.
var errNotPgx = errors.New("pipeline: the pool's connections are not pgx's")

// pipeline runs stmts on a connection of w.pool as one pgx batch: sent at
// once, run by PostgreSQL in order in one implicit transaction, which the
// first failure rolls back (and is returned).
func (w *Writer) pipeline(ctx context.Context, stmts []statement) error {
	conn, err := w.pool.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return errNotPgx
		}
		b := &pgx.Batch{}
		for _, s := range stmts {
			b.Queue(s.sql, s.args...)
		}
		return c.Conn().SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("insert (pipelined): %w", err)
	}
	return nil
}
