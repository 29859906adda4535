package gateway

import (
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// spMetadata serves a tenant's SAML SP metadata as XML, the form IdPs import;
// the same document is in JSON at /v1/tenants/{tenant_id}/sso/saml/metadata.
func spMetadata(sso identityv1.SsoServiceClient) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := sso.GetServiceProviderMetadata(r.Context(), &identityv1.GetServiceProviderMetadataRequest{
			TenantId: r.PathValue("tenant_id"),
		})
		switch status.Code(err) {
		case codes.OK:
		case codes.InvalidArgument, codes.NotFound:
			http.Error(w, "no such tenant", http.StatusNotFound)
			return
		default:
			http.Error(w, "metadata unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		_, _ = w.Write([]byte(resp.GetMetadataXml()))
	})
}
