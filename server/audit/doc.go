// Package audit is the audit trail's write side: who a request came from
// (Request, carried in the context from the interceptors and the gateways'
// metadata), the event of each write, stored with the write or when it is
// numbered, before its revision is answered (Write, RecordWrites), and
// the explanation of the role changes a write caused (Explain). Reading the
// trail is the AuditService's (server/service/audit.go).
package audit
