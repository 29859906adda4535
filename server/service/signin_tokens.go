package service

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"google.golang.org/grpc/codes"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/authcode"
	"github.com/acme/identity/ent/email"
	"github.com/acme/identity/ent/oauthclient"
	"github.com/acme/identity/ent/refreshtoken"
	"github.com/acme/identity/ent/samlconfig"
	"github.com/acme/identity/ent/session"
	"github.com/acme/identity/ent/tenant"
	entuser "github.com/acme/identity/ent/user"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/apierr"
	"github.com/acme/identity/server/authn"
	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/oidc"
	"github.com/acme/identity/server/roleindex"
	"github.com/acme/identity/server/store"
	"github.com/acme/identity/server/store/scope"
)

// refreshTTL is how long a refresh token works unused; each use issues a
// successor with a fresh period.
const refreshTTL = 30 * 24 * time.Hour

// grant is what tokens are minted for.
type grant struct {
	projectID, tenantID, clientID, sessionID, userID, scope, nonce string
	authTime                                                       time.Time
}

var errInvalidGrant = oauthError(codes.InvalidArgument, "invalid_grant",
	"the code or refresh token is invalid, expired, already used, or was issued to another client or redirect_uri")

// ExchangeCode is the authorization_code grant. The code's redirect URI and
// PKCE are checked before the code is used up, so a wrong guess by someone
// holding a stolen code burns nothing; using it, checking its session and
// issuing the refresh token are one write.
func (s *SignInService) ExchangeCode(ctx context.Context, req *identityv1.ExchangeCodeRequest) (*identityv1.ExchangeCodeResponse, error) {
	sys := scope.System(ctx)
	client, err := s.authenticateClient(sys, req.GetClientId(), req.GetClientSecret())
	if err != nil {
		return nil, err
	}
	if req.GetCode() == "" {
		return nil, oauthError(codes.InvalidArgument, "invalid_request", "code is required")
	}
	code, err := s.db.AuthCode.Query().Where(authcode.ID(authn.TokenID(req.GetCode())), authcode.ClientID(client.ID)).Only(sys)
	if ent.IsNotFound(err) {
		return nil, errInvalidGrant
	}
	if err != nil {
		return nil, fmt.Errorf("read code: %w", err)
	}
	if code.RedirectURI != req.GetRedirectUri() {
		return nil, errInvalidGrant
	}
	if err := checkVerifier(client, code.CodeChallenge, req.GetCodeVerifier()); err != nil {
		return nil, err
	}
	g := grant{projectID: client.ProjectID, tenantID: code.TenantID, clientID: client.ID, sessionID: code.SessionID,
		userID: code.UserID, scope: code.Scope, nonce: code.Nonce, authTime: code.AuthTime}
	// The writer finds the code's tenant in the client's project before
	// anything is written.
	tctx := scope.WithTenant(ctx, client.ProjectID, code.TenantID)
	var refresh string
	ended := false
	if _, err := s.w.Write(tctx, func(ctx context.Context, tx *store.Tx) error {
		switch use, err := useOnce(
			func() (int, error) {
				return tx.AuthCode.Update().Where(authcode.ID(code.ID), authcode.UseTimeIsNil(), authcode.ExpireTimeGT(tx.Now)).
					SetUseTime(tx.Now).Save(ctx)
			},
			func() (bool, error) {
				return tx.AuthCode.Query().Where(authcode.ID(code.ID), authcode.UseTimeNotNil()).Exist(ctx)
			}); {
		case err != nil:
			return fmt.Errorf("use code: %w", err)
		case use == reused:
			// A code presented twice was stolen or replayed: end the session
			// it started (RFC 6749 4.1.2).
			ended = true
			_, err = endSessions(ctx, tx, session.ID(code.SessionID))
			return err
		case use == unusable:
			return errInvalidGrant
		}
		if open, err := tx.Session.Query().Where(session.ID(code.SessionID), session.RevokeTimeIsNil()).Exist(ctx); err != nil || !open {
			return errors.Join(oauthError(codes.InvalidArgument, "invalid_grant", "the session has ended"), err)
		}
		if refresh, err = s.newRefreshToken(ctx, tx.Client(), g, tx.Now); err != nil {
			return err
		}
		tx.Record(changelog.TokensIssued{Tenant: changelog.TenantID(code.TenantID),
			Session: changelog.SessionID(code.SessionID), User: changelog.UserID(code.UserID)})
		return nil
	}); err != nil {
		return nil, err
	}
	if ended {
		return nil, errInvalidGrant
	}
	tokens, err := s.mint(tctx, g)
	if err != nil {
		return nil, err
	}
	tokens.RefreshToken = refresh
	return &identityv1.ExchangeCodeResponse{Tokens: tokens}, nil
}

// use is what happened to a single-use row (a code, a refresh token).
type use int

const (
	used     use = iota // this call used it
	reused              // it was used before: a replay
	unusable            // expired or gone
)

// useOnce marks a single-use row used (mark updates it where still unused
// and unexpired) and, when that changed nothing, reads again within the same
// transaction whether it had been used (usedBefore), so that a concurrent use
// that won is told from an expired row.
func useOnce(mark func() (int, error), usedBefore func() (bool, error)) (use, error) {
	n, err := mark()
	if err != nil || n > 0 {
		return used, err
	}
	was, err := usedBefore()
	if err != nil {
		return unusable, err
	}
	if was {
		return reused, nil
	}
	return unusable, nil
}

// checkVerifier is PKCE (RFC 7636 4.6): a code issued with a challenge needs
// the matching verifier, a code issued without one takes no verifier (RFC
// 9700 2.1.1: a verifier without a challenge is a downgrade), and a public
// client's codes always have one.
func checkVerifier(client *ent.OAuthClient, challenge, verifier string) error {
	bad := oauthError(codes.InvalidArgument, "invalid_grant", "code_verifier does not match the code_challenge")
	switch {
	case challenge == "" && (verifier != "" || client.Public):
		return bad
	case challenge == "":
		return nil
	}
	sum := sha256.Sum256([]byte(verifier))
	if verifier == "" || subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) != 1 {
		return bad
	}
	return nil
}

// RefreshTokens is the refresh_token grant, with rotation and reuse
// detection.
func (s *SignInService) RefreshTokens(ctx context.Context, req *identityv1.RefreshTokensRequest) (*identityv1.RefreshTokensResponse, error) {
	sys := scope.System(ctx)
	client, err := s.authenticateClient(sys, req.GetClientId(), req.GetClientSecret())
	if err != nil {
		return nil, err
	}
	if req.GetRefreshToken() == "" {
		return nil, oauthError(codes.InvalidArgument, "invalid_request", "refresh_token is required")
	}
	rt, err := s.db.RefreshToken.Query().Where(refreshtoken.ID(authn.TokenID(req.GetRefreshToken())), refreshtoken.ClientID(client.ID)).Only(sys)
	if ent.IsNotFound(err) {
		return nil, errInvalidGrant
	}
	if err != nil {
		return nil, fmt.Errorf("read refresh token: %w", err)
	}
	tctx := scope.WithTenant(ctx, client.ProjectID, rt.TenantID)
	var (
		g     grant
		next  string
		ended bool // the refresh ended the session instead (committed)
	)
	if _, err := s.w.Write(tctx, func(ctx context.Context, tx *store.Tx) error {
		sess, err := tx.Session.Query().Where(session.ID(rt.SessionID)).Only(ctx)
		if err != nil {
			return fmt.Errorf("read session: %w", err)
		}
		switch use, err := useOnce(
			func() (int, error) {
				return tx.RefreshToken.Update().
					Where(refreshtoken.ID(rt.ID), refreshtoken.UseTimeIsNil(), refreshtoken.ExpireTimeGT(tx.Now)).
					SetUseTime(tx.Now).Save(ctx)
			},
			func() (bool, error) {
				return tx.RefreshToken.Query().Where(refreshtoken.ID(rt.ID), refreshtoken.UseTimeNotNil()).Exist(ctx)
			}); {
		case err != nil:
			return fmt.Errorf("use refresh token: %w", err)
		case use == reused:
			// Presented twice: the token was stolen; end the session.
			ended = true
			_, err = endSessions(ctx, tx, session.ID(sess.ID))
			return err
		case use == unusable:
			return errInvalidGrant
		}
		if sess.RevokeTime != nil {
			return errInvalidGrant
		}
		u, err := tx.User.Query().Where(entuser.ID(sess.UserID)).Only(ctx)
		if ent.IsNotFound(err) || (err == nil && !u.Active) {
			ended = true
			_, err := endSessions(ctx, tx, session.ID(sess.ID))
			return err
		}
		if err != nil {
			return fmt.Errorf("read user: %w", err)
		}
		g = grant{projectID: client.ProjectID, tenantID: rt.TenantID, clientID: client.ID, sessionID: sess.ID,
			userID: sess.UserID, scope: rt.Scope, authTime: sess.CreateTime}
		if next, err = s.newRefreshToken(ctx, tx.Client(), g, tx.Now); err != nil {
			return err
		}
		tx.Record(changelog.TokensIssued{Tenant: changelog.TenantID(rt.TenantID),
			Session: changelog.SessionID(sess.ID), User: changelog.UserID(sess.UserID)})
		return nil
	}); err != nil {
		return nil, err
	}
	if ended {
		return nil, oauthError(codes.InvalidArgument, "invalid_grant", "the session has ended")
	}
	tokens, err := s.mint(tctx, g)
	if err != nil {
		return nil, err
	}
	tokens.RefreshToken = next
	return &identityv1.RefreshTokensResponse{Tokens: tokens}, nil
}

// RevokeToken ends the session of a refresh or access token of the client.
func (s *SignInService) RevokeToken(ctx context.Context, req *identityv1.RevokeTokenRequest) (*identityv1.RevokeTokenResponse, error) {
	sys := scope.System(ctx)
	client, err := s.authenticateClient(sys, req.GetClientId(), req.GetClientSecret())
	if err != nil {
		return nil, err
	}
	var tenantID, sessionID string
	if rt, err := s.db.RefreshToken.Query().Where(refreshtoken.ID(authn.TokenID(req.GetToken())), refreshtoken.ClientID(client.ID)).Only(sys); err == nil {
		tenantID, sessionID = rt.TenantID, rt.SessionID
	} else if !ent.IsNotFound(err) {
		return nil, fmt.Errorf("read refresh token: %w", err)
	} else if c, err := s.issuer.VerifyAccess(sys, req.GetToken(), s.projectOf(sys)); err == nil && slices.Contains(c.Audience, client.ID) {
		tenantID, sessionID = c.TenantID, c.SessionID
	}
	if sessionID == "" {
		return &identityv1.RevokeTokenResponse{}, nil // RFC 7009 2.2: unknown tokens are no error
	}
	if _, _, err := revokeSessions(scope.WithTenant(ctx, client.ProjectID, tenantID), s.w, session.ID(sessionID), session.ClientID(client.ID)); err != nil {
		return nil, err
	}
	return &identityv1.RevokeTokenResponse{}, nil
}

// newRefreshToken stores a new refresh token of g's session through db (the
// database or a write's transaction) and returns it.
func (s *SignInService) newRefreshToken(ctx context.Context, db *ent.Client, g grant, now time.Time) (string, error) {
	token, id, err := authn.NewOpaqueToken()
	if err != nil {
		return "", err
	}
	if err := db.RefreshToken.Create().SetID(id).SetTenantID(g.tenantID).SetSessionID(g.sessionID).
		SetClientID(g.clientID).SetScope(g.scope).SetCreateTime(now).SetExpireTime(now.Add(refreshTTL)).
		Exec(ctx); err != nil {
		return "", fmt.Errorf("store refresh token: %w", err)
	}
	return token, nil
}

// mint signs the access and ID tokens of a grant, reading the session, the
// user and its effective roles now.
func (s *SignInService) mint(ctx context.Context, g grant) (*identityv1.Tokens, error) {
	now := s.now()
	sess, err := s.db.Session.Query().Where(session.ID(g.sessionID)).Only(ctx)
	if ent.IsNotFound(err) || (err == nil && sess.RevokeTime != nil) {
		return nil, oauthError(codes.InvalidArgument, "invalid_grant", "the session has ended")
	}
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	u, err := s.db.User.Query().Where(entuser.ID(g.userID)).
		WithEmails(func(q *ent.EmailQuery) { q.Order(ent.Asc(email.FieldPosition)) }).Only(ctx)
	if ent.IsNotFound(err) || (err == nil && !u.Active) {
		return nil, oauthError(codes.InvalidArgument, "invalid_grant", "the user is no longer active")
	}
	if err != nil {
		return nil, fmt.Errorf("read user: %w", err)
	}
	ts, rev, err := indexAt(ctx, s.index, s.revisions, g.projectID, g.tenantID, 0)
	if ae := (*apierr.Error)(nil); errors.As(err, &ae) && ae.Code == codes.NotFound {
		// The tenant is gone: no token, rather than one without roles.
		return nil, oauthError(codes.InvalidArgument, "invalid_grant", "the tenant no longer exists")
	}
	if err != nil {
		return nil, err
	}
	grants := oidc.TenantGrants{Roles: []string{}, Permissions: []string{}}
	ts.Read(func(t *roleindex.Tenant) { grants.Roles, grants.Permissions = t.RoleNames(u.ID) })
	ttl := oidc.AccessTokenTTL
	if cfg, err := s.db.SamlConfig.Query().Where(samlconfig.TenantID(g.tenantID)).Only(ctx); err == nil && cfg.AccessTokenTTLSeconds > 0 {
		ttl = time.Duration(cfg.AccessTokenTTLSeconds) * time.Second
	}
	base := jwt.Claims{Issuer: s.issuer.URL(), Subject: u.ID, Audience: jwt.Audience{g.clientID},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now)}
	access := oidc.AccessClaims{Claims: base, SessionID: sess.ID, TenantID: g.tenantID,
		Tenants: map[string]oidc.TenantGrants{g.tenantID: grants}, Revision: rev, Scope: g.scope}
	access.Expiry = jwt.NewNumericDate(now.Add(ttl))
	access.ID = store.NewID()
	at, err := s.issuer.MintAccess(ctx, access)
	if err != nil {
		return nil, err
	}
	id := oidc.IDClaims{Claims: base, Nonce: g.nonce, AuthTime: g.authTime.Unix(), SessionID: sess.ID, TenantID: g.tenantID}
	id.Expiry = jwt.NewNumericDate(now.Add(oidc.IDTokenTTL))
	scopes := strings.Fields(g.scope)
	if slices.Contains(scopes, "email") {
		id.Email = userEmail(u)
	}
	if slices.Contains(scopes, "profile") {
		id.Name = u.DisplayName
	}
	it, err := s.issuer.MintID(ctx, id)
	if err != nil {
		return nil, err
	}
	return &identityv1.Tokens{AccessToken: at, IdToken: it, TokenType: "Bearer",
		ExpiresIn: int64(ttl / time.Second), Scope: g.scope}, nil
}

// GetUserInfo answers the claims of an access token's user, read now.
func (s *SignInService) GetUserInfo(ctx context.Context, req *identityv1.GetUserInfoRequest) (*identityv1.GetUserInfoResponse, error) {
	invalid := oauthError(codes.Unauthenticated, "invalid_token", oidc.ErrInvalidToken.Error())
	var projectID string
	c, err := s.issuer.VerifyAccess(scope.System(ctx), req.GetAccessToken(), func(tenantID string) (string, bool) {
		var ok bool
		projectID, ok = s.projectOf(scope.System(ctx))(tenantID)
		return projectID, ok
	})
	if errors.Is(err, oidc.ErrInvalidToken) {
		return nil, invalid
	}
	if err != nil {
		return nil, err
	}
	tctx := scope.WithTenant(ctx, projectID, c.TenantID)
	sess, err := s.db.Session.Query().Where(session.ID(c.SessionID)).Only(tctx)
	if err != nil || sess.RevokeTime != nil {
		return nil, invalid
	}
	u, err := s.db.User.Query().Where(entuser.ID(c.Subject)).
		WithEmails(func(q *ent.EmailQuery) { q.Order(ent.Asc(email.FieldPosition)) }).Only(tctx)
	if err != nil || !u.Active {
		return nil, invalid
	}
	out := &identityv1.GetUserInfoResponse{Sub: u.ID, TenantId: c.TenantID}
	scopes := strings.Fields(c.Scope)
	if slices.Contains(scopes, "email") {
		out.Email = userEmail(u)
	}
	if slices.Contains(scopes, "profile") {
		out.Name = u.DisplayName
	}
	return out, nil
}

// projectOf answers the project of a tenant, for binding a token's tenant to
// the keys that may have signed it.
func (s *SignInService) projectOf(sys context.Context) func(tenantID string) (string, bool) {
	return func(tenantID string) (string, bool) {
		t, err := s.db.Tenant.Query().Where(tenant.ID(tenantID)).Only(sys)
		if err != nil {
			return "", false
		}
		return t.ProjectID, true
	}
}

// authenticateClient checks a client's secret (confidential clients) in
// constant time; a public client sends none and proves itself with PKCE.
func (s *SignInService) authenticateClient(ctx context.Context, clientID, secret string) (*ent.OAuthClient, error) {
	invalid := oauthError(codes.Unauthenticated, "invalid_client", "client authentication failed")
	c, err := s.db.OAuthClient.Query().Where(oauthclient.ID(clientID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, invalid
	}
	if err != nil {
		return nil, fmt.Errorf("read client: %w", err)
	}
	if c.Public {
		if secret != "" {
			return nil, invalid
		}
		return c, nil
	}
	if !authn.SecretMatches(c.SecretHash, secret) {
		return nil, invalid
	}
	return c, nil
}
