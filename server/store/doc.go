// Package store owns the database: opening it (SQLite or PostgreSQL),
// the write transaction that gives every write its revision and change-log
// events, what a write leaves to its numbering (its audit event and counts:
// Settler), the case-folded keys and ids of stored resources, and the tenant
// check that scoped writes and lists rely on. Isolation itself is enforced by
// the interceptors and hooks package scope installs on every client Open
// returns.
package store
