package service

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/oauthclient"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/apierr"
	"github.com/acme/identity/server/authn"
	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/store"
)

// OAuthClientService implements identityv1.OAuthClientServiceServer. Clients
// are confined to the caller's project by the store's scope.
type OAuthClientService struct {
	db *ent.Client
	w  *store.Writer
}

var _ identityv1.OAuthClientServiceServer = (*OAuthClientService)(nil)

// NewOAuthClientService returns the OAuth client service over db and w.
func NewOAuthClientService(db *ent.Client, w *store.Writer) *OAuthClientService {
	return &OAuthClientService{db: db, w: w}
}

// CreateOAuthClient registers a client; a confidential one's secret is
// answered once.
func (s *OAuthClientService) CreateOAuthClient(ctx context.Context, req *identityv1.CreateOAuthClientRequest) (*identityv1.CreateOAuthClientResponse, error) {
	if err := checkRedirectURIs("redirect_uris", req.GetRedirectUris()); err != nil {
		return nil, err
	}
	id, secret, hash, err := authn.NewOAuthClient()
	if err != nil {
		return nil, err
	}
	var out *ent.OAuthClient
	rev, err := s.w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		c := tx.OAuthClient.Create().
			SetID(id).
			SetProjectID(tx.ProjectID).
			SetDisplayName(req.GetDisplayName()).
			SetRedirectUris(req.GetRedirectUris()).
			SetPublic(req.GetPublic()).
			SetCreateTime(tx.Now).
			SetUpdateTime(tx.Now).
			SetVersion(1)
		if !req.GetPublic() {
			c.SetSecretHash(hash).SetSecretRotateTime(tx.Now)
		}
		var err error
		if out, err = c.Save(ctx); err != nil {
			return fmt.Errorf("create oauth client: %w", err)
		}
		tx.Record(changelog.ClientCreated{Client: changelog.ClientID(id)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	resp := &identityv1.CreateOAuthClientResponse{Client: oauthClientToProto(out), Revision: rev}
	if !out.Public {
		resp.ClientSecret = secret
	}
	return resp, nil
}

// GetOAuthClient returns a client of the caller's project.
func (s *OAuthClientService) GetOAuthClient(ctx context.Context, req *identityv1.GetOAuthClientRequest) (*identityv1.GetOAuthClientResponse, error) {
	c, err := getClient(ctx, s.db, req.GetClientId())
	if err != nil {
		return nil, err
	}
	return &identityv1.GetOAuthClientResponse{Client: oauthClientToProto(c)}, nil
}

func getClient(ctx context.Context, db *ent.Client, id string) (*ent.OAuthClient, error) {
	return only(ctx, db.OAuthClient.Query().Where(oauthclient.ID(id)), "oauth client", id)
}

// ListOAuthClients pages through the project's clients in id order.
func (s *OAuthClientService) ListOAuthClients(ctx context.Context, req *identityv1.ListOAuthClientsRequest) (*identityv1.ListOAuthClientsResponse, error) {
	pg, err := readPage(req.GetPageSize(), req.GetPageToken(), authn.From(ctx).ProjectID, nil)
	if err != nil {
		return nil, err
	}
	rows, next, _, err := list(ctx, pg, s.db.OAuthClient.Query(), oauthclient.FieldID, 0, func(c *ent.OAuthClient) string { return c.ID }, false)
	if err != nil {
		return nil, fmt.Errorf("oauth clients: %w", err)
	}
	out := &identityv1.ListOAuthClientsResponse{NextPageToken: next}
	for _, c := range rows {
		out.Clients = append(out.Clients, oauthClientToProto(c))
	}
	return out, nil
}

// UpdateOAuthClient renames a client or replaces its redirect URIs.
func (s *OAuthClientService) UpdateOAuthClient(ctx context.Context, req *identityv1.UpdateOAuthClientRequest) (*identityv1.UpdateOAuthClientResponse, error) {
	in, has := req.GetClient(), masked(req.GetUpdateMask().GetPaths())
	if has("redirect_uris") {
		if err := checkRedirectURIs("client.redirect_uris", in.GetRedirectUris()); err != nil {
			return nil, err
		}
	}
	var out *ent.OAuthClient
	rev, err := s.w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		u := tx.OAuthClient.UpdateOneID(in.GetId()).SetUpdateTime(tx.Now).AddVersion(1)
		if has("display_name") {
			u.SetDisplayName(in.GetDisplayName())
		}
		if has("redirect_uris") {
			u.SetRedirectUris(in.GetRedirectUris())
		}
		var err error
		out, err = u.Save(ctx)
		if ent.IsNotFound(err) {
			return apierr.NotFound("oauth client", in.GetId())
		}
		if err != nil {
			return fmt.Errorf("update oauth client: %w", err)
		}
		tx.Record(changelog.ClientUpdated{Client: changelog.ClientID(out.ID)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.UpdateOAuthClientResponse{Client: oauthClientToProto(out), Revision: rev}, nil
}

// DeleteOAuthClient deletes a client.
func (s *OAuthClientService) DeleteOAuthClient(ctx context.Context, req *identityv1.DeleteOAuthClientRequest) (*identityv1.DeleteOAuthClientResponse, error) {
	id := req.GetClientId()
	rev, err := deleteOne(ctx, s.w, "oauth client", id, changelog.ClientDeleted{Client: changelog.ClientID(id)},
		func(ctx context.Context, tx *store.Tx) (int, error) {
			return tx.OAuthClient.Delete().Where(oauthclient.ID(id)).Exec(ctx)
		})
	if err != nil {
		return nil, err
	}
	return &identityv1.DeleteOAuthClientResponse{Revision: rev}, nil
}

// RotateOAuthClientSecret gives a confidential client a new secret; the old
// one stops working with this write.
func (s *OAuthClientService) RotateOAuthClientSecret(ctx context.Context, req *identityv1.RotateOAuthClientSecretRequest) (*identityv1.RotateOAuthClientSecretResponse, error) {
	_, secret, hash, err := authn.NewOAuthClient() // a new secret; the id is not used
	if err != nil {
		return nil, err
	}
	var out *ent.OAuthClient
	rev, err := s.w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		c, err := getClient(ctx, tx.Client(), req.GetClientId())
		if err != nil {
			return err
		}
		if c.Public {
			return apierr.FailedPrecondition("PUBLIC_CLIENT", "a public client has no secret: it proves itself with PKCE")
		}
		if out, err = c.Update().SetSecretHash(hash).SetSecretRotateTime(tx.Now).
			SetUpdateTime(tx.Now).AddVersion(1).Save(ctx); err != nil {
			return fmt.Errorf("rotate client secret: %w", err)
		}
		tx.Record(changelog.ClientSecretRotated{Client: changelog.ClientID(c.ID)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.RotateOAuthClientSecretResponse{Client: oauthClientToProto(out), ClientSecret: secret, Revision: rev}, nil
}

// checkRedirectURIs accepts absolute https URLs, and http URLs whose host is
// a loopback address (native apps, RFC 8252 7.3; "localhost" is refused
// there because it can resolve elsewhere, 8.3), without fragment or user
// information (RFC 6749 3.1.2). Redirects compare exactly, so what is stored
// is what must come back.
func checkRedirectURIs(field string, uris []string) error {
	for i, raw := range uris {
		f := field + "[" + strconv.Itoa(i) + "]"
		u, err := url.Parse(raw)
		if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
			return apierr.InvalidField(f, "INVALID_REDIRECT_URI", "a redirect URI must be an absolute URL with a host")
		}
		switch {
		case u.Fragment != "" || u.RawFragment != "" || u.ForceQuery && u.RawQuery == "":
			return apierr.InvalidField(f, "INVALID_REDIRECT_URI", "a redirect URI must not have a fragment")
		case u.User != nil:
			return apierr.InvalidField(f, "INVALID_REDIRECT_URI", "a redirect URI must not carry user information")
		case u.Scheme == "https":
		case u.Scheme == "http" && isLoopback(u.Hostname()):
		default:
			return apierr.InvalidField(f, "INVALID_REDIRECT_URI", "a redirect URI must be https, or http on a loopback address (127.0.0.1 or [::1])")
		}
	}
	return nil
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func oauthClientToProto(c *ent.OAuthClient) *identityv1.OAuthClient {
	return &identityv1.OAuthClient{
		Id:               c.ID,
		DisplayName:      c.DisplayName,
		RedirectUris:     c.RedirectUris,
		Public:           c.Public,
		CreateTime:       ts(c.CreateTime),
		UpdateTime:       ts(c.UpdateTime),
		Version:          c.Version,
		SecretRotateTime: optionalTS(c.SecretRotateTime),
	}
}
