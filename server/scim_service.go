package server

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/change"
	"github.com/acme/identity/ent/samlconfig"
	"github.com/acme/identity/ent/scimtoken"
	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// ScimService implements identityv1.ScimServiceServer.
type ScimService struct{ *Server }

var _ identityv1.ScimServiceServer = (*ScimService)(nil)

// defaultGracePeriod is how long tokens replaced by a rotation keep working
// when the caller names no grace period.
const defaultGracePeriod = 24 * time.Hour

func (s *ScimService) scimBaseURL() string { return s.publicURL + "/scim/v2" }

// liveTokens returns the tenant's tokens that still authenticate. A tenant has
// a handful of tokens at most, so expiry is decided here rather than in SQL.
func liveTokens(ctx context.Context, c *ent.ScimTokenClient, tenantID string, now time.Time) ([]*ent.ScimToken, error) {
	all, err := c.Query().Where(scimtoken.TenantID(tenantID)).Order(ent.Asc(scimtoken.FieldCreateTime)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list SCIM tokens: %w", err)
	}
	return slices.DeleteFunc(all, func(t *ent.ScimToken) bool { return t.ExpireTime != nil && !now.Before(*t.ExpireTime) }), nil
}

// GetScimStatus says whether SCIM is enabled and lists the live tokens.
func (s *ScimService) GetScimStatus(ctx context.Context, req *identityv1.GetScimStatusRequest) (*identityv1.GetScimStatusResponse, error) {
	if err := requireTenant(ctx, s.db.Tenant, principalFrom(ctx).ProjectID, req.GetTenantId()); err != nil {
		return nil, err
	}
	live, err := liveTokens(ctx, s.db.ScimToken, req.GetTenantId(), s.now())
	if err != nil {
		return nil, err
	}
	out := &identityv1.GetScimStatusResponse{Enabled: len(live) > 0, ScimBaseUrl: s.scimBaseURL()}
	for _, t := range live {
		out.Tokens = append(out.Tokens, &identityv1.ScimToken{Id: t.ID, CreateTime: ts(t.CreateTime), ExpireTime: optionalTS(t.ExpireTime)})
	}
	return out, nil
}

// EnableScim issues the tenant's first SCIM token; SAML SSO must be
// configured, and SCIM must not be enabled already.
func (s *ScimService) EnableScim(ctx context.Context, req *identityv1.EnableScimRequest) (*identityv1.EnableScimResponse, error) {
	p := principalFrom(ctx)
	tenantID := req.GetTenantId()
	var token string
	rev, err := s.write(ctx, p.ProjectID, func(ctx context.Context, cs *changeSet) error {
		if err := requireTenant(ctx, cs.tx.Tenant, p.ProjectID, tenantID); err != nil {
			return err
		}
		if err := requireSSO(ctx, cs.tx.SamlConfig, tenantID); err != nil {
			return err
		}
		live, err := liveTokens(ctx, cs.tx.ScimToken, tenantID, cs.now)
		if err != nil {
			return err
		}
		if len(live) > 0 {
			return failedPrecondition("SCIM_ALREADY_ENABLED",
				"SCIM is already enabled for this tenant: rotate its token (scim:rotate) to get a new one, or disable SCIM first")
		}
		// Expired tokens of an earlier rotation are of no further use.
		if _, err := cs.tx.ScimToken.Delete().Where(scimtoken.TenantID(tenantID)).Exec(ctx); err != nil {
			return fmt.Errorf("delete expired SCIM tokens: %w", err)
		}
		if token, err = issueScimToken(ctx, cs, tenantID); err != nil {
			return err
		}
		cs.add(tenantID, change.KindScim, change.OperationEnable, tenantID, "")
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.EnableScimResponse{Token: token, ScimBaseUrl: s.scimBaseURL(), Revision: rev}, nil
}

// requireSSO fails with FailedPrecondition unless the tenant's SAML SSO is
// configured.
func requireSSO(ctx context.Context, c *ent.SamlConfigClient, tenantID string) error {
	ok, err := c.Query().Where(samlconfig.TenantID(tenantID)).Exist(ctx)
	if err != nil {
		return fmt.Errorf("find SAML configuration: %w", err)
	}
	if !ok {
		return failedPrecondition("SSO_NOT_CONFIGURED", "configure SAML SSO for this tenant before enabling SCIM")
	}
	return nil
}

func issueScimToken(ctx context.Context, cs *changeSet, tenantID string) (string, error) {
	id, token, hash, err := newSecret(scimPrefix)
	if err != nil {
		return "", err
	}
	if err := cs.tx.ScimToken.Create().SetID(id).SetTenantID(tenantID).SetSecretHash(hash).SetCreateTime(cs.now).Exec(ctx); err != nil {
		return "", fmt.Errorf("create SCIM token: %w", err)
	}
	return token, nil
}

// DisableScim deletes every SCIM token of the tenant.
func (s *ScimService) DisableScim(ctx context.Context, req *identityv1.DisableScimRequest) (*identityv1.DisableScimResponse, error) {
	p := principalFrom(ctx)
	tenantID := req.GetTenantId()
	rev, err := s.write(ctx, p.ProjectID, func(ctx context.Context, cs *changeSet) error {
		if err := requireTenant(ctx, cs.tx.Tenant, p.ProjectID, tenantID); err != nil {
			return err
		}
		live, err := liveTokens(ctx, cs.tx.ScimToken, tenantID, cs.now)
		if err != nil {
			return err
		}
		if len(live) == 0 {
			return failedPrecondition("SCIM_NOT_ENABLED", "SCIM is not enabled for this tenant")
		}
		if _, err := cs.tx.ScimToken.Delete().Where(scimtoken.TenantID(tenantID)).Exec(ctx); err != nil {
			return fmt.Errorf("delete SCIM tokens: %w", err)
		}
		cs.add(tenantID, change.KindScim, change.OperationDisable, tenantID, "")
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
	p := principalFrom(ctx)
	tenantID := req.GetTenantId()
	grace := defaultGracePeriod
	if req.GetGracePeriod() != nil {
		grace = req.GetGracePeriod().AsDuration()
	}
	var token string
	var expire time.Time
	rev, err := s.write(ctx, p.ProjectID, func(ctx context.Context, cs *changeSet) error {
		if err := requireTenant(ctx, cs.tx.Tenant, p.ProjectID, tenantID); err != nil {
			return err
		}
		live, err := liveTokens(ctx, cs.tx.ScimToken, tenantID, cs.now)
		if err != nil {
			return err
		}
		if len(live) == 0 {
			return failedPrecondition("SCIM_NOT_ENABLED", "SCIM is not enabled for this tenant: enable it to get a token")
		}
		expire = cs.now.Add(grace)
		for _, t := range live {
			if t.ExpireTime != nil && t.ExpireTime.Before(expire) {
				continue
			}
			if err := t.Update().SetExpireTime(expire).Exec(ctx); err != nil {
				return fmt.Errorf("expire SCIM token: %w", err)
			}
		}
		if token, err = issueScimToken(ctx, cs, tenantID); err != nil {
			return err
		}
		cs.add(tenantID, change.KindScim, change.OperationRotate, tenantID, "")
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.RotateScimTokenResponse{
		Token: token, ScimBaseUrl: s.scimBaseURL(), PreviousTokensExpireTime: ts(expire), Revision: rev,
	}, nil
}

// ResolveScimTenant names the tenant a credential provisions over SCIM.
func (s *ScimService) ResolveScimTenant(ctx context.Context, _ *identityv1.ResolveScimTenantRequest) (*identityv1.ResolveScimTenantResponse, error) {
	p := principalFrom(ctx)
	if p.ScimTenantID != "" {
		return &identityv1.ResolveScimTenantResponse{ProjectId: p.ProjectID, TenantId: p.ScimTenantID}, nil
	}
	tenants := slices.Compact(slices.Sorted(slices.Values(p.tenantAdminOf)))
	switch len(tenants) {
	case 0:
		return nil, permissionDenied("NOT_A_TENANT_ADMIN",
			"this access key holds Tenant Admin on no tenant; SCIM needs the tenant's SCIM token or a key with Tenant Admin on exactly one tenant (Project Admin alone does not say which tenant)")
	case 1:
	default:
		return nil, permissionDenied("TENANT_ADMIN_OF_SEVERAL",
			fmt.Sprintf("this access key holds Tenant Admin on %d tenants, so it does not say which tenant to provision; use a key with Tenant Admin on exactly one tenant, or the tenant's SCIM token", len(tenants)))
	}
	tenantID := tenants[0]
	if err := requireTenant(ctx, s.db.Tenant, p.ProjectID, tenantID); err != nil {
		return nil, err
	}
	if err := requireSSO(ctx, s.db.SamlConfig, tenantID); err != nil {
		return nil, err
	}
	return &identityv1.ResolveScimTenantResponse{ProjectId: p.ProjectID, TenantId: tenantID}, nil
}
