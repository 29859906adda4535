package service

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/authcode"
	"github.com/acme/identity/ent/oauthclient"
	"github.com/acme/identity/ent/pendinglogin"
	"github.com/acme/identity/ent/refreshtoken"
	"github.com/acme/identity/ent/samlconfig"
	"github.com/acme/identity/ent/seenassertion"
	"github.com/acme/identity/ent/tenant"
	"github.com/acme/identity/ent/tenantdomain"
	entuser "github.com/acme/identity/ent/user"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/apierr"
	"github.com/acme/identity/server/authn"
	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/oidc"
	"github.com/acme/identity/server/roleindex"
	"github.com/acme/identity/server/saml"
	"github.com/acme/identity/server/store"
	"github.com/acme/identity/server/store/scope"
)

const (
	// pendingTTL bounds the time from /oauth2/authorize to the ACS.
	pendingTTL = 5 * time.Minute
	// codeTTL bounds the time from the ACS to the token endpoint.
	codeTTL = 60 * time.Second
)

// Login failure codes besides those of saml.Verify.
const (
	failNotProvisioned = "user_not_provisioned"
	failInactive       = "user_inactive"
	failReplayed       = "assertion_replayed"
)

// SignInService implements identityv1.SignInServiceServer: the OpenID Connect
// provider whose users authenticate at their tenant's SAML IdP. JIT
// provisioning is off: only users provisioned in the tenant, and active, sign
// in, and a login never creates anything but its session.
type SignInService struct {
	db        *ent.Client
	w         *store.Writer
	sp        saml.SP
	issuer    *oidc.Issuer
	index     *roleindex.Index
	revisions Revisions
	log       *slog.Logger
	now       func() time.Time
}

var _ identityv1.SignInServiceServer = (*SignInService)(nil)

// NewSignInService returns the sign-in service.
func NewSignInService(db *ent.Client, w *store.Writer, sp saml.SP, issuer *oidc.Issuer, index *roleindex.Index,
	revisions Revisions, log *slog.Logger, now func() time.Time) *SignInService {
	return &SignInService{db: db, w: w, sp: sp, issuer: issuer, index: index, revisions: revisions, log: log, now: now}
}

// oauthError is an OAuth error (RFC 6749 4.1.2.1 and 5.2): the reason is the
// error code.
func oauthError(code codes.Code, reason, description string) error {
	return &apierr.Error{Code: code, Reason: reason, Message: description}
}

// StartLogin checks an authorization request and sends the browser to the
// tenant's IdP.
func (s *SignInService) StartLogin(ctx context.Context, req *identityv1.StartLoginRequest) (*identityv1.StartLoginResponse, error) {
	sys := scope.System(ctx)
	client, err := s.db.OAuthClient.Query().Where(oauthclient.ID(req.GetClientId())).Only(sys)
	if ent.IsNotFound(err) {
		return nil, oauthError(codes.InvalidArgument, "invalid_client", "unknown client_id")
	}
	if err != nil {
		return nil, fmt.Errorf("read client: %w", err)
	}
	if !slices.Contains(client.RedirectUris, req.GetRedirectUri()) {
		return nil, oauthError(codes.InvalidArgument, "invalid_redirect_uri", "redirect_uri is not registered for this client")
	}
	// From here on, errors go back to the client's redirect URI.
	fail := func(code, description string) (*identityv1.StartLoginResponse, error) {
		return &identityv1.StartLoginResponse{RedirectUrl: withQuery(req.GetRedirectUri(), "error", code,
			"error_description", description, "state", req.GetState())}, nil
	}
	if req.GetResponseType() != "code" {
		return fail("unsupported_response_type", "only response_type=code is supported")
	}
	scopes := strings.Fields(req.GetScope())
	if !slices.Contains(scopes, "openid") {
		return fail("invalid_scope", "scope must include openid")
	}
	switch {
	case req.GetCodeChallenge() == "" && client.Public:
		return fail("invalid_request", "a public client must send a PKCE code_challenge")
	case req.GetCodeChallenge() != "" && req.GetCodeChallengeMethod() != "S256":
		return fail("invalid_request", "code_challenge_method must be S256")
	case req.GetCodeChallenge() != "" && !validChallenge(req.GetCodeChallenge()):
		return fail("invalid_request", "code_challenge must be 43 to 128 base64url characters")
	}
	tenantID := req.GetTenantId()
	if tenantID == "" {
		_, domain, ok := strings.Cut(req.GetLoginHint(), "@")
		if !ok {
			return fail("invalid_request", "tenant (or a login_hint email of a tenant's sign-in domain) is required")
		}
		d, err := s.db.TenantDomain.Query().Where(tenantdomain.ProjectID(client.ProjectID), tenantdomain.Domain(strings.ToLower(domain))).Only(sys)
		if ent.IsNotFound(err) {
			return fail("invalid_request", "no tenant signs in users of this login_hint's domain")
		}
		if err != nil {
			return nil, fmt.Errorf("find sign-in domain: %w", err)
		}
		tenantID = d.TenantID
	}
	ok, err := s.db.Tenant.Query().Where(tenant.ID(tenantID), tenant.ProjectID(client.ProjectID)).Exist(sys)
	if err != nil {
		return nil, fmt.Errorf("find tenant: %w", err)
	}
	if !ok {
		return fail("invalid_request", "unknown tenant")
	}
	// Found in the client's project just above; the pending login, the one
	// row created outside a write (protocol state, not a resource, so it
	// takes no revision), fails on its foreign key if the tenant is deleted
	// meanwhile.
	tctx := scope.WithKnownTenant(ctx, client.ProjectID, tenantID)
	cfg, err := s.db.SamlConfig.Query().Where(samlconfig.TenantID(tenantID)).Only(tctx)
	if ent.IsNotFound(err) {
		return fail("access_denied", "sso_not_configured")
	}
	if err != nil {
		return nil, fmt.Errorf("read saml config: %w", err)
	}
	relayState, id, err := authn.NewOpaqueToken()
	if err != nil {
		return nil, err
	}
	authn, err := s.sp.NewAuthnRequest(tenantID, cfg.MetadataXML, cfg.SSOURL, cfg.SSOBinding, relayState)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if err := s.db.PendingLogin.Create().
		SetID(id).SetTenantID(tenantID).SetClientID(client.ID).SetRedirectURI(req.GetRedirectUri()).
		SetScope(strings.Join(scopes, " ")).SetState(req.GetState()).SetNonce(req.GetNonce()).
		SetCodeChallenge(req.GetCodeChallenge()).SetSamlRequestID(authn.ID).
		SetCreateTime(now).SetExpireTime(now.Add(pendingTTL)).
		Exec(tctx); err != nil {
		return nil, fmt.Errorf("store pending login: %w", err)
	}
	return &identityv1.StartLoginResponse{RedirectUrl: authn.RedirectURL,
		PostUrl: authn.PostURL, SamlRequest: authn.SAMLRequest, RelayState: relayState}, nil
}

// FinishLogin verifies the IdP's answer and issues a code.
func (s *SignInService) FinishLogin(ctx context.Context, req *identityv1.FinishLoginRequest) (*identityv1.FinishLoginResponse, error) {
	sys, now := scope.System(ctx), s.now()
	pending, err := s.db.PendingLogin.Query().
		Where(pendinglogin.ID(authn.TokenID(req.GetRelayState())), pendinglogin.TenantID(req.GetTenantId())).
		WithTenant().Only(sys)
	if ent.IsNotFound(err) {
		// Not a sign-in started here: an IdP-initiated one, if the tenant
		// allows them.
		return s.finishUnsolicited(ctx, req)
	}
	if err != nil {
		return nil, fmt.Errorf("read pending login: %w", err)
	}
	if pending.UseTime != nil || !pending.ExpireTime.After(now) {
		return nil, errLoginExpired
	}
	tctx := scope.WithTenant(ctx, pending.Edges.Tenant.ProjectID, pending.TenantID)
	return s.complete(tctx, landing{pendingID: pending.ID, tenantID: pending.TenantID, clientID: pending.ClientID,
		redirectURI: pending.RedirectURI, scope: pending.Scope, state: pending.State, nonce: pending.Nonce,
		challenge: pending.CodeChallenge, requestID: pending.SamlRequestID}, req.GetSamlResponse())
}

// errLoginExpired answers a sign-in whose authorization request expired or
// was used.
var errLoginExpired = oauthError(codes.FailedPrecondition, "login_expired", "this sign-in expired or was already finished: start again")

// usePending marks the pending authorization of l used, in the write that
// ends the sign-in (its session and code, or its refusal): the update wins
// exactly once, so of two posts of one RelayState at most one signs in. It
// reports whether this write won; a sign-in started by the IdP has none.
func usePending(ctx context.Context, tx *store.Tx, l landing) (bool, error) {
	if l.pendingID == "" {
		return true, nil
	}
	n, err := tx.PendingLogin.Update().
		Where(pendinglogin.ID(l.pendingID), pendinglogin.UseTimeIsNil(), pendinglogin.ExpireTimeGT(tx.Now)).
		SetUseTime(tx.Now).Save(ctx)
	if err != nil {
		return false, fmt.Errorf("use pending login: %w", err)
	}
	return n == 1, nil
}

// finishUnsolicited finishes an IdP-initiated sign-in (an Okta tile): only
// for a tenant that allows them, only to its configured client and redirect
// URI, and only for a response that answers no request.
func (s *SignInService) finishUnsolicited(ctx context.Context, req *identityv1.FinishLoginRequest) (*identityv1.FinishLoginResponse, error) {
	off := oauthError(codes.FailedPrecondition, "unknown_login", "this sign-in was not started here, and the tenant does not allow IdP-initiated sign-in")
	t, err := s.db.Tenant.Query().Where(tenant.ID(req.GetTenantId())).Only(scope.System(ctx))
	if ent.IsNotFound(err) {
		return nil, off
	}
	if err != nil {
		return nil, fmt.Errorf("read tenant: %w", err)
	}
	tctx := scope.WithTenant(ctx, t.ProjectID, t.ID)
	cfg, err := s.db.SamlConfig.Query().Where(samlconfig.TenantID(t.ID)).Only(tctx)
	if ent.IsNotFound(err) || (err == nil && !cfg.IdpInitiated) {
		return nil, off
	}
	if err != nil {
		return nil, fmt.Errorf("read saml config: %w", err)
	}
	// The client may have changed since the setting was made: it must still
	// be confidential and still own the redirect URI.
	client, err := s.db.OAuthClient.Query().Where(oauthclient.ID(cfg.IdpInitiatedClientID), oauthclient.ProjectID(t.ProjectID)).Only(scope.System(ctx))
	if ent.IsNotFound(err) || (err == nil && (client.Public || !slices.Contains(client.RedirectUris, cfg.IdpInitiatedRedirectURI))) {
		return nil, oauthError(codes.FailedPrecondition, "idp_initiated_misconfigured",
			"the tenant's IdP-initiated sign-in names a client or redirect URI that no longer exists")
	}
	if err != nil {
		return nil, fmt.Errorf("read client: %w", err)
	}
	return s.complete(tctx, landing{tenantID: t.ID, clientID: client.ID, redirectURI: cfg.IdpInitiatedRedirectURI,
		scope: "openid email profile"}, req.GetSamlResponse())
}

// landing is where a sign-in lands, and what it was asked for.
type landing struct {
	tenantID, clientID, redirectURI, scope, state, nonce, challenge string
	// pendingID and requestID are the pending authorization's and its
	// AuthnRequest's IDs; empty for an IdP-initiated login.
	pendingID, requestID string
}

// complete verifies the SAML response for l, finds the user, and answers l's
// redirect URI with a code, or with access_denied and the failure code.
func (s *SignInService) complete(ctx context.Context, l landing, samlResponse string) (*identityv1.FinishLoginResponse, error) {
	var userID string // once known
	verified := false
	deny := func(code string, reason error) (*identityv1.FinishLoginResponse, error) {
		s.log.InfoContext(ctx, "sign-in refused", "tenant", l.tenantID, "client", l.clientID, "code", code, "reason", reason)
		// The refusal is in the change log (the audit record), with its code
		// and never the response itself; unverified unsolicited posts (which
		// anyone can send to an ACS allowing IdP-initiated sign-in) are only
		// logged, so they cannot fill the log.
		if l.requestID == "" && !verified {
			return &identityv1.FinishLoginResponse{RedirectUrl: withQuery(l.redirectURI, "error", "access_denied",
				"error_description", code, "state", l.state)}, nil
		}
		if _, err := s.w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
			if _, err := usePending(ctx, tx, l); err != nil {
				return err
			}
			tx.Record(changelog.LoginFailed{Tenant: changelog.TenantID(l.tenantID), Client: changelog.ClientID(l.clientID),
				User: changelog.UserID(userID), Code: code})
			return nil
		}); err != nil {
			s.log.WarnContext(ctx, "record a refused sign-in", "error", err)
		}
		return &identityv1.FinishLoginResponse{RedirectUrl: withQuery(l.redirectURI, "error", "access_denied",
			"error_description", code, "state", l.state)}, nil
	}
	cfg, err := s.db.SamlConfig.Query().Where(samlconfig.TenantID(l.tenantID)).Only(ctx)
	if ent.IsNotFound(err) {
		return deny("sso_not_configured", errors.New("the SAML configuration was removed"))
	}
	if err != nil {
		return nil, fmt.Errorf("read saml config: %w", err)
	}
	login, err := s.sp.Verify(l.tenantID, cfg.MetadataXML, samlResponse, l.requestID)
	var le *saml.LoginError
	if errors.As(err, &le) {
		return deny(le.Code, le.Reason)
	}
	if err != nil {
		return nil, err
	}
	verified = true
	code, codeID, err := authn.NewOpaqueToken()
	if err != nil {
		return nil, err
	}
	sessionID := store.NewID()
	replayed := false
	// refused is the code and reason of a user the login may not sign in.
	var refused struct {
		code   string
		reason error
	}
	errRefused := errors.New("sign-in refused")
	if _, err := s.w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		// One write: the user found, the authorization request used, the
		// assertion remembered, the session and its code. The user is read
		// under the tenant's write lock, which a deactivation takes too: it
		// commits before this read (the sign-in is refused) or after this
		// write (and revokes the session it made).
		u, err := tx.User.Query().Where(entuser.UserNameKey(store.UserNameLookup(login.NameID))).Only(ctx)
		switch {
		case ent.IsNotFound(err):
			refused.code, refused.reason = failNotProvisioned, fmt.Errorf("no user %q in the tenant", login.NameID)
			return errRefused
		case err != nil:
			return fmt.Errorf("find user: %w", err)
		case !u.Active:
			userID = u.ID
			refused.code, refused.reason = failInactive, fmt.Errorf("user %s is deactivated", u.ID)
			return errRefused
		}
		userID = u.ID
		if won, err := usePending(ctx, tx, l); err != nil || !won {
			return cmp.Or(err, errLoginExpired)
		}
		// The assertion id is remembered in the same transaction as the
		// session: a replay to any instance finds it.
		if err := tx.SeenAssertion.Create().SetTenantID(l.tenantID).SetAssertionID(login.AssertionID).
			SetExpireTime(login.Expires).Exec(ctx); err != nil {
			if ent.IsConstraintError(err) {
				replayed = true
				return apierr.FailedPrecondition(failReplayed, "assertion already used")
			}
			return fmt.Errorf("remember assertion: %w", err)
		}
		if err := tx.Session.Create().SetID(sessionID).SetTenantID(l.tenantID).SetUserID(u.ID).
			SetClientID(l.clientID).SetCreateTime(tx.Now).Exec(ctx); err != nil {
			return fmt.Errorf("create session: %w", err)
		}
		if err := tx.AuthCode.Create().SetID(codeID).SetTenantID(l.tenantID).SetClientID(l.clientID).
			SetRedirectURI(l.redirectURI).SetScope(l.scope).SetNonce(l.nonce).
			SetCodeChallenge(l.challenge).SetUserID(u.ID).SetSessionID(sessionID).
			SetAuthTime(tx.Now).SetExpireTime(tx.Now.Add(codeTTL)).Exec(ctx); err != nil {
			return fmt.Errorf("store code: %w", err)
		}
		tx.Record(changelog.SessionCreated{Tenant: changelog.TenantID(l.tenantID),
			Session: changelog.SessionID(sessionID), User: changelog.UserID(u.ID)})
		return nil
	}); err != nil {
		switch {
		case errors.Is(err, errRefused):
			return deny(refused.code, refused.reason)
		case replayed:
			return deny(failReplayed, fmt.Errorf("assertion %q seen before", login.AssertionID))
		}
		return nil, err
	}
	s.log.InfoContext(ctx, "signed in", "tenant", l.tenantID, "user", userID, "session", sessionID, "client", l.clientID)
	return &identityv1.FinishLoginResponse{RedirectUrl: withQuery(l.redirectURI, "code", code, "state", l.state)}, nil
}

// userEmail is the user's primary email, else the first, else the user name.
func userEmail(u *ent.User) string {
	for _, e := range u.Edges.Emails {
		if e.Primary {
			return e.Value
		}
	}
	if len(u.Edges.Emails) > 0 {
		return u.Edges.Emails[0].Value
	}
	return u.UserName
}

// validChallenge: a PKCE challenge is 43 to 128 characters of the unreserved
// set (RFC 7636 4.2); an S256 one is 43.
func validChallenge(c string) bool {
	return len(c) >= 43 && len(c) <= 128 &&
		strings.Trim(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~") == ""
}

// withQuery adds name/value pairs (empty values left out) to a registered
// redirect URI, keeping its own query as it is (RFC 6749 3.1.2).
func withQuery(raw string, pairs ...string) string {
	add := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			add.Set(pairs[i], pairs[i+1])
		}
	}
	sep := "?"
	if strings.Contains(raw, "?") {
		sep = "&"
	}
	return raw + sep + add.Encode()
}

// PruneInterval is how often expired sign-in state is deleted.
const PruneInterval = 10 * time.Minute

// Prune deletes expired sign-in state of every tenant: pending logins,
// codes, remembered assertion ids and refresh tokens (used ones are kept
// until they expire, so that a late reuse still ends its session). Sessions
// stay, ended or not, as the record of who signed in.
func (s *SignInService) Prune(ctx context.Context) error {
	sys, now := scope.System(ctx), s.now()
	for what, del := range map[string]func() (int, error){
		"pending logins": func() (int, error) { return s.db.PendingLogin.Delete().Where(pendinglogin.ExpireTimeLT(now)).Exec(sys) },
		"codes":          func() (int, error) { return s.db.AuthCode.Delete().Where(authcode.ExpireTimeLT(now)).Exec(sys) },
		"assertion ids": func() (int, error) {
			return s.db.SeenAssertion.Delete().Where(seenassertion.ExpireTimeLT(now)).Exec(sys)
		},
		"refresh tokens": func() (int, error) { return s.db.RefreshToken.Delete().Where(refreshtoken.ExpireTimeLT(now)).Exec(sys) },
	} {
		if _, err := del(); err != nil {
			return fmt.Errorf("prune %s: %w", what, err)
		}
	}
	return nil
}
