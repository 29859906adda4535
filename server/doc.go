// Package server assembles the gRPC server of the identity core: the
// interceptor chain in one visible order (recover, log, metrics, time limit,
// authenticate, validate, authorize and scope, map errors) and the
// registration of the services (package service). Its tests exercise the
// assembled core over a real gRPC connection on SQLite and PostgreSQL.
package server
