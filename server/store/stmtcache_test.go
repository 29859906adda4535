package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
)

// TestStatementCache: a connection runs a statement again prepared; a
// query run while the same query's rows are still read gets a statement of
// its own (both row sets come out whole); the cache stays bounded.
func TestStatementCache(t *testing.T) {
	ctx := context.Background()
	db, err := openSQLite("file:" + filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{"CREATE TABLE t (x INTEGER)", "INSERT INTO t VALUES (1), (2), (3)"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	kept := func() (n int, has func(string) bool) {
		if err := conn.Raw(func(c any) error {
			sc := c.(*stmtConn)
			n = len(sc.stmts)
			has = func(q string) bool { return sc.stmts[q] != nil }
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return n, has
	}

	const q = "SELECT x FROM t WHERE x >= ? ORDER BY x"
	read := func(rows *sql.Rows, n int) (got []int) {
		for i := 0; (n < 0 || i < n) && rows.Next(); i++ {
			var x int
			if err := rows.Scan(&x); err != nil {
				t.Fatal(err)
			}
			got = append(got, x)
		}
		return got
	}
	outer, err := conn.QueryContext(ctx, q, 1)
	if err != nil {
		t.Fatal(err)
	}
	first := read(outer, 1)
	inner, err := conn.QueryContext(ctx, q, 2) // the same text, while outer's rows are open
	if err != nil {
		t.Fatal(err)
	}
	if got := read(inner, -1); !slices.Equal(got, []int{2, 3}) {
		t.Fatalf("inner query: %v", got)
	}
	inner.Close()
	if got := append(first, read(outer, -1)...); !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("outer query read around the inner one: %v", got)
	}
	outer.Close()
	// Run again (now free), with other arguments: the kept statement.
	again, err := conn.QueryContext(ctx, q, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := read(again, -1); !slices.Equal(got, []int{3}) {
		t.Fatalf("kept statement run again: %v", got)
	}
	again.Close()
	if _, has := kept(); !has(q) {
		t.Fatal("the query's statement was not kept")
	}

	for i := range maxCachedStatements + 10 {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("UPDATE t SET x = x WHERE x = %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := kept(); n > maxCachedStatements {
		t.Fatalf("%d statements kept, bound %d", n, maxCachedStatements)
	}
	// A failing statement answers its error, and the connection goes on.
	if _, err := conn.ExecContext(ctx, "INSERT INTO missing VALUES (1)"); err == nil {
		t.Fatal("insert into a missing table succeeded")
	}
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 3 {
		t.Fatalf("count %d: %v", n, err)
	}
}
