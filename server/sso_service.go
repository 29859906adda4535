package server

import (
	"context"
	"crypto/x509"
	"fmt"

	"google.golang.org/grpc/codes"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/change"
	"github.com/acme/identity/ent/samlconfig"
	"github.com/acme/identity/ent/scimtoken"
	"github.com/acme/identity/ent/tenant"
	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// SsoService implements identityv1.SsoServiceServer.
type SsoService struct{ *Server }

var _ identityv1.SsoServiceServer = (*SsoService)(nil)

// GetSamlConfig returns the tenant's SAML configuration, or NOT_CONFIGURED
// with the SP fields.
func (s *SsoService) GetSamlConfig(ctx context.Context, req *identityv1.GetSamlConfigRequest) (*identityv1.GetSamlConfigResponse, error) {
	if err := requireTenant(ctx, s.db.Tenant, principalFrom(ctx).ProjectID, req.GetTenantId()); err != nil {
		return nil, err
	}
	c, err := s.db.SamlConfig.Query().Where(samlconfig.TenantID(req.GetTenantId())).Only(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return nil, fmt.Errorf("get SAML configuration: %w", err)
	}
	out, err := s.samlConfigToProto(req.GetTenantId(), c)
	if err != nil {
		return nil, err
	}
	return &identityv1.GetSamlConfigResponse{SamlConfig: out}, nil
}

// SetSamlConfig validates IdP metadata and stores it. The metadata is fetched
// and parsed before the transaction, so no network wait holds a lock.
func (s *SsoService) SetSamlConfig(ctx context.Context, req *identityv1.SetSamlConfigRequest) (*identityv1.SetSamlConfigResponse, error) {
	p := principalFrom(ctx)
	if err := requireTenant(ctx, s.db.Tenant, p.ProjectID, req.GetTenantId()); err != nil {
		return nil, err
	}
	data, field := []byte(req.GetMetadataXml()), "metadata_xml"
	if req.GetMetadataUrl() != "" {
		var err error
		if data, err = s.fetchMetadata(ctx, req.GetMetadataUrl()); err != nil {
			return nil, err
		}
		field = "metadata_url"
	}
	md, warnings, err := parseMetadata(data, field, s.now())
	if err != nil {
		return nil, err
	}
	ders := make([][]byte, 0, len(md.certificates))
	for _, c := range md.certificates {
		ders = append(ders, c.Raw)
	}
	var saved *ent.SamlConfig
	rev, err := s.write(ctx, p.ProjectID, func(ctx context.Context, cs *changeSet) error {
		if err := requireTenant(ctx, cs.tx.Tenant, p.ProjectID, req.GetTenantId()); err != nil {
			return err
		}
		existing, err := cs.tx.SamlConfig.Query().Where(samlconfig.TenantID(req.GetTenantId())).Only(ctx)
		op := change.OperationUpdate
		switch {
		case ent.IsNotFound(err):
			op = change.OperationCreate
			saved, err = cs.tx.SamlConfig.Create().
				SetTenantID(req.GetTenantId()).
				SetIdpEntityID(md.entityID).
				SetSSOURL(md.ssoURL).
				SetSSOBinding(md.ssoBinding).
				SetCertificates(ders).
				SetMetadataXML(string(data)).
				SetMetadataURL(req.GetMetadataUrl()).
				SetCreateTime(cs.now).
				SetUpdateTime(cs.now).
				Save(ctx)
		case err == nil:
			saved, err = existing.Update().
				SetIdpEntityID(md.entityID).
				SetSSOURL(md.ssoURL).
				SetSSOBinding(md.ssoBinding).
				SetCertificates(ders).
				SetMetadataXML(string(data)).
				SetMetadataURL(req.GetMetadataUrl()).
				SetUpdateTime(cs.now).
				Save(ctx)
		}
		if err != nil {
			return fmt.Errorf("save SAML configuration: %w", err)
		}
		cs.add(req.GetTenantId(), change.KindSamlConfig, op, req.GetTenantId(), "")
		return nil
	})
	if err != nil {
		return nil, err
	}
	out, err := s.samlConfigToProto(req.GetTenantId(), saved)
	if err != nil {
		return nil, err
	}
	return &identityv1.SetSamlConfigResponse{SamlConfig: out, Warnings: warnings, Revision: rev}, nil
}

// DeleteSamlConfig removes the configuration and disables SCIM with it: SCIM
// provisioning is only offered where SSO is configured.
func (s *SsoService) DeleteSamlConfig(ctx context.Context, req *identityv1.DeleteSamlConfigRequest) (*identityv1.DeleteSamlConfigResponse, error) {
	p := principalFrom(ctx)
	tenantID := req.GetTenantId()
	var scimDisabled bool
	rev, err := s.write(ctx, p.ProjectID, func(ctx context.Context, cs *changeSet) error {
		if err := requireTenant(ctx, cs.tx.Tenant, p.ProjectID, tenantID); err != nil {
			return err
		}
		n, err := cs.tx.SamlConfig.Delete().Where(samlconfig.TenantID(tenantID)).Exec(ctx)
		if err != nil {
			return fmt.Errorf("delete SAML configuration: %w", err)
		}
		if n == 0 {
			return &Error{Code: codes.NotFound, Reason: "SSO_NOT_CONFIGURED", Message: "the tenant has no SAML configuration"}
		}
		cs.add(tenantID, change.KindSamlConfig, change.OperationDelete, tenantID, "")
		tokens, err := cs.tx.ScimToken.Delete().Where(scimtoken.TenantID(tenantID)).Exec(ctx)
		if err != nil {
			return fmt.Errorf("disable SCIM: %w", err)
		}
		if scimDisabled = tokens > 0; scimDisabled {
			cs.add(tenantID, change.KindScim, change.OperationDisable, tenantID, "")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.DeleteSamlConfigResponse{ScimDisabled: scimDisabled, Revision: rev}, nil
}

// GetServiceProviderMetadata renders the SP metadata of any existing tenant;
// it is public, so it is found by id alone.
func (s *SsoService) GetServiceProviderMetadata(ctx context.Context, req *identityv1.GetServiceProviderMetadataRequest) (*identityv1.GetServiceProviderMetadataResponse, error) {
	ok, err := s.db.Tenant.Query().Where(tenant.ID(req.GetTenantId())).Exist(ctx)
	if err != nil {
		return nil, fmt.Errorf("find tenant: %w", err)
	}
	if !ok {
		return nil, notFound("tenant", req.GetTenantId())
	}
	x, err := s.spMetadataXML(req.GetTenantId())
	if err != nil {
		return nil, err
	}
	return &identityv1.GetServiceProviderMetadataResponse{MetadataXml: x}, nil
}

// samlConfigToProto merges the SP fields of a tenant with its stored
// configuration, which may be nil (not configured).
func (s *SsoService) samlConfigToProto(tenantID string, c *ent.SamlConfig) (*identityv1.SamlConfig, error) {
	sp := s.serviceProvider(tenantID)
	out := &identityv1.SamlConfig{
		TenantId:      tenantID,
		State:         identityv1.SamlState_SAML_STATE_NOT_CONFIGURED,
		SpEntityId:    sp.entityID,
		AcsUrl:        sp.acs,
		SpMetadataUrl: sp.metadata,
	}
	if c == nil {
		return out, nil
	}
	out.State = identityv1.SamlState_SAML_STATE_CONFIGURED
	out.IdpEntityId = c.IdpEntityID
	out.IdpSsoUrl = c.SSOURL
	out.IdpSsoBinding = c.SSOBinding
	out.MetadataUrl = c.MetadataURL
	out.UpdateTime = ts(c.UpdateTime)
	now := s.now()
	for _, der := range c.Certificates {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("stored certificate: %w", err)
		}
		out.IdpCertificates = append(out.IdpCertificates, &identityv1.Certificate{
			Subject:           cert.Subject.String(),
			Issuer:            cert.Issuer.String(),
			NotBefore:         ts(cert.NotBefore),
			NotAfter:          ts(cert.NotAfter),
			Sha256Fingerprint: fingerprint(cert),
			Expired:           now.After(cert.NotAfter),
		})
	}
	return out, nil
}
