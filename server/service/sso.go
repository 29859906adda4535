package service

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/oauthclient"
	"github.com/acme/identity/ent/tenant"
	"github.com/acme/identity/ent/tenantdomain"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/apierr"
	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/saml"
	"github.com/acme/identity/server/store"
	"github.com/acme/identity/server/store/scope"
)

// SsoService implements identityv1.SsoServiceServer.
type SsoService struct {
	db    *ent.Client
	w     *store.Writer
	sp    saml.SP
	fetch *saml.Fetcher
	now   func() time.Time
}

var _ identityv1.SsoServiceServer = (*SsoService)(nil)

// NewSsoService returns the SSO service over db and w, describing the
// service provider sp and fetching IdP metadata with fetch.
func NewSsoService(db *ent.Client, w *store.Writer, sp saml.SP, fetch *saml.Fetcher, now func() time.Time) *SsoService {
	return &SsoService{db: db, w: w, sp: sp, fetch: fetch, now: now}
}

// GetSamlConfig returns the tenant's SAML configuration, or NOT_CONFIGURED
// with the SP fields.
func (s *SsoService) GetSamlConfig(ctx context.Context, req *identityv1.GetSamlConfigRequest) (*identityv1.GetSamlConfigResponse, error) {
	if err := store.RequireTenant(ctx, s.db); err != nil {
		return nil, err
	}
	c, err := s.db.SamlConfig.Query().Only(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return nil, fmt.Errorf("get SAML configuration: %w", err)
	}
	domains, err := s.db.TenantDomain.Query().Order(ent.Asc(tenantdomain.FieldDomain)).Select(tenantdomain.FieldDomain).Strings(ctx)
	if err != nil {
		return nil, fmt.Errorf("read sign-in domains: %w", err)
	}
	out, err := s.samlConfigToProto(req.GetTenantId(), c, domains)
	if err != nil {
		return nil, err
	}
	return &identityv1.GetSamlConfigResponse{SamlConfig: out}, nil
}

// SetSamlConfig validates IdP metadata and stores it. The metadata is fetched
// and parsed before the transaction, so no network wait holds a lock.
func (s *SsoService) SetSamlConfig(ctx context.Context, req *identityv1.SetSamlConfigRequest) (*identityv1.SetSamlConfigResponse, error) {
	if err := store.RequireTenant(ctx, s.db); err != nil {
		return nil, err
	}
	data, field := []byte(req.GetMetadataXml()), "metadata_xml"
	if req.GetMetadataUrl() != "" {
		var err error
		if data, err = s.fetch.Fetch(ctx, req.GetMetadataUrl()); err != nil {
			return nil, err
		}
		field = "metadata_url"
	}
	md, warnings, err := saml.ParseMetadata(data, field, s.now())
	if err != nil {
		return nil, err
	}
	ders := make([][]byte, 0, len(md.Certificates))
	for _, c := range md.Certificates {
		ders = append(ders, c.Raw)
	}
	if err := checkSignInSettings(ctx, s.db, req); err != nil {
		return nil, err
	}
	var saved *ent.SamlConfig
	var domains []string
	t := changelog.TenantID(req.GetTenantId())
	rev, err := s.w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		// The same fields are set on a new configuration and on a replaced one.
		set := func(m *ent.SamlConfigMutation) {
			m.SetIdpEntityID(md.EntityID)
			m.SetSSOURL(md.SSOURL)
			m.SetSSOBinding(md.SSOBinding)
			m.SetCertificates(ders)
			m.SetMetadataXML(string(data))
			m.SetMetadataURL(req.GetMetadataUrl())
			m.SetIdpInitiated(req.GetIdpInitiated())
			m.SetIdpInitiatedClientID(req.GetIdpInitiatedClientId())
			m.SetIdpInitiatedRedirectURI(req.GetIdpInitiatedRedirectUri())
			m.SetAccessTokenTTLSeconds(int(req.GetAccessTokenTtl().AsDuration() / time.Second))
			m.SetUpdateTime(tx.Now)
		}
		existing, err := tx.SamlConfig.Query().Only(ctx)
		var saveEvent changelog.Event = changelog.SamlConfigUpdated{Tenant: t}
		switch {
		case ent.IsNotFound(err):
			saveEvent = changelog.SamlConfigCreated{Tenant: t}
			create := tx.SamlConfig.Create().SetTenantID(req.GetTenantId()).SetCreateTime(tx.Now)
			set(create.Mutation())
			saved, err = create.Save(ctx)
		case err == nil:
			update := existing.Update()
			set(update.Mutation())
			saved, err = update.Save(ctx)
		}
		if err != nil {
			return fmt.Errorf("save SAML configuration: %w", err)
		}
		if domains, err = setDomains(ctx, tx, req.GetTenantId(), req.GetDomains()); err != nil {
			return err
		}
		tx.Record(saveEvent)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out, err := s.samlConfigToProto(req.GetTenantId(), saved, domains)
	if err != nil {
		return nil, err
	}
	return &identityv1.SetSamlConfigResponse{SamlConfig: out, Warnings: warnings, Revision: rev}, nil
}

// DeleteSamlConfig removes the configuration and disables SCIM with it: SCIM
// provisioning is only offered where SSO is configured.
func (s *SsoService) DeleteSamlConfig(ctx context.Context, req *identityv1.DeleteSamlConfigRequest) (*identityv1.DeleteSamlConfigResponse, error) {
	t := changelog.TenantID(req.GetTenantId())
	var scimDisabled bool
	rev, err := s.w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		n, err := tx.SamlConfig.Delete().Exec(ctx)
		if err != nil {
			return fmt.Errorf("delete SAML configuration: %w", err)
		}
		if n == 0 {
			return &apierr.Error{Code: codes.NotFound, Reason: "SSO_NOT_CONFIGURED", Message: "the tenant has no SAML configuration"}
		}
		tx.Record(changelog.SamlConfigDeleted{Tenant: t})
		if _, err := tx.TenantDomain.Delete().Exec(ctx); err != nil {
			return fmt.Errorf("drop sign-in domains: %w", err)
		}
		tokens, err := tx.ScimToken.Delete().Exec(ctx)
		if err != nil {
			return fmt.Errorf("disable SCIM: %w", err)
		}
		if scimDisabled = tokens > 0; scimDisabled {
			tx.Record(changelog.ScimDisabled{Tenant: t})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.DeleteSamlConfigResponse{ScimDisabled: scimDisabled, Revision: rev}, nil
}

// GetServiceProviderMetadata renders the SP metadata of any existing tenant;
// it is public, so it is found by id alone: the one read of this package
// outside the caller's scope, and it reveals only that the tenant exists.
func (s *SsoService) GetServiceProviderMetadata(ctx context.Context, req *identityv1.GetServiceProviderMetadataRequest) (*identityv1.GetServiceProviderMetadataResponse, error) {
	ok, err := s.db.Tenant.Query().Where(tenant.ID(req.GetTenantId())).Exist(scope.System(ctx))
	if err != nil {
		return nil, fmt.Errorf("find tenant: %w", err)
	}
	if !ok {
		return nil, apierr.NotFound("tenant", req.GetTenantId())
	}
	x, err := s.sp.MetadataXML(req.GetTenantId())
	if err != nil {
		return nil, err
	}
	return &identityv1.GetServiceProviderMetadataResponse{MetadataXml: x}, nil
}

// samlConfigToProto merges the SP fields of a tenant with its stored
// configuration, which may be nil (not configured).
func (s *SsoService) samlConfigToProto(tenantID string, c *ent.SamlConfig, domains []string) (*identityv1.SamlConfig, error) {
	sp := s.sp.URLs(tenantID)
	out := &identityv1.SamlConfig{
		TenantId:      tenantID,
		State:         identityv1.SamlState_SAML_STATE_NOT_CONFIGURED,
		SpEntityId:    sp.EntityID,
		AcsUrl:        sp.ACS,
		SpMetadataUrl: sp.Metadata,
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
	out.IdpInitiated = c.IdpInitiated
	out.IdpInitiatedClientId = c.IdpInitiatedClientID
	out.IdpInitiatedRedirectUri = c.IdpInitiatedRedirectURI
	out.Domains = domains
	if c.AccessTokenTTLSeconds > 0 {
		out.AccessTokenTtl = durationpb.New(time.Duration(c.AccessTokenTTLSeconds) * time.Second)
	}
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
			Sha256Fingerprint: saml.Fingerprint(cert),
			Expired:           now.After(cert.NotAfter),
		})
	}
	return out, nil
}

// checkSignInSettings checks the sign-in settings of a SetSamlConfig: an
// IdP-initiated login needs a confidential client of the project and one of
// its redirect URIs (there is no PKCE verifier and no state to bind it to).
func checkSignInSettings(ctx context.Context, db *ent.Client, req *identityv1.SetSamlConfigRequest) error {
	if !req.GetIdpInitiated() {
		if req.GetIdpInitiatedClientId() != "" || req.GetIdpInitiatedRedirectUri() != "" {
			return apierr.InvalidField("idp_initiated_client_id", "IDP_INITIATED_OFF", "idp_initiated_client_id and idp_initiated_redirect_uri are only set with idp_initiated")
		}
		return nil
	}
	// Clients belong to the project, which a tenant's scope does not show:
	// read it in the project's scope (a tenant's administrator names one of
	// the project's registered clients, and learns only whether it exists).
	sc, ok := scope.From(ctx)
	if !ok {
		return scope.ErrUnscoped
	}
	c, err := db.OAuthClient.Query().Where(oauthclient.ID(req.GetIdpInitiatedClientId())).Only(scope.WithProject(ctx, sc.ProjectID))
	switch {
	case ent.IsNotFound(err):
		return apierr.InvalidField("idp_initiated_client_id", "UNKNOWN_CLIENT", "idp_initiated_client_id is no OAuth client of the project")
	case err != nil:
		return fmt.Errorf("read client: %w", err)
	case c.Public:
		return apierr.InvalidField("idp_initiated_client_id", "PUBLIC_CLIENT", "IdP-initiated sign-in needs a confidential client: a public one cannot exchange a code without PKCE")
	case !slices.Contains(c.RedirectUris, req.GetIdpInitiatedRedirectUri()):
		return apierr.InvalidField("idp_initiated_redirect_uri", "UNREGISTERED_REDIRECT_URI", "idp_initiated_redirect_uri is not a redirect URI of the client")
	}
	return nil
}

// setDomains replaces the tenant's sign-in domains (lower-cased); a domain
// of another tenant of the project is AlreadyExists.
func setDomains(ctx context.Context, tx *store.Tx, tenantID string, in []string) ([]string, error) {
	if _, err := tx.TenantDomain.Delete().Exec(ctx); err != nil {
		return nil, fmt.Errorf("replace sign-in domains: %w", err)
	}
	out := make([]string, 0, len(in))
	for _, d := range in {
		d = strings.ToLower(strings.TrimSuffix(d, "."))
		if slices.Contains(out, d) {
			continue
		}
		if err := tx.TenantDomain.Create().SetTenantID(tenantID).SetProjectID(tx.ProjectID).SetDomain(d).Exec(ctx); err != nil {
			if ent.IsConstraintError(err) {
				return nil, apierr.AlreadyExists("tenant", "sign-in domain", d)
			}
			return nil, fmt.Errorf("add sign-in domain: %w", err)
		}
		out = append(out, d)
	}
	slices.Sort(out)
	return out, nil
}
