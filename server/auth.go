package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/accesskey"
	"github.com/acme/identity/ent/role"
	"github.com/acme/identity/ent/schema"
	"github.com/acme/identity/ent/scimtoken"
	"github.com/acme/identity/ent/tenant"
)

// Built-in roles of access keys.
const (
	RoleProjectAdmin = "Project Admin"
	RoleTenantAdmin  = "Tenant Admin"
)

// Principal is the authenticated caller of a request: an access key or a
// tenant's SCIM token, with what it may do.
type Principal struct {
	ProjectID string
	// KeyID is the access key's id, or "" for a SCIM token.
	KeyID string
	// ScimTenantID is the tenant of a SCIM token, or "" for an access key.
	ScimTenantID string
	// ProjectAdmin may do everything in the project.
	ProjectAdmin bool
	// tenants holds the permissions the caller has on each tenant it may see.
	tenants map[string]map[Permission]bool
	// tenantAdminOf lists the tenants on which an access key holds Tenant Admin.
	tenantAdminOf []string
}

type principalKey struct{}

// principalFrom returns the caller; the authentication interceptor guarantees
// one on every method that reaches a service.
func principalFrom(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

func (p *Principal) grant(tenantID string, perms ...Permission) {
	if p.tenants == nil {
		p.tenants = map[string]map[Permission]bool{}
	}
	if p.tenants[tenantID] == nil {
		p.tenants[tenantID] = map[Permission]bool{}
	}
	for _, perm := range perms {
		p.tenants[tenantID][perm] = true
	}
}

// Credentials: an access key is `<ProjectID>:<KeyID>.<Secret>`, a SCIM token
// `scim_<TokenID>.<Secret>`. The id locates the row; the secret (32 random
// bytes, base64url) is checked against its stored SHA-256 in constant time.
const (
	secretIDBytes  = 16
	secretBytes    = 32
	scimPrefix     = "scim_"
	lastUsedWindow = time.Minute
)

// newSecret returns a fresh id, the credential `<prefix><id>.<secret>` and the
// hash to store. The secret itself is never stored.
func newSecret(prefix string) (id, credential string, hash []byte, err error) {
	b := make([]byte, secretIDBytes+secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", nil, fmt.Errorf("random: %w", err)
	}
	id = hex.EncodeToString(b[:secretIDBytes])
	secret := base64.RawURLEncoding.EncodeToString(b[secretIDBytes:])
	return id, prefix + id + "." + secret, hashSecret(secret), nil
}

func hashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// NewAccessKey returns a fresh key id, the access key (`<KeyID>.<Secret>`) and
// the hash to store.
func NewAccessKey() (id, key string, hash []byte, err error) { return newSecret("") }

// FormatCredential joins a project id and an access key as callers present them.
func FormatCredential(projectID, accessKey string) string {
	return projectID + ":" + accessKey
}

// splitSecret splits `<id>.<secret>` and checks the id's shape.
func splitSecret(s string) (id, secret string, ok bool) {
	id, secret, ok = strings.Cut(s, ".")
	return id, secret, ok && len(id) == 2*secretIDBytes && secret != ""
}

var errBadCredential = status.Error(codes.Unauthenticated,
	"invalid credential: send authorization: Bearer <ProjectID>:<AccessKey> with a valid, unexpired access key, or a tenant's SCIM token")

// authenticate checks the bearer credential of a request and puts its
// Principal into the context. Every failure is Unauthenticated with the same
// message, so a caller cannot probe which projects, keys or tokens exist.
func (srv *Server) authenticate(ctx context.Context) (context.Context, error) {
	cred, err := auth.AuthFromMD(ctx, "bearer")
	if err != nil {
		return nil, status.Error(codes.Unauthenticated,
			"missing credential: send the header authorization: Bearer <ProjectID>:<AccessKey>")
	}
	var p Principal
	if token, ok := strings.CutPrefix(cred, scimPrefix); ok {
		p, err = srv.authenticateScimToken(ctx, token)
	} else {
		p, err = srv.authenticateAccessKey(ctx, cred)
	}
	if err != nil {
		return nil, err
	}
	return context.WithValue(ctx, principalKey{}, p), nil
}

// credCache holds verified credentials, so the hot path costs a map lookup
// and a SHA-256 instead of a query. The role index clears it whenever a key,
// SCIM token, SSO setting, role or tenant changes (on this instance before the
// write returns; on others within the change-log poll interval). gen guards
// against a miss loaded from the database before a clear being stored after it.
type credCache struct {
	mu     sync.RWMutex
	gen    uint64
	keys   map[string]*cachedKey
	tokens map[string]*cachedToken
}

type cachedKey struct {
	projectID string
	hash      []byte
	expire    *time.Time
	revoked   bool
	principal Principal
	lastUsed  atomic.Int64 // unix seconds of the last recorded use
}

type cachedToken struct {
	hash      []byte
	expire    *time.Time
	principal Principal
}

func newCredCache() *credCache {
	return &credCache{keys: map[string]*cachedKey{}, tokens: map[string]*cachedToken{}}
}

func (c *credCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.keys = map[string]*cachedKey{}
	c.tokens = map[string]*cachedToken{}
}

func (c *credCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

func (srv *Server) authenticateAccessKey(ctx context.Context, cred string) (Principal, error) {
	projectID, key, _ := strings.Cut(cred, ":")
	keyID, secret, ok := splitSecret(key)
	if !ok || uuid.Validate(projectID) != nil {
		return Principal{}, errBadCredential
	}
	srv.creds.mu.RLock()
	k := srv.creds.keys[keyID]
	srv.creds.mu.RUnlock()
	if k == nil {
		var err error
		if k, err = srv.loadKey(ctx, keyID); err != nil {
			return Principal{}, err
		}
	}
	now := srv.now()
	if k.projectID != projectID || subtle.ConstantTimeCompare(hashSecret(secret), k.hash) != 1 ||
		k.revoked || (k.expire != nil && !now.Before(*k.expire)) {
		return Principal{}, errBadCredential
	}
	// last_used_time is kept to the minute, written off the request path, so a
	// busy key costs one write a minute.
	if last := k.lastUsed.Load(); now.Unix()-last >= int64(lastUsedWindow/time.Second) && k.lastUsed.CompareAndSwap(last, now.Unix()) {
		go func() {
			err := srv.db.AccessKey.UpdateOneID(keyID).SetLastUsedTime(now.UTC().Truncate(time.Second)).Exec(context.WithoutCancel(ctx))
			if err != nil && !ent.IsNotFound(err) {
				srv.log.Warn("record access key use", "key_id", keyID, "error", err)
			}
		}()
	}
	return k.principal, nil
}

// loadKey reads a key and what its bindings grant, and caches it.
func (srv *Server) loadKey(ctx context.Context, keyID string) (*cachedKey, error) {
	gen := srv.creds.generation()
	row, err := srv.db.AccessKey.Query().Where(accesskey.ID(keyID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, errBadCredential
	}
	if err != nil {
		return nil, srv.toStatus(ctx, "authenticate", fmt.Errorf("find access key: %w", err))
	}
	k := &cachedKey{
		projectID: row.ProjectID, hash: row.SecretHash, expire: row.ExpireTime, revoked: row.RevokeTime != nil,
		principal: Principal{ProjectID: row.ProjectID, KeyID: keyID},
	}
	if row.LastUsedTime != nil {
		k.lastUsed.Store(row.LastUsedTime.Unix())
	}
	for _, b := range row.RoleBindings {
		if err := srv.bind(ctx, &k.principal, b); err != nil {
			return nil, srv.toStatus(ctx, "authenticate", err)
		}
	}
	srv.creds.mu.Lock()
	if srv.creds.gen == gen {
		srv.creds.keys[keyID] = k
	}
	srv.creds.mu.Unlock()
	return k, nil
}

// bind adds what one role binding grants. A tenant role grants those of its
// permissions that are API permissions; a binding to a tenant or role that no
// longer exists grants nothing.
func (srv *Server) bind(ctx context.Context, p *Principal, b schema.RoleBinding) error {
	switch b.Role {
	case RoleProjectAdmin:
		p.ProjectAdmin = true
	case RoleTenantAdmin:
		p.grant(b.TenantID, tenantAdminPermissions...)
		p.tenantAdminOf = append(p.tenantAdminOf, b.TenantID)
	default:
		r, err := srv.db.Role.Query().
			Where(role.TenantID(b.TenantID), role.NameKey(fold(b.Role)), role.HasTenantWith(tenant.ProjectID(p.ProjectID))).
			Only(ctx)
		if ent.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("find bound role: %w", err)
		}
		for _, perm := range r.Permissions {
			if tenantPermission[Permission(perm)] {
				p.grant(b.TenantID, Permission(perm))
			}
		}
	}
	return nil
}

func (srv *Server) authenticateScimToken(ctx context.Context, token string) (Principal, error) {
	id, secret, ok := splitSecret(token)
	if !ok {
		return Principal{}, errBadCredential
	}
	srv.creds.mu.RLock()
	t := srv.creds.tokens[id]
	srv.creds.mu.RUnlock()
	if t == nil {
		gen := srv.creds.generation()
		row, err := srv.db.ScimToken.Query().Where(scimtoken.ID(id)).WithTenant().Only(ctx)
		if ent.IsNotFound(err) {
			return Principal{}, errBadCredential
		}
		if err != nil {
			return Principal{}, srv.toStatus(ctx, "authenticate", fmt.Errorf("find SCIM token: %w", err))
		}
		t = &cachedToken{hash: row.SecretHash, expire: row.ExpireTime,
			principal: Principal{ProjectID: row.Edges.Tenant.ProjectID, ScimTenantID: row.TenantID}}
		t.principal.grant(row.TenantID, scimTokenPermissions...)
		srv.creds.mu.Lock()
		if srv.creds.gen == gen {
			srv.creds.tokens[id] = t
		}
		srv.creds.mu.Unlock()
	}
	if subtle.ConstantTimeCompare(hashSecret(secret), t.hash) != 1 || (t.expire != nil && !srv.now().Before(*t.expire)) {
		return Principal{}, errBadCredential
	}
	return t.principal, nil
}

// InitProject creates the project of a new deployment with a root access key
// (Project Admin) and returns the credential, the only time it is ever shown.
// It refuses when the database already holds a project.
func InitProject(ctx context.Context, db *ent.Client, displayName string) (credential string, err error) {
	tx, err := db.Tx(ctx)
	if err != nil {
		return "", fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	n, err := tx.Project.Query().Count(ctx)
	if err != nil {
		return "", fmt.Errorf("count projects: %w", err)
	}
	if n > 0 {
		return "", fmt.Errorf("already initialized: this database holds a project")
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	projectID := uuid.Must(uuid.NewV7()).String()
	if err := tx.Project.Create().SetID(projectID).SetDisplayName(displayName).
		SetCreateTime(now).SetUpdateTime(now).Exec(ctx); err != nil {
		return "", fmt.Errorf("create project: %w", err)
	}
	keyID, key, hash, err := NewAccessKey()
	if err != nil {
		return "", err
	}
	if err := tx.AccessKey.Create().SetID(keyID).SetProjectID(projectID).SetName("root").
		SetSecretHash(hash).SetRoleBindings([]schema.RoleBinding{{Role: RoleProjectAdmin}}).
		SetCreateTime(now).Exec(ctx); err != nil {
		return "", fmt.Errorf("create root key: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	return FormatCredential(projectID, key), nil
}
