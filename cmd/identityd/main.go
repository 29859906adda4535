// Command identityd is the identity service: `identityd init` creates the
// project and prints its root credential once; `identityd serve` serves gRPC
// and HTTP. This file holds flags, configuration and wiring only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/test/bufconn"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/gateway"
	"github.com/acme/identity/server"
)

const usage = `usage:
  identityd init  --data DIR [--database URL]   create the project; print its root credential once
  identityd serve --data DIR [--database URL]   serve gRPC and HTTP

Every flag can also be set by its environment variable (shown in -h of each command).`

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "init":
		err = runInit(os.Args[2:], log)
	case "serve":
		err = runServe(os.Args[2:], log)
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		log.Error("identityd failed", "command", os.Args[1], "error", err)
		os.Exit(1)
	}
}

// config is the storage configuration shared by both commands.
type config struct {
	data     string
	database string
}

func (c *config) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.data, "data", env("IDENTITY_DATA", "./data"), "data directory for the embedded SQLite database (IDENTITY_DATA)")
	fs.StringVar(&c.database, "database", env("IDENTITY_DATABASE", ""), "postgres:// URL; empty means SQLite in --data (IDENTITY_DATABASE)")
}

func (c *config) open(ctx context.Context) (*ent.Client, error) {
	if c.database != "" {
		return server.OpenDatabase(ctx, c.database)
	}
	if err := os.MkdirAll(c.data, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	return server.OpenDatabase(ctx, server.SQLiteURL(c.data))
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func runInit(args []string, log *slog.Logger) error {
	var cfg config
	fs := flag.NewFlagSet("init", flag.ExitOnError)
	cfg.flags(fs)
	name := fs.String("name", "default", "display name of the project")
	_ = fs.Parse(args)
	ctx := context.Background()
	db, err := cfg.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	cred, err := server.InitProject(ctx, db, *name)
	if err != nil {
		return err
	}
	log.Info("project created; the credential on stdout is shown only once")
	fmt.Println(cred)
	return nil
}

func runServe(args []string, log *slog.Logger) error {
	var cfg config
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	cfg.flags(fs)
	grpcAddr := fs.String("grpc-addr", env("IDENTITY_GRPC_ADDR", "127.0.0.1:9090"), "gRPC listen address (IDENTITY_GRPC_ADDR)")
	httpAddr := fs.String("http-addr", env("IDENTITY_HTTP_ADDR", "127.0.0.1:8080"), "HTTP listen address (IDENTITY_HTTP_ADDR)")
	publicURL := fs.String("public-url", env("IDENTITY_PUBLIC_URL", ""),
		"base URL of the HTTP side as IdPs and browsers reach it, for SAML and SCIM URLs; default http://<http-addr> (IDENTITY_PUBLIC_URL)")
	_ = fs.Parse(args)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	db, err := cfg.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if n, err := db.Project.Query().Count(ctx); err != nil {
		return fmt.Errorf("read project: %w", err)
	} else if n == 0 {
		return errors.New("no project in this database: run `identityd init` first")
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
	reg.MustRegister(metrics)

	if *publicURL == "" {
		*publicURL = "http://" + *httpAddr
	}
	srv := server.New(db, log, server.Options{PublicURL: *publicURL})
	started := time.Now()
	if err := srv.Start(ctx); err != nil {
		return err
	}
	log.Info("role index built", "took", time.Since(started).String())
	grpcServer, health, err := srv.NewGRPCServer(metrics)
	if err != nil {
		return err
	}
	grpcLis, err := net.Listen("tcp", *grpcAddr)
	if err != nil {
		return fmt.Errorf("listen gRPC: %w", err)
	}
	// The REST gateway reaches the same gRPC server in process, through the
	// full interceptor chain, without a socket.
	local := bufconn.Listen(1 << 20)
	conn, err := grpc.NewClient("passthrough:///identityd",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return local.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("local gRPC client: %w", err)
	}
	defer conn.Close()
	handler, err := gateway.New(ctx, conn, reg, *publicURL)
	if err != nil {
		return err
	}
	httpServer := &http.Server{
		Addr:              *httpAddr,
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	httpLis, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		return fmt.Errorf("listen HTTP: %w", err)
	}

	errc := make(chan error, 3)
	go func() { errc <- grpcServer.Serve(grpcLis) }()
	go func() { errc <- grpcServer.Serve(local) }()
	go func() {
		if err := httpServer.Serve(httpLis); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	log.Info("serving", "grpc", grpcLis.Addr().String(), "http", httpLis.Addr().String())

	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	}
	// Graceful shutdown: report NOT_SERVING so load balancers drain, stop
	// accepting, let requests in flight finish (bounded), then close.
	log.Info("shutting down")
	health.Shutdown()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := httpServer.Shutdown(shutdownCtx); err != nil {
		log.Warn("HTTP shutdown", "error", err)
	}
	done := make(chan struct{})
	go func() { grpcServer.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-shutdownCtx.Done():
		grpcServer.Stop()
	}
	log.Info("stopped")
	return nil
}
