// Package ent holds the storage schema (ent/schema, hand-written) and the code
// ent generates from it (everything else here).
package ent

//go:generate go tool ent generate --feature sql/upsert,sql/lock,sql/execquery,sql/modifier,intercept ./schema
