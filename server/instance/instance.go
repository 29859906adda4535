// Package instance starts one identityd instance: the database, the change-log
// follower with its readers (role index, credential cache), the services, the
// gRPC server, an in-process connection to it and the HTTP handler. It is the
// one constructor used by cmd/identityd, the tests and the benchmarks.
package instance

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/gateway"
	"github.com/acme/identity/gateway/scim"
	"github.com/acme/identity/server"
	"github.com/acme/identity/server/audit"
	"github.com/acme/identity/server/authn"
	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/oidc"
	"github.com/acme/identity/server/ratelimit"
	"github.com/acme/identity/server/roleindex"
	"github.com/acme/identity/server/saml"
	"github.com/acme/identity/server/service"
	"github.com/acme/identity/server/signing"
	"github.com/acme/identity/server/store"
)

// Config is what an instance is started with; the zero value of every field
// but DatabaseURL works.
type Config struct {
	// DatabaseURL is a file: URL (SQLite) or a postgres:// URL.
	DatabaseURL string
	// PublicURL is the base URL at which the HTTP side is reached from
	// outside (by browsers and IdPs): the SAML SP entity ID, ACS URL and the
	// SCIM base URL are built from it. Default http://127.0.0.1:8080.
	PublicURL string
	// Log receives internal errors and panics, never secrets or request
	// bodies. Default: discard.
	Log *slog.Logger
	// Now replaces the clock, for tests. Default time.Now.
	Now func() time.Time
	// MetadataTimeout bounds a fetch of IdP metadata (0: 10 s).
	MetadataTimeout time.Duration
	// MetadataAllowPrivate lets IdP metadata be fetched from private and
	// loopback addresses, for IdPs on the operator's own network (off: only
	// public addresses).
	MetadataAllowPrivate bool
	// RateLimits are the default limits of each credential and each tenant
	// (the zero value: none; cmd/identityd sets defaults); a tenant's own
	// limits, set through UpdateTenant, take their place.
	RateLimits ratelimit.Limits
	// KeyEncryptionKey (signing.KeySize bytes) encrypts the token signing
	// keys stored in the database; every instance of one database needs the
	// same. Required.
	KeyEncryptionKey []byte
	// Metrics, when set, receives the gRPC and HTTP metrics, and is served at
	// /metrics.
	Metrics *prometheus.Registry
	// WatchHeartbeat is how long a role-change watch stays silent before it
	// sends a heartbeat (0: 30 s).
	WatchHeartbeat time.Duration
	// AuditRetention is how long audit events are kept (0: 90 days).
	AuditRetention time.Duration
	// AuditStreamSettle is how old an event must be before StreamAuditEvents
	// sends it, on PostgreSQL (0: a minute; see the proto); tests shorten it.
	// SQLite numbers events in commit order and needs none.
	AuditStreamSettle time.Duration
	// SeparateAdmin leaves /healthz, /readyz and /metrics out of HTTP: they
	// are served from Admin on a listener of their own.
	SeparateAdmin bool
}

// Instance is a running instance.
type Instance struct {
	// DB is the instance's database client.
	DB *ent.Client
	// GRPC is the gRPC server; it serves Conn in process, and cmd/identityd
	// serves it on a TCP listener too.
	GRPC *grpc.Server
	// Health is the standard health service; SERVING once started.
	Health *health.Server
	// Conn is a gRPC connection to GRPC in memory, through the full
	// interceptor chain. The gateways call through server.Local instead,
	// which skips the transport for unary calls.
	Conn *grpc.ClientConn
	// HTTP serves REST, SCIM, sign-in, the SP metadata and, unless
	// Config.SeparateAdmin, /healthz, /readyz and /metrics.
	HTTP http.Handler
	// Admin serves /healthz, /readyz and /metrics.
	Admin http.Handler

	stop context.CancelFunc
	// draining closes on Drain.
	draining  chan struct{}
	recorder  *audit.Recorder
	writer    *store.Writer
	drainOnce sync.Once
}

// Start opens the database, loads the role index and starts serving in
// process. The instance runs until Close.
func Start(ctx context.Context, cfg Config) (inst *Instance, err error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.WatchHeartbeat == 0 {
		cfg.WatchHeartbeat = 30 * time.Second
	}
	if cfg.AuditRetention == 0 {
		cfg.AuditRetention = DefaultAuditRetention
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://127.0.0.1:8080"
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	db, pool, err := store.OpenWithPool(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	inst = &Instance{DB: db, stop: stop, draining: make(chan struct{})}
	defer func() {
		if err != nil {
			inst.Close()
		}
	}()

	if err := store.Rekey(runCtx, db, cfg.Log); err != nil {
		return nil, err
	}
	if err := store.Recount(runCtx, db); err != nil {
		return nil, err
	}
	index := roleindex.NewIndex(db)
	creds := authn.NewCache()
	limiter := ratelimit.New(cfg.RateLimits, time.Now)
	follower := changelog.NewFollower(db, cfg.Log, store.Settler(cfg.Log), index, creds, limiter.Follow(db))
	if err := follower.Start(runCtx); err != nil {
		return nil, fmt.Errorf("load the role index: %w", err)
	}
	writes, sqlite := store.WriteLock(cfg.DatabaseURL), store.SerializesWrites(cfg.DatabaseURL)
	if sqlite {
		go every(runCtx, store.CheckpointInterval, cfg.Log, map[string]func(context.Context) error{
			"checkpoint the SQLite log": func(ctx context.Context) error { return store.Checkpoint(ctx, db) },
		})
	}
	w := store.NewWriter(db, cfg.Log, cfg.Now, follower, sqlite, writes)
	w.ExplainWith(audit.NewExplainer(db, index))
	if pool != nil {
		w.PipelineOn(pool)
	}
	inst.writer = w
	keyring, err := signing.New(db, w, cfg.KeyEncryptionKey, cfg.Now)
	if err != nil {
		return nil, err
	}
	if err := keyring.Verify(runCtx); err != nil {
		return nil, err
	}
	sp := saml.NewSP(cfg.PublicURL)
	issuer := oidc.NewIssuer(cfg.PublicURL, keyring, cfg.Now)
	signIn := service.NewSignInService(db, w, sp, issuer, index, follower, cfg.Log, cfg.Now)
	settle := cfg.AuditStreamSettle
	switch {
	case store.SerializesWrites(cfg.DatabaseURL):
		settle = 0
	case settle == 0:
		settle = time.Minute
	}
	inst.recorder = audit.NewRecorder(runCtx, db, writes.For(""), cfg.Log)
	auditTrail := service.NewAuditService(db, inst.recorder, follower, cfg.Now, inst.draining, settle, cfg.WatchHeartbeat)
	// Every instance prunes; the deletes are idempotent.
	go every(runCtx, service.PruneInterval, cfg.Log, map[string]func(context.Context) error{
		"prune sign-in state": signIn.Prune,
		"prune audit events":  func(ctx context.Context) error { return auditTrail.Prune(ctx, cfg.AuditRetention) },
	})
	services := server.Services{
		Project:   service.NewProjectService(db, w),
		Tenant:    service.NewTenantService(db, w),
		User:      service.NewUserService(db, w),
		Group:     service.NewGroupService(db, w),
		Role:      service.NewRoleService(db, w),
		AccessKey: service.NewAccessKeyService(db, w),
		Client:    service.NewOAuthClientService(db, w),
		Keys:      service.NewSigningKeyService(keyring),
		Sessions:  service.NewSessionService(db, w),
		SignIn:    signIn,
		Sso: service.NewSsoService(db, w, sp, saml.NewFetcher(saml.FetchOptions{
			Timeout: cfg.MetadataTimeout, AllowPrivate: cfg.MetadataAllowPrivate, Log: cfg.Log,
		}), cfg.Now),
		Scim:  service.NewScimService(db, w, cfg.PublicURL+scim.Prefix, cfg.Now),
		Authz: service.NewAuthzService(index, follower, inst.draining, cfg.WatchHeartbeat),
		Audit: auditTrail,
	}
	var metrics *grpcprom.ServerMetrics
	if cfg.Metrics != nil {
		metrics = grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
		if err := cfg.Metrics.Register(metrics); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	authenticator := authn.NewAuthenticator(db, cfg.Log, cfg.Now, creds)
	core, err := server.New(cfg.Log, authenticator, metrics, limiter, services)
	if err != nil {
		return nil, err
	}
	inst.GRPC, inst.Health, inst.Conn = core.GRPC, core.Health, core.Conn
	reg := cfg.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	handlers, err := gateway.New(runCtx, core.Local, reg, cfg.PublicURL, cfg.Log, cfg.SeparateAdmin)
	if err != nil {
		return nil, err
	}
	inst.HTTP, inst.Admin = handlers.Public, handlers.Admin
	inst.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	return inst, nil
}

// Drain ends the open watch streams at once, each with Unavailable and the
// revision to resume from, so that a graceful stop need not wait for them.
func (i *Instance) Drain() {
	i.drainOnce.Do(func() { close(i.draining) })
}

// Close stops the gRPC server at once, the change-log follower, and closes
// the connection and the database. cmd/identityd drains first.
func (i *Instance) Close() {
	if i.GRPC != nil {
		i.GRPC.Stop()
	}
	if i.Conn != nil {
		_ = i.Conn.Close()
	}
	if i.writer != nil {
		// the writes answered at commit are numbered before the follower
		// stops (a crash leaves them to the next start's follower)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		i.writer.Drain(ctx)
		cancel()
	}
	i.stop()
	if i.recorder != nil {
		// the SCIM requests still queued are stored before the database
		// closes
		select {
		case <-i.recorder.Done():
		case <-time.After(5 * time.Second):
		}
	}
	_ = i.DB.Close()
}

// DefaultAuditRetention is how long audit events are kept by default.
const DefaultAuditRetention = 90 * 24 * time.Hour

// every runs each task every interval until ctx ends, logging the errors
// under the task's name.
func every(ctx context.Context, interval time.Duration, log *slog.Logger, tasks map[string]func(context.Context) error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for what, task := range tasks {
				if err := task(ctx); err != nil && ctx.Err() == nil {
					log.WarnContext(ctx, what, "error", err)
				}
			}
		}
	}
}
