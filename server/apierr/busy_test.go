package apierr_test

import (
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	_ "modernc.org/sqlite"

	"github.com/acme/identity/server/apierr"
)

// TestBusyDatabaseIsUnavailable: a database that refuses work for now (a
// real SQLite write lock held by another connection; PostgreSQL's retryable
// error codes) answers Unavailable with a retry delay, not Internal.
func TestBusyDatabaseIsUnavailable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "busy.db")
	holder, err := sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(0)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.Exec("CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	tx, err := holder.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	other, err := sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, lockErr := other.Exec("INSERT INTO t VALUES (1)")
	if lockErr == nil {
		t.Fatal("the write was not refused")
	}
	for _, err := range []error{lockErr, &pgconn.PgError{Code: "40001"}, &pgconn.PgError{Code: "53300"}} {
		st := status.Convert(apierr.ToStatus(context.Background(), slog.New(slog.DiscardHandler), "m", err))
		if st.Code() != codes.Unavailable {
			t.Fatalf("%v answered %v", err, st.Code())
		}
		var retry bool
		for _, d := range st.Details() {
			_, retry = d.(*errdetails.RetryInfo)
		}
		if !retry {
			t.Fatalf("%v: no RetryInfo", err)
		}
	}
}
