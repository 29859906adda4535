package service

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/acme/identity/ent"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/signing"
)

// SigningKeyService implements identityv1.SigningKeyServiceServer over the
// keyring, which owns the keys' lifecycle and storage.
type SigningKeyService struct {
	keys *signing.Keyring
}

var _ identityv1.SigningKeyServiceServer = (*SigningKeyService)(nil)

// NewSigningKeyService returns the signing key service over keys.
func NewSigningKeyService(keys *signing.Keyring) *SigningKeyService {
	return &SigningKeyService{keys: keys}
}

// ListSigningKeys returns the project's published keys.
func (s *SigningKeyService) ListSigningKeys(ctx context.Context, _ *identityv1.ListSigningKeysRequest) (*identityv1.ListSigningKeysResponse, error) {
	keys, err := s.keys.List(ctx)
	if err != nil {
		return nil, err
	}
	out := &identityv1.ListSigningKeysResponse{}
	for _, k := range keys {
		p, err := signingKeyToProto(k)
		if err != nil {
			return nil, err
		}
		out.Keys = append(out.Keys, p)
	}
	return out, nil
}

// RotateSigningKey creates the project's next key.
func (s *SigningKeyService) RotateSigningKey(ctx context.Context, req *identityv1.RotateSigningKeyRequest) (*identityv1.RotateSigningKeyResponse, error) {
	k, rev, err := s.keys.Rotate(ctx, req.GetImmediate())
	if err != nil {
		return nil, err
	}
	p, err := signingKeyToProto(k)
	if err != nil {
		return nil, err
	}
	return &identityv1.RotateSigningKeyResponse{Key: p, Revision: rev}, nil
}

// GetJwks returns every project's published keys.
func (s *SigningKeyService) GetJwks(ctx context.Context, _ *identityv1.GetJwksRequest) (*identityv1.GetJwksResponse, error) {
	keys, err := s.keys.Published(ctx)
	if err != nil {
		return nil, err
	}
	out := &identityv1.GetJwksResponse{}
	for _, k := range keys {
		jwk, err := publicJWK(k)
		if err != nil {
			return nil, err
		}
		out.Keys = append(out.Keys, jwk)
	}
	return out, nil
}

func signingKeyToProto(k *ent.SigningKey) (*identityv1.SigningKey, error) {
	jwk, err := publicJWK(k)
	if err != nil {
		return nil, err
	}
	return &identityv1.SigningKey{
		Kid:          k.ID,
		Algorithm:    k.Algorithm,
		CreateTime:   ts(k.CreateTime),
		ActivateTime: ts(k.ActivateTime),
		RetireTime:   optionalTS(k.RetireTime),
		ExpireTime:   optionalTS(k.ExpireTime),
		PublicJwk:    jwk,
	}, nil
}

// publicJWK renders a key's public half in the JWK members of RFC 7518 6.2.1.
func publicJWK(k *ent.SigningKey) (*identityv1.JsonWebKey, error) {
	jwk, err := signing.PublicJWK(k)
	if err != nil {
		return nil, err
	}
	raw, err := jwk.MarshalJSON()
	if err != nil {
		return nil, err
	}
	// The message's JSON names are the JWK members, so go-jose's encoding
	// reads back field for field.
	out := &identityv1.JsonWebKey{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, out); err != nil {
		return nil, fmt.Errorf("signing key %s: %w", k.ID, err)
	}
	return out, nil
}
