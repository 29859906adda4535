package instancetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver for the admin connection

	"github.com/acme/identity/ent"
	"github.com/acme/identity/server/authn"
	"github.com/acme/identity/server/store"
)

// Database is a database kind tests run against.
type Database struct {
	Name string
	// URL returns the URL of a new, empty database owned by the test.
	URL func(t testing.TB) string
}

// OpenProject opens a new database of this kind holding one project, closed
// when the test ends, and returns it with the project's id: for tests of the
// store's parts without a whole instance.
func (d Database) OpenProject(ctx context.Context, t testing.TB) (*ent.Client, string) {
	t.Helper()
	db, err := store.Open(ctx, d.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cred, err := authn.InitProject(ctx, db, "p")
	if err != nil {
		t.Fatal(err)
	}
	projectID, _, _ := strings.Cut(cred, ":")
	return db, projectID
}

// Databases returns SQLite always, and PostgreSQL when
// IDENTITY_TEST_POSTGRES holds a connection URL (each test then creates and
// drops its own database).
func Databases() []Database {
	dbs := []Database{{Name: "sqlite", URL: func(t testing.TB) string {
		return store.SQLiteURL(t.TempDir())
	}}}
	if base := os.Getenv("IDENTITY_TEST_POSTGRES"); base != "" {
		dbs = append(dbs, Database{Name: "postgres", URL: func(t testing.TB) string { return newPostgresDatabase(t, base) }})
	}
	return dbs
}

func newPostgresDatabase(t testing.TB, base string) string {
	t.Helper()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "identity_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop database: %v", err)
		}
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse IDENTITY_TEST_POSTGRES: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}
