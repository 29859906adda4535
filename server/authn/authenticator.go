package authn

import (
	"context"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/accesskey"
	"github.com/acme/identity/ent/role"
	"github.com/acme/identity/ent/schema"
	"github.com/acme/identity/ent/scimtoken"
	"github.com/acme/identity/server/apierr"
	"github.com/acme/identity/server/authz"
	"github.com/acme/identity/server/store"
	"github.com/acme/identity/server/store/scope"
)

const (
	// lastUsedWindow is the precision of an access key's last_used_time.
	lastUsedWindow = time.Minute
	// Recheck bounds how long a verified credential is trusted from the
	// cache: one in use is read from the database again at least this often.
	// A revocation (or a disabled SCIM token) therefore stops a credential on
	// every instance within Recheck of its commit, whether or not the
	// instance's change-log follower has polled yet; the revoking instance
	// empties its cache before the revoking call returns.
	Recheck = 50 * time.Millisecond
	// loadTimeout bounds one read of a credential.
	loadTimeout = 10 * time.Second
)

var errBadCredential = status.Error(codes.Unauthenticated,
	"invalid credential: send authorization: Bearer <ProjectID>:<AccessKey> with a valid, unexpired access key, or a tenant's SCIM token")

// Authenticator verifies the bearer credentials of requests.
type Authenticator struct {
	db    *ent.Client
	log   *slog.Logger
	now   func() time.Time
	cache *Cache
	// loads lets concurrent requests of one credential (key or SCIM token)
	// share one read when its cache entry is missing or due for its recheck.
	loads singleflight.Group
}

// NewAuthenticator returns an authenticator over db's keys and tokens,
// caching verified credentials in cache.
func NewAuthenticator(db *ent.Client, log *slog.Logger, now func() time.Time, cache *Cache) *Authenticator {
	return &Authenticator{db: db, log: log, now: now, cache: cache}
}

// Authenticate checks the bearer credential of a request and puts its
// Principal into the context. Every failure is Unauthenticated with the same
// message, so a caller cannot probe which projects, keys or tokens exist.
func (a *Authenticator) Authenticate(ctx context.Context) (context.Context, error) {
	cred, err := auth.AuthFromMD(ctx, "bearer")
	if err != nil {
		return nil, status.Error(codes.Unauthenticated,
			"missing credential: send the header authorization: Bearer <ProjectID>:<AccessKey>")
	}
	var p Principal
	if token, ok := strings.CutPrefix(cred, ScimPrefix); ok {
		p, err = a.scimToken(ctx, token)
	} else {
		p, err = a.accessKey(ctx, cred)
	}
	if err != nil {
		return nil, err
	}
	return WithPrincipal(ctx, p), nil
}

func (a *Authenticator) accessKey(ctx context.Context, cred string) (Principal, error) {
	projectID, key, _ := strings.Cut(cred, ":")
	keyID, secret, ok := splitSecret(key)
	if !ok || uuid.Validate(projectID) != nil {
		return Principal{}, errBadCredential
	}
	now := a.now()
	k := a.cache.key(keyID)
	if k == nil || now.Sub(k.verified) >= Recheck {
		v, err := a.shared(ctx, "key:"+keyID, func(ctx context.Context) (any, error) { return a.loadKey(ctx, keyID, now) })
		if err != nil {
			return Principal{}, err
		}
		k = v.(*cachedKey)
	}
	if k.projectID != projectID || subtle.ConstantTimeCompare(hashSecret(secret), k.hash) != 1 ||
		k.revoked || (k.expire != nil && !now.Before(*k.expire)) {
		return Principal{}, errBadCredential
	}
	// last_used_time is kept to the minute, written off the request path, so a
	// busy key costs one write a minute.
	if last := k.lastUsed.Load(); now.Unix()-last >= int64(lastUsedWindow/time.Second) && k.lastUsed.CompareAndSwap(last, now.Unix()) {
		go func() {
			ctx := scope.WithProject(context.WithoutCancel(ctx), k.projectID)
			err := a.db.AccessKey.UpdateOneID(keyID).SetLastUsedTime(now.UTC().Truncate(time.Second)).Exec(ctx)
			if err != nil && !ent.IsNotFound(err) {
				a.log.Warn("record access key use", "key_id", keyID, "error", err)
			}
		}()
	}
	return k.principal, nil
}

// shared runs load once for the concurrent requests of one credential
// (named by key) whose cache entry is missing or due for its recheck. The
// shared read is bounded on its own, and each waiting request by its
// deadline.
func (a *Authenticator) shared(ctx context.Context, key string, load func(context.Context) (any, error)) (any, error) {
	ch := a.loads.DoChan(key, func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
		defer cancel()
		return load(lctx)
	})
	select {
	case res := <-ch:
		return res.Val, res.Err
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// loadToken reads a SCIM token and its tenant's project, and caches it, as
// the system (the token names the tenant).
func (a *Authenticator) loadToken(ctx context.Context, id string, now time.Time) (*cachedToken, error) {
	gen := a.cache.generation()
	ctx = scope.System(ctx)
	row, err := a.db.ScimToken.Query().Where(scimtoken.ID(id)).WithTenant().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, errBadCredential
	}
	if err != nil {
		return nil, apierr.ToStatus(ctx, a.log, "authenticate", fmt.Errorf("find SCIM token: %w", err))
	}
	t := &cachedToken{verified: now, hash: row.SecretHash, expire: row.ExpireTime,
		principal: Principal{ProjectID: row.Edges.Tenant.ProjectID, ScimTenantID: row.TenantID, ScimTokenID: row.ID}}
	t.principal.Grant(row.TenantID, authz.ScimTokenPermissions...)
	a.cache.putToken(gen, id, t)
	return t, nil
}

// loadKey reads a key and what its bindings grant, and caches it. It reads
// before any scope exists (the key names the project), so as the system.
func (a *Authenticator) loadKey(ctx context.Context, keyID string, now time.Time) (*cachedKey, error) {
	gen := a.cache.generation()
	ctx = scope.System(ctx)
	row, err := a.db.AccessKey.Query().Where(accesskey.ID(keyID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, errBadCredential
	}
	if err != nil {
		return nil, apierr.ToStatus(ctx, a.log, "authenticate", fmt.Errorf("find access key: %w", err))
	}
	k := &cachedKey{
		verified: now, projectID: row.ProjectID, hash: row.SecretHash, expire: row.ExpireTime, revoked: row.RevokeTime != nil,
		principal: Principal{ProjectID: row.ProjectID, KeyID: keyID, scimReady: new(atomic.Bool)},
	}
	if row.LastUsedTime != nil {
		k.lastUsed.Store(row.LastUsedTime.Unix())
	}
	for _, b := range row.RoleBindings {
		if err := a.bind(scope.WithProject(ctx, row.ProjectID), &k.principal, b); err != nil {
			return nil, apierr.ToStatus(ctx, a.log, "authenticate", err)
		}
	}
	a.cache.putKey(gen, keyID, k)
	return k, nil
}

// bind adds what one role binding grants. A tenant role grants those of its
// permissions that are API permissions; a binding to a tenant or role that no
// longer exists grants nothing. ctx is scoped to the key's project.
func (a *Authenticator) bind(ctx context.Context, p *Principal, b schema.RoleBinding) error {
	switch b.Role {
	case authz.RoleProjectAdmin:
		p.ProjectAdmin = true
	case authz.RoleTenantAdmin:
		p.Grant(b.TenantID, authz.TenantAdminPermissions...)
		p.TenantAdminOf = append(p.TenantAdminOf, b.TenantID)
	default:
		r, err := a.db.Role.Query().Where(role.TenantID(b.TenantID), role.NameKey(store.NameLookup(b.Role))).Only(ctx)
		if ent.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("find bound role: %w", err)
		}
		p.GrantRole(b.TenantID, r.Permissions)
	}
	return nil
}

func (a *Authenticator) scimToken(ctx context.Context, token string) (Principal, error) {
	id, secret, ok := splitSecret(token)
	if !ok {
		return Principal{}, errBadCredential
	}
	now := a.now()
	t := a.cache.token(id)
	if t == nil || now.Sub(t.verified) >= Recheck {
		v, err := a.shared(ctx, "token:"+id, func(ctx context.Context) (any, error) { return a.loadToken(ctx, id, now) })
		if err != nil {
			return Principal{}, err
		}
		t = v.(*cachedToken)
	}
	if subtle.ConstantTimeCompare(hashSecret(secret), t.hash) != 1 || (t.expire != nil && !now.Before(*t.expire)) {
		return Principal{}, errBadCredential
	}
	return t.principal, nil
}
