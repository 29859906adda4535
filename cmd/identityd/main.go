// Command identityd is the identity service: `identityd serve` serves gRPC
// and HTTP, creating the project on an empty store and printing its root
// credential once; `identityd init` only creates it; `identityd recover`
// prints a new root credential. This file holds flags, configuration and
// wiring only.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc/grpclog"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/server/authn"
	"github.com/acme/identity/server/instance"
	"github.com/acme/identity/server/ratelimit"
	"github.com/acme/identity/server/store"
)

const usage = `usage:
  identityd init    --data DIR [--database URL]   create the project; print its root credential once
  identityd serve   --data DIR [--database URL]   serve gRPC and HTTP (on an empty store: create the project
                                                  first and print its root credential once)
  identityd recover --data DIR [--database URL]   print a new root credential (Project Admin) of the project
  identityd version                               print the version
  identityd help [COMMAND]                        print this, or a command's flags

Every flag can also be set by its environment variable, named beside it in identityd help COMMAND.`

// commands are the subcommands, each given its arguments.
var commands = map[string]func(args []string, log *slog.Logger) error{
	"init": runInit, "serve": runServe, "recover": runRecover,
}

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	grpclog.SetLoggerV2(grpcLogger{log})
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	name, args := os.Args[1], os.Args[2:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) == 0 {
			fmt.Println(usage)
			return
		}
		// a command's flags, on stdout: its -h
		name, args, helpOut = args[0], []string{"-h"}, os.Stdout
	case "version", "--version":
		fmt.Println("identityd", version())
		return
	}
	run, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "identityd: unknown command %q\n\n%s\n", name, usage)
		os.Exit(2)
	}
	if err := run(args, log); err != nil {
		log.Error("identityd failed", "command", name, "error", err)
		os.Exit(1)
	}
}

// helpOut is where a command's flag set prints its usage: stderr, or stdout
// under identityd help COMMAND.
var helpOut io.Writer = os.Stderr

// newFlags returns a command's flag set; -h prints every flag with its
// environment variable and default and exits 0.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	fs.SetOutput(helpOut)
	return fs
}

// version is the module version and VCS revision the binary was built from.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			v += " " + s.Value
		}
	}
	return v
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

// open opens the configured store, for the commands that use it briefly.
func (c *config) open(ctx context.Context) (*ent.Client, error) {
	url, err := c.databaseURL()
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, url)
}

// databaseURL returns the database to use, creating the data directory of
// the embedded SQLite.
func (c *config) databaseURL() (string, error) {
	if c.database != "" {
		return c.database, nil
	}
	if err := os.MkdirAll(c.data, 0o700); err != nil {
		return "", fmt.Errorf("create data directory: %w", err)
	}
	return store.SQLiteURL(c.data), nil
}

func envFloat(name string, def float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil {
		return v
	}
	return def
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func runInit(args []string, log *slog.Logger) error {
	var cfg config
	fs := newFlags("init")
	cfg.flags(fs)
	name := fs.String("name", env("IDENTITY_PROJECT_NAME", "default"), "display name of the project (IDENTITY_PROJECT_NAME)")
	_ = fs.Parse(args)
	ctx := context.Background()
	db, err := cfg.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	cred, err := authn.InitProject(ctx, db, *name)
	if err != nil {
		return err
	}
	log.Info("project created; the credential on stdout is shown only once")
	fmt.Println(cred)
	return nil
}

// runRecover prints a new root credential for an operator with access to
// the store, when every Project Admin key is lost.
func runRecover(args []string, log *slog.Logger) error {
	var cfg config
	fs := newFlags("recover")
	cfg.flags(fs)
	_ = fs.Parse(args)
	ctx := context.Background()
	db, err := cfg.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	cred, keyID, err := authn.RecoverProject(ctx, db)
	if err != nil {
		return err
	}
	log.Info("root credential recovered; the credential on stdout is shown only once", "access_key_id", keyID)
	fmt.Println(cred)
	return nil
}

func runServe(args []string, log *slog.Logger) error {
	var cfg config
	fs := newFlags("serve")
	cfg.flags(fs)
	grpcAddr := fs.String("grpc-addr", env("IDENTITY_GRPC_ADDR", "127.0.0.1:9090"), "gRPC listen address (IDENTITY_GRPC_ADDR)")
	httpAddr := fs.String("http-addr", env("IDENTITY_HTTP_ADDR", "127.0.0.1:8080"), "HTTP listen address (IDENTITY_HTTP_ADDR)")
	adminAddr := fs.String("admin-addr", env("IDENTITY_ADMIN_ADDR", ""),
		"listen address for /metrics, /healthz and /readyz alone (plain HTTP), which then leave the HTTP listener; empty: served there (IDENTITY_ADMIN_ADDR)")
	keyFile := fs.String("key-file", env("IDENTITY_KEY_FILE", ""),
		"file holding the key that encrypts the token signing keys in the database, created on first start; every instance of one database needs the same file; default <data>/signing.kek (IDENTITY_KEY_FILE)")
	publicURL := fs.String("public-url", env("IDENTITY_PUBLIC_URL", ""),
		"base URL of the HTTP side as IdPs and browsers reach it, for SAML and SCIM URLs; default http://<http-addr> (IDENTITY_PUBLIC_URL)")
	tlsCert := fs.String("tls-cert", env("IDENTITY_TLS_CERT", ""),
		"PEM certificate (chain) for HTTPS and gRPC over TLS on both listeners; with --tls-key (IDENTITY_TLS_CERT)")
	tlsKey := fs.String("tls-key", env("IDENTITY_TLS_KEY", ""), "PEM private key of --tls-cert (IDENTITY_TLS_KEY)")
	allowPrivate := fs.Bool("metadata-allow-private", env("IDENTITY_METADATA_ALLOW_PRIVATE", "") == "true",
		"also fetch IdP metadata URLs from private and loopback addresses, for IdPs on your own network (IDENTITY_METADATA_ALLOW_PRIVATE=true)")
	var limits ratelimit.Limits
	fs.Float64Var(&limits.PerCredential, "rate-per-credential", envFloat("IDENTITY_RATE_PER_CREDENTIAL", 100),
		"requests per second one access key or a tenant's SCIM tokens may send, sustained; 0: no limit (IDENTITY_RATE_PER_CREDENTIAL)")
	fs.IntVar(&limits.CredentialBurst, "rate-burst-per-credential", envInt("IDENTITY_RATE_BURST_PER_CREDENTIAL", 200),
		"requests one credential may send at once (IDENTITY_RATE_BURST_PER_CREDENTIAL)")
	fs.Float64Var(&limits.PerTenant, "rate-per-tenant", envFloat("IDENTITY_RATE_PER_TENANT", 300),
		"requests per second all credentials together may send for one tenant, sustained; 0: no limit (IDENTITY_RATE_PER_TENANT)")
	fs.IntVar(&limits.TenantBurst, "rate-burst-per-tenant", envInt("IDENTITY_RATE_BURST_PER_TENANT", 600),
		"requests all credentials may send for one tenant at once (IDENTITY_RATE_BURST_PER_TENANT)")
	fs.IntVar(&limits.ConcurrentPerTenant, "concurrent-per-tenant", envInt("IDENTITY_CONCURRENT_PER_TENANT", 8),
		"calls of one tenant in progress at once; more wait up to a second, then answer 429 / RESOURCE_EXHAUSTED; 0: no limit (IDENTITY_CONCURRENT_PER_TENANT)")
	auditRetention := fs.Duration("audit-retention", envDuration("IDENTITY_AUDIT_RETENTION", instance.DefaultAuditRetention),
		"how long audit events are kept before they are pruned, e.g. 720h (IDENTITY_AUDIT_RETENTION)")
	_ = fs.Parse(args)
	if *auditRetention <= 0 {
		return fmt.Errorf("--audit-retention must be positive, not %s", *auditRetention)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	url, err := cfg.databaseURL()
	if err != nil {
		return err
	}
	if err := ensureProject(ctx, url, log); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	tlsConfig, err := loadTLS(*tlsCert, *tlsKey)
	if err != nil {
		return err
	}
	if *publicURL == "" {
		scheme := "http://"
		if tlsConfig != nil {
			scheme = "https://"
		}
		*publicURL = scheme + *httpAddr
	}
	if *keyFile == "" {
		*keyFile = filepath.Join(cfg.data, "signing.kek")
	}
	kek, err := loadKeyFile(*keyFile)
	if err != nil {
		return err
	}
	started := time.Now()
	inst, err := instance.Start(ctx, instance.Config{
		DatabaseURL: url, PublicURL: *publicURL, Log: log, Metrics: reg, MetadataAllowPrivate: *allowPrivate, RateLimits: limits,
		KeyEncryptionKey: kek, SeparateAdmin: *adminAddr != "", AuditRetention: *auditRetention,
	})
	if err != nil {
		return err
	}
	defer inst.Close()
	log.Info("instance started (database open, role index built)", "took", time.Since(started).String())
	grpcLis, err := net.Listen("tcp", *grpcAddr)
	if err != nil {
		return fmt.Errorf("listen gRPC: %w", err)
	}
	if tlsConfig != nil {
		// TLS is the listener's, not the gRPC server's credentials: the same
		// server also serves the in-process connection the gateways use,
		// which has no TLS. ALPN offers h2, as gRPC clients require.
		grpcTLS := tlsConfig.Clone()
		grpcTLS.NextProtos = []string{"h2"}
		grpcLis = tls.NewListener(grpcLis, grpcTLS)
	}
	httpServer := &http.Server{
		Addr:              *httpAddr,
		Handler:           inst.HTTP,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	httpLis, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		return fmt.Errorf("listen HTTP: %w", err)
	}
	httpServer.TLSConfig = tlsConfig

	errc := make(chan error, 3)
	var adminServer *http.Server
	if *adminAddr != "" {
		adminLis, err := net.Listen("tcp", *adminAddr)
		if err != nil {
			return fmt.Errorf("listen admin: %w", err)
		}
		adminServer = &http.Server{Handler: inst.Admin, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
		go func() {
			if err := adminServer.Serve(adminLis); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
		log.Info("serving admin endpoints", "addr", adminLis.Addr().String())
	}
	go func() { errc <- inst.GRPC.Serve(grpcLis) }()
	go func() {
		serve := httpServer.Serve
		if tlsConfig != nil {
			serve = func(l net.Listener) error { return httpServer.ServeTLS(l, "", "") } // certificates in TLSConfig
		}
		if err := serve(httpLis); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	kind := "sqlite"
	if !store.SerializesWrites(url) {
		kind = "postgres"
	}
	log.Info("serving", "grpc", grpcLis.Addr().String(), "http", httpLis.Addr().String(), "tls", tlsConfig != nil,
		"public_url", *publicURL, "database", kind)

	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	}
	// Graceful shutdown: report NOT_SERVING so load balancers drain, stop
	// accepting, let requests in flight finish (bounded), then close.
	log.Info("shutting down")
	inst.Health.Shutdown()
	inst.Drain() // watches end now, telling clients where to resume
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := httpServer.Shutdown(shutdownCtx); err != nil {
		log.Warn("HTTP shutdown", "error", err)
	}
	if adminServer != nil {
		_ = adminServer.Shutdown(shutdownCtx)
	}
	done := make(chan struct{})
	go func() { inst.GRPC.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-shutdownCtx.Done():
		inst.GRPC.Stop()
	}
	log.Info("stopped")
	return nil
}

// loadTLS reads the certificate and key for both listeners; none without
// either (plain TCP, for a TLS-terminating proxy in front).
func loadTLS(certFile, keyFile string) (*tls.Config, error) {
	switch {
	case certFile == "" && keyFile == "":
		return nil, nil
	case certFile == "" || keyFile == "":
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}, nil
}

// ensureProject initializes an empty store on the first start, as init
// would, printing the root credential once on stdout; so serve is the one
// command a new deployment needs. Of several first starts at once on one
// PostgreSQL database, one creates the project (InitProject locks) and the
// others serve it.
func ensureProject(ctx context.Context, url string, log *slog.Logger) error {
	db, err := store.Open(ctx, url)
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := db.Project.Query().Count(ctx)
	if err != nil {
		return fmt.Errorf("read project: %w", err)
	}
	if n > 0 {
		return nil
	}
	cred, err := authn.InitProject(ctx, db, env("IDENTITY_PROJECT_NAME", "default"))
	if errors.Is(err, authn.ErrInitialized) {
		return nil // another instance, started at the same moment, created it and printed its credential
	}
	if err != nil {
		return err
	}
	log.Info("first start: project created; the root credential on stdout is shown only once")
	fmt.Println(cred)
	return nil
}
