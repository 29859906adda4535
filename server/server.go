package server

import (
	"log/slog"
	"time"

	"google.golang.org/grpc"

	"github.com/acme/identity/ent"
	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// Server holds what every service needs: the database and the logger, plus a
// clock that tests can replace.
type Server struct {
	db  *ent.Client
	log *slog.Logger
	now func() time.Time
}

// New returns the services over db. log receives internal errors and panics;
// it never receives secrets or request bodies.
func New(db *ent.Client, log *slog.Logger) *Server {
	return &Server{db: db, log: log, now: time.Now}
}

// Register adds every identity service to s.
func (srv *Server) Register(s grpc.ServiceRegistrar) {
	identityv1.RegisterProjectServiceServer(s, &ProjectService{srv})
	identityv1.RegisterTenantServiceServer(s, &TenantService{srv})
	identityv1.RegisterUserServiceServer(s, &UserService{srv})
	identityv1.RegisterGroupServiceServer(s, &GroupService{srv})
	identityv1.RegisterRoleServiceServer(s, &RoleService{srv})
}

// clock returns the current time as stored: UTC with microsecond precision,
// which both SQLite and PostgreSQL keep exactly, so a value returned by a write
// equals the value a later read returns.
func (srv *Server) clock() time.Time {
	return srv.now().UTC().Truncate(time.Microsecond)
}
