// Package store owns the database: opening it (SQLite or PostgreSQL),
// the write transaction that gives every write its revision and change-log
// events, the case-folded keys and ids of stored resources, and the tenant
// check that scoped writes and lists rely on. Isolation itself is enforced
// below it, by the schema's interceptors over package scope.
package store
