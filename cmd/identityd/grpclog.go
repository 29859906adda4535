package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
)

// grpcLogger routes gRPC's and the REST mapping's own log lines (grpclog)
// into the service's JSON log: by default they are plain text on stderr,
// which breaks a log pipeline that expects one JSON object per line. Info
// lines are debug here: gRPC logs every connection at info.
type grpcLogger struct{ log *slog.Logger }

func (l grpcLogger) emit(level slog.Level, msg string) {
	l.log.Log(context.Background(), level, msg, "source", "grpc")
}

func (l grpcLogger) Info(args ...any)   { l.emit(slog.LevelDebug, fmt.Sprint(args...)) }
func (l grpcLogger) Infoln(args ...any) { l.emit(slog.LevelDebug, fmt.Sprint(args...)) }
func (l grpcLogger) Infof(format string, args ...any) {
	l.emit(slog.LevelDebug, fmt.Sprintf(format, args...))
}
func (l grpcLogger) Warning(args ...any)   { l.emit(slog.LevelWarn, fmt.Sprint(args...)) }
func (l grpcLogger) Warningln(args ...any) { l.emit(slog.LevelWarn, fmt.Sprint(args...)) }
func (l grpcLogger) Warningf(format string, args ...any) {
	l.emit(slog.LevelWarn, fmt.Sprintf(format, args...))
}
func (l grpcLogger) Error(args ...any)   { l.emit(slog.LevelError, fmt.Sprint(args...)) }
func (l grpcLogger) Errorln(args ...any) { l.emit(slog.LevelError, fmt.Sprint(args...)) }
func (l grpcLogger) Errorf(format string, args ...any) {
	l.emit(slog.LevelError, fmt.Sprintf(format, args...))
}
func (l grpcLogger) Fatal(args ...any)   { l.emit(slog.LevelError, fmt.Sprint(args...)); os.Exit(1) }
func (l grpcLogger) Fatalln(args ...any) { l.emit(slog.LevelError, fmt.Sprint(args...)); os.Exit(1) }
func (l grpcLogger) Fatalf(format string, args ...any) {
	l.emit(slog.LevelError, fmt.Sprintf(format, args...))
	os.Exit(1)
}

// V reports whether verbosity level v is on: gRPC's verbose logging is off.
func (l grpcLogger) V(int) bool { return false }
