package service

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/scimtoken"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/apierr"
	"github.com/acme/identity/server/authn"
	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/store"
	"github.com/acme/identity/server/store/scope"
)

// ScimService implements identityv1.ScimServiceServer.
type ScimService struct {
	db      *ent.Client
	w       *store.Writer
	baseURL string
	now     func() time.Time
}

var _ identityv1.ScimServiceServer = (*ScimService)(nil)

// NewScimService returns the SCIM settings service over db and w; baseURL is
// the public SCIM base URL identityd serves.
func NewScimService(db *ent.Client, w *store.Writer, baseURL string, now func() time.Time) *ScimService {
	return &ScimService{db: db, w: w, baseURL: baseURL, now: now}
}

// defaultGracePeriod is how long tokens replaced by a rotation keep working
// when the caller names no grace period.
const defaultGracePeriod = 24 * time.Hour

// liveTokens returns the tenant's tokens that still authenticate. A tenant has
// a handful of tokens at most, so expiry is decided here rather than in SQL.
func liveTokens(ctx context.Context, c *ent.ScimTokenClient, now time.Time) ([]*ent.ScimToken, error) {
	all, err := c.Query().Order(ent.Asc(scimtoken.FieldCreateTime)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list SCIM tokens: %w", err)
	}
	return slices.DeleteFunc(all, func(t *ent.ScimToken) bool { return t.ExpireTime != nil && !now.Before(*t.ExpireTime) }), nil
}

// GetScimStatus says whether SCIM is enabled and lists the live tokens.
func (s *ScimService) GetScimStatus(ctx context.Context, req *identityv1.GetScimStatusRequest) (*identityv1.GetScimStatusResponse, error) {
	if err := store.RequireTenant(ctx, s.db); err != nil {
		return nil, err
	}
	live, err := liveTokens(ctx, s.db.ScimToken, s.now())
	if err != nil {
		return nil, err
	}
	out := &identityv1.GetScimStatusResponse{Enabled: len(live) > 0, ScimBaseUrl: s.baseURL}
	for _, t := range live {
		out.Tokens = append(out.Tokens, &identityv1.ScimToken{Id: t.ID, CreateTime: ts(t.CreateTime), ExpireTime: optionalTS(t.ExpireTime)})
	}
	return out, nil
}

// EnableScim issues the tenant's first SCIM token; SAML SSO must be
// configured, and SCIM must not be enabled already.
func (s *ScimService) EnableScim(ctx context.Context, req *identityv1.EnableScimRequest) (*identityv1.EnableScimResponse, error) {
	t := changelog.TenantID(req.GetTenantId())
	var token string
	rev, err := s.w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		if err := requireSSO(ctx, tx.SamlConfig); err != nil {
			return err
		}
		live, err := liveTokens(ctx, tx.ScimToken, tx.Now)
		if err != nil {
			return err
		}
		if len(live) > 0 {
			return apierr.FailedPrecondition("SCIM_ALREADY_ENABLED",
				"SCIM is already enabled for this tenant: rotate its token (scim:rotate) to get a new one, or disable SCIM first")
		}
		// Expired tokens of an earlier rotation are of no further use.
		if _, err := tx.ScimToken.Delete().Exec(ctx); err != nil {
			return fmt.Errorf("delete expired SCIM tokens: %w", err)
		}
		if token, err = issueScimToken(ctx, tx, t); err != nil {
			return err
		}
		tx.Record(changelog.ScimEnabled{Tenant: t})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.EnableScimResponse{Token: token, ScimBaseUrl: s.baseURL, Revision: rev}, nil
}

// requireSSO fails with FailedPrecondition unless the SAML SSO of the
// request's tenant is configured.
func requireSSO(ctx context.Context, c *ent.SamlConfigClient) error {
	ok, err := c.Query().Exist(ctx)
	if err != nil {
		return fmt.Errorf("find SAML configuration: %w", err)
	}
	if !ok {
		return apierr.FailedPrecondition("SSO_NOT_CONFIGURED", "configure SAML SSO for this tenant before enabling SCIM")
	}
	return nil
}

func issueScimToken(ctx context.Context, tx *store.Tx, tenantID changelog.TenantID) (string, error) {
	id, token, hash, err := authn.NewScimToken()
	if err != nil {
		return "", err
	}
	if err := tx.ScimToken.Create().SetID(id).SetTenantID(string(tenantID)).SetSecretHash(hash).SetCreateTime(tx.Now).Exec(ctx); err != nil {
		return "", fmt.Errorf("create SCIM token: %w", err)
	}
	return token, nil
}

// DisableScim deletes every SCIM token of the tenant.
func (s *ScimService) DisableScim(ctx context.Context, req *identityv1.DisableScimRequest) (*identityv1.DisableScimResponse, error) {
	t := changelog.TenantID(req.GetTenantId())
	rev, err := s.w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		live, err := liveTokens(ctx, tx.ScimToken, tx.Now)
		if err != nil {
			return err
		}
		if len(live) == 0 {
			return apierr.FailedPrecondition("SCIM_NOT_ENABLED", "SCIM is not enabled for this tenant")
		}
		if _, err := tx.ScimToken.Delete().Exec(ctx); err != nil {
			return fmt.Errorf("delete SCIM tokens: %w", err)
		}
		tx.Record(changelog.ScimDisabled{Tenant: t})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.DisableScimResponse{Revision: rev}, nil
}

// RotateScimToken issues a new token and lets the current ones expire at the
// end of the grace period (never later than they already would).
func (s *ScimService) RotateScimToken(ctx context.Context, req *identityv1.RotateScimTokenRequest) (*identityv1.RotateScimTokenResponse, error) {
	t := changelog.TenantID(req.GetTenantId())
	grace := defaultGracePeriod
	if req.GetGracePeriod() != nil {
		grace = req.GetGracePeriod().AsDuration()
	}
	var token string
	var expire time.Time
	rev, err := s.w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		live, err := liveTokens(ctx, tx.ScimToken, tx.Now)
		if err != nil {
			return err
		}
		if len(live) == 0 {
			return apierr.FailedPrecondition("SCIM_NOT_ENABLED", "SCIM is not enabled for this tenant: enable it to get a token")
		}
		expire = tx.Now.Add(grace)
		for _, old := range live {
			if old.ExpireTime != nil && old.ExpireTime.Before(expire) {
				continue
			}
			if err := old.Update().SetExpireTime(expire).Exec(ctx); err != nil {
				return fmt.Errorf("expire SCIM token: %w", err)
			}
		}
		if token, err = issueScimToken(ctx, tx, t); err != nil {
			return err
		}
		tx.Record(changelog.ScimTokenRotated{Tenant: t})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.RotateScimTokenResponse{
		Token: token, ScimBaseUrl: s.baseURL, PreviousTokensExpireTime: ts(expire), Revision: rev,
	}, nil
}

// ResolveScimTenant names the tenant a credential provisions over SCIM.
func (s *ScimService) ResolveScimTenant(ctx context.Context, _ *identityv1.ResolveScimTenantRequest) (*identityv1.ResolveScimTenantResponse, error) {
	p := authn.From(ctx)
	if p.ScimTenantID != "" {
		return &identityv1.ResolveScimTenantResponse{ProjectId: p.ProjectID, TenantId: p.ScimTenantID}, nil
	}
	tenants := slices.Compact(slices.Sorted(slices.Values(p.TenantAdminOf)))
	switch len(tenants) {
	case 0:
		return nil, apierr.PermissionDenied("NOT_A_TENANT_ADMIN",
			"this access key holds Tenant Admin on no tenant; SCIM needs the tenant's SCIM token or a key with Tenant Admin on exactly one tenant (Project Admin alone does not say which tenant)")
	case 1:
	default:
		return nil, apierr.PermissionDenied("TENANT_ADMIN_OF_SEVERAL",
			fmt.Sprintf("this access key holds Tenant Admin on %d tenants, so it does not say which tenant to provision; use a key with Tenant Admin on exactly one tenant, or the tenant's SCIM token", len(tenants)))
	}
	// The method answers about the caller, so it comes without a scope; the
	// checks below are of the one tenant the key administers, once per cached
	// key (every SCIM request asks).
	tenantID := tenants[0]
	if p.ScimReady() {
		return &identityv1.ResolveScimTenantResponse{ProjectId: p.ProjectID, TenantId: tenantID}, nil
	}
	ctx = scope.WithTenant(ctx, p.ProjectID, tenantID)
	if err := store.RequireTenant(ctx, s.db); err != nil {
		return nil, err
	}
	if err := requireSSO(ctx, s.db.SamlConfig); err != nil {
		return nil, err
	}
	p.MarkScimReady()
	return &identityv1.ResolveScimTenantResponse{ProjectId: p.ProjectID, TenantId: tenantID}, nil
}
