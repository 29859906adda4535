package signin

import (
	"log/slog"
	"net/http"

	"google.golang.org/protobuf/encoding/protojson"

	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// jwks serves the issuer's JSON Web Key Set (RFC 7517 5): the public keys
// that verify identityd's tokens. Verifiers may cache it for five minutes;
// a key is published an hour before it signs, and refetching on an unknown
// kid (as go-oidc does) covers an immediate rotation.
func jwks(keys identityv1.SigningKeyServiceClient, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := keys.GetJwks(r.Context(), &identityv1.GetJwksRequest{})
		if err != nil {
			log.ErrorContext(r.Context(), "jwks", "error", err)
			http.Error(w, "keys unavailable", http.StatusServiceUnavailable)
			return
		}
		// EmitUnpopulated keeps "keys": [] when no key exists yet.
		raw, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(resp)
		if err != nil {
			http.Error(w, "keys unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(raw)
	})
}
