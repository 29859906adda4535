package apierr

import (
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"modernc.org/sqlite"
	sqlitelib "modernc.org/sqlite/lib"
)

// RetryAfter is the wait a busy answer suggests.
const RetryAfter = time.Second

// busy says whether err is the database refusing work for now, not a fault:
// SQLite's write lock held past the busy timeout, PostgreSQL's serialization
// failures, deadlocks and connection limits. The caller can retry.
func busy(err error) bool {
	var le *sqlite.Error
	if errors.As(err, &le) {
		switch le.Code() & 0xff { // the primary code of an extended one
		case sqlitelib.SQLITE_BUSY, sqlitelib.SQLITE_LOCKED:
			return true
		}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40001", "40P01", "53300", "57P03": // serialization, deadlock, too many connections, cannot connect now
			return true
		}
	}
	return false
}

// busyStatus is Unavailable with the wait to retry after.
func busyStatus() error {
	st := status.New(codes.Unavailable, "the database is busy: retry the request")
	if withInfo, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(RetryAfter)}); err == nil {
		st = withInfo
	}
	return st.Err()
}

// ForeignKeyViolation says whether err is a row naming a parent that does not
// exist (SQLite's SQLITE_CONSTRAINT_FOREIGNKEY, PostgreSQL's 23503): for a
// create that takes no lock on its tenant, the tenant was deleted meanwhile.
func ForeignKeyViolation(err error) bool {
	var le *sqlite.Error
	if errors.As(err, &le) && le.Code() == sqlitelib.SQLITE_CONSTRAINT_FOREIGNKEY {
		return true
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
}

// UniqueViolation says whether err is the unique index on table's columns
// (in the index's order) refusing a row, as the database returned it (ent maps
// its own statements' to ent.ConstraintError; rows the writer inserts itself
// come back so): SQLite's SQLITE_CONSTRAINT_UNIQUE, whose message names the
// columns, or PostgreSQL's 23505, whose detail does. Another index's
// violation (a primary key, say) is not this one.
func UniqueViolation(err error, table string, columns ...string) bool {
	var le *sqlite.Error
	if errors.As(err, &le) {
		// "UNIQUE constraint failed: users.tenant_id, users.user_name_key"
		return le.Code() == sqlitelib.SQLITE_CONSTRAINT_UNIQUE &&
			strings.Contains(le.Error(), "UNIQUE constraint failed: "+table+"."+strings.Join(columns, ", "+table+"."))
	}
	var pe *pgconn.PgError
	// "Key (tenant_id, user_name_key)=(…) already exists."
	return errors.As(err, &pe) && pe.Code == "23505" && pe.TableName == table &&
		strings.HasPrefix(pe.Detail, "Key ("+strings.Join(columns, ", ")+")=")
}
