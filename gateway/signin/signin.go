// Package signin serves the OpenID Connect provider's HTTP endpoints:
// discovery, /oauth2/authorize, the tenants' SAML ACS, /oauth2/token and
// /oauth2/userinfo. It translates the OAuth and SAML wire formats to the
// core's SignInService and back; the core decides everything.
package signin

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/acme/identity/gateway/requestid"
	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// maxForm bounds the form bodies of the ACS and the token endpoint. A SAML
// response with a few certificates and attributes is tens of kilobytes.
const maxForm = 1 << 20

type endpoints struct {
	core      identityv1.SignInServiceClient
	publicURL string
	log       *slog.Logger
}

// Register adds the sign-in endpoints to mux; publicURL is the issuer.
func Register(mux *http.ServeMux, conn grpc.ClientConnInterface, publicURL string, log *slog.Logger) {
	e := &endpoints{core: identityv1.NewSignInServiceClient(conn), publicURL: publicURL, log: log}
	mux.HandleFunc("GET /.well-known/openid-configuration", e.discovery)
	mux.Handle("GET /.well-known/jwks.json", jwks(identityv1.NewSigningKeyServiceClient(conn), log))
	mux.HandleFunc("GET /oauth2/authorize", traced(e.authorize))
	mux.HandleFunc("POST /oauth2/authorize", traced(e.authorize))
	mux.HandleFunc("POST /saml/{tenant_id}/acs", traced(e.acs))
	mux.HandleFunc("POST /oauth2/token", traced(e.token))
	mux.HandleFunc("POST /oauth2/revoke", traced(e.revoke))
	mux.HandleFunc("GET /oauth2/userinfo", traced(e.userinfo))
	mux.HandleFunc("POST /oauth2/userinfo", traced(e.userinfo))
}

// traced sends the request id with h's calls to the core, so that the
// sign-ins and sessions they write are audited as sign-in requests.
func traced(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h(w, r.WithContext(requestid.Outgoing(r.Context(), requestid.SignIn)))
	}
}

// discovery is the OpenID Provider Metadata (OpenID Connect Discovery 1.0,
// section 3): only what is implemented is advertised.
func (e *endpoints) discovery(w http.ResponseWriter, _ *http.Request) {
	p := e.publicURL
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                     p,
		"authorization_endpoint":                     p + "/oauth2/authorize",
		"token_endpoint":                             p + "/oauth2/token",
		"userinfo_endpoint":                          p + "/oauth2/userinfo",
		"revocation_endpoint":                        p + "/oauth2/revoke",
		"jwks_uri":                                   p + "/.well-known/jwks.json",
		"scopes_supported":                           []string{"openid", "email", "profile"},
		"response_types_supported":                   []string{"code"},
		"response_modes_supported":                   []string{"query"},
		"grant_types_supported":                      []string{"authorization_code", "refresh_token"},
		"subject_types_supported":                    []string{"public"},
		"id_token_signing_alg_values_supported":      []string{"ES256"},
		"token_endpoint_auth_methods_supported":      []string{"client_secret_basic", "client_secret_post", "none"},
		"revocation_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "none"},
		"code_challenge_methods_supported":           []string{"S256"},
		"claims_supported":                           []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "sid", "tid", "email", "name"},
	})
}

// authorize starts a login: to the tenant's IdP, or back to the client with
// an OAuth error, or (unknown client or redirect URI) an error page.
func (e *endpoints) authorize(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		e.page(w, r, http.StatusBadRequest, "invalid_request", err)
		return
	}
	f := r.Form
	resp, err := e.core.StartLogin(r.Context(), &identityv1.StartLoginRequest{
		ResponseType: f.Get("response_type"), ClientId: f.Get("client_id"), RedirectUri: f.Get("redirect_uri"),
		Scope: f.Get("scope"), State: f.Get("state"), Nonce: f.Get("nonce"),
		CodeChallenge: f.Get("code_challenge"), CodeChallengeMethod: f.Get("code_challenge_method"),
		TenantId: f.Get("tenant"), LoginHint: f.Get("login_hint"),
	})
	if err != nil {
		e.fail(w, r, err)
		return
	}
	if resp.GetRedirectUrl() != "" {
		http.Redirect(w, r, resp.GetRedirectUrl(), http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = postForm.Execute(w, resp)
}

// postForm sends an AuthnRequest by the HTTP-POST binding.
var postForm = template.Must(template.New("post").Parse(`<!doctype html>
<html><body onload="document.forms[0].submit()">
<form method="post" action="{{.PostUrl}}">
<input type="hidden" name="SAMLRequest" value="{{.SamlRequest}}">
<input type="hidden" name="RelayState" value="{{.RelayState}}">
<noscript><button type="submit">Continue to sign in</button></noscript>
</form></body></html>`))

// acs receives the IdP's response (HTTP-POST binding).
func (e *endpoints) acs(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		e.page(w, r, http.StatusBadRequest, "invalid_request", err)
		return
	}
	resp, err := e.core.FinishLogin(r.Context(), &identityv1.FinishLoginRequest{
		TenantId: r.PathValue("tenant_id"), SamlResponse: r.PostForm.Get("SAMLResponse"), RelayState: r.PostForm.Get("RelayState"),
	})
	if err != nil {
		e.fail(w, r, err)
		return
	}
	http.Redirect(w, r, resp.GetRedirectUrl(), http.StatusFound)
}

// token is the token endpoint (RFC 6749 3.2): form in, JSON out, errors as
// section 5.2 says.
func (e *endpoints) token(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		oauthJSON(w, http.StatusBadRequest, "invalid_request", "the body is not a form")
		return
	}
	f := r.PostForm
	clientID, secret, basic, ok := clientAuth(w, r)
	if !ok {
		return
	}
	var tokens *identityv1.Tokens
	var err error
	switch f.Get("grant_type") {
	case "authorization_code":
		var resp *identityv1.ExchangeCodeResponse
		resp, err = e.core.ExchangeCode(r.Context(), &identityv1.ExchangeCodeRequest{
			Code: f.Get("code"), RedirectUri: f.Get("redirect_uri"), ClientId: clientID, ClientSecret: secret,
			CodeVerifier: f.Get("code_verifier"),
		})
		tokens = resp.GetTokens()
	case "refresh_token":
		var resp *identityv1.RefreshTokensResponse
		resp, err = e.core.RefreshTokens(r.Context(), &identityv1.RefreshTokensRequest{
			RefreshToken: f.Get("refresh_token"), ClientId: clientID, ClientSecret: secret,
		})
		tokens = resp.GetTokens()
	case "":
		oauthJSON(w, http.StatusBadRequest, "invalid_request", "grant_type is required")
		return
	default:
		oauthJSON(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
		return
	}
	if err != nil {
		e.tokenError(w, r, err, basic)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tokens.GetAccessToken(), "id_token": tokens.GetIdToken(), "token_type": tokens.GetTokenType(),
		"expires_in": tokens.GetExpiresIn(), "scope": tokens.GetScope(), "refresh_token": tokens.GetRefreshToken(),
	})
}

// revoke is RFC 7009 revocation: 200 for any token, known or not, once the
// client is authenticated.
func (e *endpoints) revoke(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		oauthJSON(w, http.StatusBadRequest, "invalid_request", "the body is not a form")
		return
	}
	clientID, secret, basic, ok := clientAuth(w, r)
	if !ok {
		return
	}
	if _, err := e.core.RevokeToken(r.Context(), &identityv1.RevokeTokenRequest{
		Token: r.PostForm.Get("token"), ClientId: clientID, ClientSecret: secret,
	}); err != nil {
		e.tokenError(w, r, err, basic)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// clientAuth reads the client's credentials: HTTP Basic (RFC 6749 2.3.1,
// both parts form-encoded before base64) or the client_id and client_secret
// form fields, never both. It answers the error itself when !ok.
func clientAuth(w http.ResponseWriter, r *http.Request) (clientID, secret string, basic, ok bool) {
	f := r.PostForm
	clientID, secret, basic = r.BasicAuth()
	if !basic {
		return f.Get("client_id"), f.Get("client_secret"), false, true
	}
	var err1, err2 error
	clientID, err1 = url.QueryUnescape(clientID)
	secret, err2 = url.QueryUnescape(secret)
	if err1 != nil || err2 != nil || f.Has("client_secret") {
		oauthJSON(w, http.StatusBadRequest, "invalid_request", "malformed client authentication")
		return "", "", true, false
	}
	if id := f.Get("client_id"); id != "" && id != clientID {
		oauthJSON(w, http.StatusBadRequest, "invalid_request", "client_id differs from the authenticated client")
		return "", "", true, false
	}
	return clientID, secret, true, true
}

// tokenError answers a token or revocation endpoint error as RFC 6749 5.2
// says.
func (e *endpoints) tokenError(w http.ResponseWriter, r *http.Request, err error, basic bool) {
	code, desc := reason(err)
	switch {
	case status.Code(err) == codes.ResourceExhausted:
		w.Header().Set("Retry-After", "1")
		oauthJSON(w, http.StatusTooManyRequests, "temporarily_unavailable", "too many requests: retry later")
	case code == "invalid_client":
		if basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="identityd"`)
		}
		oauthJSON(w, http.StatusUnauthorized, code, desc)
	case code != "" || status.Code(err) == codes.InvalidArgument:
		if code == "" {
			code = "invalid_request"
		}
		oauthJSON(w, http.StatusBadRequest, code, desc)
	case status.Code(err) == codes.Unavailable:
		w.Header().Set("Retry-After", "1")
		oauthJSON(w, http.StatusServiceUnavailable, "temporarily_unavailable", "try again later")
	default:
		e.log.ErrorContext(r.Context(), "token endpoint", "error", err)
		oauthJSON(w, http.StatusInternalServerError, "server_error", "the request could not be completed")
	}
}

// userinfo answers the claims of the access token's user (OpenID Connect
// Core 5.3), or 401 with the Bearer challenge (RFC 6750 3).
func (e *endpoints) userinfo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="identityd"`)
		oauthJSON(w, http.StatusUnauthorized, "invalid_request", "an access token is required (Authorization: Bearer)")
		return
	}
	resp, err := e.core.GetUserInfo(r.Context(), &identityv1.GetUserInfoRequest{AccessToken: token})
	if err != nil {
		code, desc := reason(err)
		if code == "" {
			e.log.ErrorContext(r.Context(), "userinfo", "error", err)
			oauthJSON(w, http.StatusServiceUnavailable, "temporarily_unavailable", "try again later")
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="identityd", error="invalid_token"`)
		oauthJSON(w, http.StatusUnauthorized, "invalid_token", desc)
		return
	}
	out := map[string]any{"sub": resp.GetSub(), "tid": resp.GetTenantId()}
	if resp.GetEmail() != "" {
		out["email"] = resp.GetEmail()
	}
	if resp.GetName() != "" {
		out["name"] = resp.GetName()
	}
	writeJSON(w, http.StatusOK, out)
}

// fail renders an error the browser cannot be sent back to the client with:
// a small page with the code and a request id (the cause goes to the log).
func (e *endpoints) fail(w http.ResponseWriter, r *http.Request, err error) {
	code, _ := reason(err)
	switch {
	case status.Code(err) == codes.ResourceExhausted:
		w.Header().Set("Retry-After", "1")
		e.page(w, r, http.StatusTooManyRequests, "temporarily_unavailable", err)
	case code != "":
		e.page(w, r, http.StatusBadRequest, code, err)
	case status.Code(err) == codes.InvalidArgument:
		e.page(w, r, http.StatusBadRequest, "invalid_request", err)
	default:
		e.page(w, r, http.StatusServiceUnavailable, "temporarily_unavailable", err)
	}
}

var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html><head><title>Sign-in failed</title></head><body>
<h1>Sign-in failed</h1>
<p>Error: <code>{{.Code}}</code></p>
<p>Request id: <code>{{.RequestID}}</code>. Give it to your administrator.</p>
</body></html>`))

func (e *endpoints) page(w http.ResponseWriter, r *http.Request, httpStatus int, code string, cause error) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	level := slog.LevelInfo
	if httpStatus >= 500 {
		level = slog.LevelError
	}
	e.log.Log(r.Context(), level, "sign-in error page", "request_id", id, "code", code, "path", r.URL.Path, "cause", cause)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(httpStatus)
	_ = errorPage.Execute(w, struct{ Code, RequestID string }{code, id})
}

// reason returns the OAuth (or login) error code the core put in an
// ErrorInfo, and its description; "" when the error carries none.
func reason(err error) (code, description string) {
	st, ok := status.FromError(err)
	if !ok {
		return "", ""
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() != "" && strings.ToLower(info.GetReason()) == info.GetReason() {
			return info.GetReason(), st.Message()
		}
	}
	return "", st.Message()
}

func oauthJSON(w http.ResponseWriter, httpStatus int, code, description string) {
	writeJSON(w, httpStatus, map[string]string{"error": code, "error_description": description})
}

func writeJSON(w http.ResponseWriter, httpStatus int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus)
	_ = json.NewEncoder(w).Encode(v)
}
