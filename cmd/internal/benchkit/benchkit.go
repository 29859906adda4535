// Package benchkit holds what the benchmark programs share: the throwaway
// key-encryption key of their databases, an IdP metadata document, and the
// setup of a tenant that provisions over SCIM.
package benchkit

import (
	"context"
	_ "embed"

	"google.golang.org/grpc"

	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/signing"
)

// KEK encrypts the throwaway signing keys of a benchmark database.
var KEK = make([]byte, signing.KeySize)

// MetadataXML is an Okta-shaped IdP metadata document.
//
//go:embed okta_metadata.xml
var MetadataXML string

// ScimTenant creates a tenant through conn, configures its SAML SSO (SCIM
// needs it) and enables SCIM, as admin (a context carrying a Project Admin
// credential), and returns the tenant's SCIM token.
func ScimTenant(admin context.Context, conn grpc.ClientConnInterface, name string) (string, error) {
	t, err := identityv1.NewTenantServiceClient(conn).CreateTenant(admin, &identityv1.CreateTenantRequest{DisplayName: name})
	if err != nil {
		return "", err
	}
	tid := t.GetTenant().GetId()
	if _, err := identityv1.NewSsoServiceClient(conn).SetSamlConfig(admin, &identityv1.SetSamlConfigRequest{
		TenantId: tid, Metadata: &identityv1.SetSamlConfigRequest_MetadataXml{MetadataXml: MetadataXML}}); err != nil {
		return "", err
	}
	s, err := identityv1.NewScimServiceClient(conn).EnableScim(admin, &identityv1.EnableScimRequest{TenantId: tid})
	return s.GetToken(), err
}
