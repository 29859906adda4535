// Package changelog is the spine of the core: the typed events a write
// appends to its project's change log (in the write's own transaction), their
// one encoding to and decoding from the change table, and the Follower that
// reads the log after it is written and hands each project's new events, in
// revision order, to the readers that keep state from it (the role index, the
// credential cache; the audit trail and session revocation next).
package changelog
