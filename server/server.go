package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/acme/identity/ent"
	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// Options are the settings of a Server; the zero value works.
type Options struct {
	// PublicURL is the base URL at which identityd's HTTP side is reached from
	// outside (by browsers and IdPs): the SAML SP entity ID, ACS URL and the
	// SCIM base URL are built from it. Default http://127.0.0.1:8080.
	PublicURL string
	// Now replaces the clock, for tests. Default time.Now.
	Now func() time.Time
	// MetadataClient fetches IdP metadata URLs. Default: a client with a 10 s
	// timeout.
	MetadataClient *http.Client
}

// Server holds what every service needs.
type Server struct {
	index     *roleIndex
	creds     *credCache
	db        *ent.Client
	log       *slog.Logger
	now       func() time.Time
	publicURL string
	metadata  *http.Client
}

// New returns the services over db. log receives internal errors and panics;
// it never receives secrets or request bodies.
func New(db *ent.Client, log *slog.Logger, opts Options) *Server {
	srv := &Server{
		db:        db,
		log:       log,
		now:       opts.Now,
		publicURL: strings.TrimRight(opts.PublicURL, "/"),
		metadata:  opts.MetadataClient,
	}
	if srv.now == nil {
		srv.now = time.Now
	}
	if srv.publicURL == "" {
		srv.publicURL = "http://127.0.0.1:8080"
	}
	if srv.metadata == nil {
		srv.metadata = &http.Client{Timeout: metadataTimeout}
	}
	srv.index = newRoleIndex(srv)
	srv.creds = newCredCache()
	return srv
}

// Start builds the role index from the database and keeps it following the
// change log until ctx ends. It must return before the server takes requests.
func (srv *Server) Start(ctx context.Context) error {
	if err := srv.index.build(ctx); err != nil {
		return fmt.Errorf("build role index: %w", err)
	}
	go srv.index.run(ctx)
	return nil
}

// Register adds every identity service to s.
func (srv *Server) Register(s grpc.ServiceRegistrar) {
	identityv1.RegisterProjectServiceServer(s, &ProjectService{srv})
	identityv1.RegisterTenantServiceServer(s, &TenantService{srv})
	identityv1.RegisterUserServiceServer(s, &UserService{srv})
	identityv1.RegisterGroupServiceServer(s, &GroupService{srv})
	identityv1.RegisterRoleServiceServer(s, &RoleService{srv})
	identityv1.RegisterAccessKeyServiceServer(s, &AccessKeyService{srv})
	identityv1.RegisterSsoServiceServer(s, &SsoService{srv})
	identityv1.RegisterScimServiceServer(s, &ScimService{srv})
	identityv1.RegisterAuthzServiceServer(s, &AuthzService{srv})
}

// clock returns the current time as stored: UTC with microsecond precision,
// which both SQLite and PostgreSQL keep exactly, so a value returned by a write
// equals the value a later read returns.
func (srv *Server) clock() time.Time {
	return srv.now().UTC().Truncate(time.Microsecond)
}
