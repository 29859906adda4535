package server

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/accesskey"
	"github.com/acme/identity/ent/change"
	"github.com/acme/identity/ent/role"
	"github.com/acme/identity/ent/schema"
	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// AccessKeyService implements identityv1.AccessKeyServiceServer.
type AccessKeyService struct{ *Server }

var _ identityv1.AccessKeyServiceServer = (*AccessKeyService)(nil)

// CreateAccessKey creates a key and returns its credential once.
func (s *AccessKeyService) CreateAccessKey(ctx context.Context, req *identityv1.CreateAccessKeyRequest) (*identityv1.CreateAccessKeyResponse, error) {
	p := principalFrom(ctx)
	keyID, key, hash, err := NewAccessKey()
	if err != nil {
		return nil, err
	}
	var out *ent.AccessKey
	rev, err := s.write(ctx, p.ProjectID, func(ctx context.Context, cs *changeSet) error {
		bindings, err := checkBindings(ctx, cs.tx, p.ProjectID, req.GetRoleBindings())
		if err != nil {
			return err
		}
		c := cs.tx.AccessKey.Create().
			SetID(keyID).
			SetProjectID(p.ProjectID).
			SetName(req.GetName()).
			SetSecretHash(hash).
			SetRoleBindings(bindings).
			SetCreatedBy(p.KeyID).
			SetCreateTime(cs.now)
		if req.GetExpireTime() != nil {
			if !req.GetExpireTime().AsTime().After(cs.now) {
				return invalidField("expire_time", "EXPIRED", "expire_time must be in the future")
			}
			c.SetExpireTime(req.GetExpireTime().AsTime().Truncate(time.Microsecond))
		}
		if out, err = c.Save(ctx); err != nil {
			return fmt.Errorf("create access key: %w", err)
		}
		cs.add("", change.KindAccessKey, change.OperationCreate, keyID, "")
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.CreateAccessKeyResponse{
		AccessKey:  accessKeyToProto(out),
		Credential: FormatCredential(p.ProjectID, key),
		Revision:   rev,
	}, nil
}

// checkBindings verifies that every bound tenant is in the project and every
// bound tenant role exists, and returns the bindings as stored.
func checkBindings(ctx context.Context, tx *ent.Tx, projectID string, in []*identityv1.RoleBinding) ([]schema.RoleBinding, error) {
	out := make([]schema.RoleBinding, 0, len(in))
	for i, b := range in {
		if b.GetTenantId() != "" {
			if err := requireTenant(ctx, tx.Tenant, projectID, b.GetTenantId()); err != nil {
				return nil, err
			}
			if b.GetRole() != RoleTenantAdmin {
				ok, err := tx.Role.Query().Where(role.TenantID(b.GetTenantId()), role.NameKey(fold(b.GetRole()))).Exist(ctx)
				if err != nil {
					return nil, fmt.Errorf("find role: %w", err)
				}
				if !ok {
					return nil, invalidField(fmt.Sprintf("role_bindings[%d].role", i), "UNKNOWN_ROLE",
						fmt.Sprintf("tenant %s has no role %q (built-in roles: %q on a tenant, %q without one)",
							b.GetTenantId(), b.GetRole(), RoleTenantAdmin, RoleProjectAdmin))
				}
			}
		}
		rb := schema.RoleBinding{Role: b.GetRole(), TenantID: b.GetTenantId()}
		if !slices.Contains(out, rb) {
			out = append(out, rb)
		}
	}
	return out, nil
}

// GetAccessKey returns a key of the project without its secret.
func (s *AccessKeyService) GetAccessKey(ctx context.Context, req *identityv1.GetAccessKeyRequest) (*identityv1.GetAccessKeyResponse, error) {
	k, err := s.getKey(ctx, s.db, req.GetAccessKeyId())
	if err != nil {
		return nil, err
	}
	return &identityv1.GetAccessKeyResponse{AccessKey: accessKeyToProto(k)}, nil
}

func (s *AccessKeyService) getKey(ctx context.Context, db *ent.Client, id string) (*ent.AccessKey, error) {
	k, err := db.AccessKey.Query().Where(accesskey.ID(id), accesskey.ProjectID(principalFrom(ctx).ProjectID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, notFound("access key", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get access key: %w", err)
	}
	return k, nil
}

// ListAccessKeys pages through the project's keys in id order.
func (s *AccessKeyService) ListAccessKeys(ctx context.Context, req *identityv1.ListAccessKeysRequest) (*identityv1.ListAccessKeysResponse, error) {
	p := principalFrom(ctx)
	pg, err := readPage(req.GetPageSize(), req.GetPageToken(), p.ProjectID, nil)
	if err != nil {
		return nil, err
	}
	q := s.db.AccessKey.Query().Where(accesskey.ProjectID(p.ProjectID))
	if pg.after != "" {
		q = q.Where(accesskey.IDGT(pg.after))
	}
	rows, err := q.Order(ent.Asc(accesskey.FieldID)).Limit(pg.size + 1).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list access keys: %w", err)
	}
	rows, next := trimPage(pg, rows, func(k *ent.AccessKey) string { return k.ID })
	out := &identityv1.ListAccessKeysResponse{NextPageToken: next}
	for _, k := range rows {
		out.AccessKeys = append(out.AccessKeys, accessKeyToProto(k))
	}
	return out, nil
}

// UpdateAccessKey renames a key, or changes its bindings or expiry.
func (s *AccessKeyService) UpdateAccessKey(ctx context.Context, req *identityv1.UpdateAccessKeyRequest) (*identityv1.UpdateAccessKeyResponse, error) {
	p := principalFrom(ctx)
	in := req.GetAccessKey()
	paths := req.GetUpdateMask().GetPaths()
	has := func(path string) bool { return slices.Contains(paths, "*") || slices.Contains(paths, path) }
	var out *ent.AccessKey
	rev, err := s.write(ctx, p.ProjectID, func(ctx context.Context, cs *changeSet) error {
		k, err := s.getKey(ctx, cs.tx.Client(), in.GetId())
		if err != nil {
			return err
		}
		if k.RevokeTime != nil {
			return failedPrecondition("REVOKED", "the access key is revoked; create a new one")
		}
		upd := k.Update()
		if has("name") {
			upd.SetName(in.GetName())
		}
		if has("role_bindings") {
			bindings, err := checkBindings(ctx, cs.tx, p.ProjectID, in.GetRoleBindings())
			if err != nil {
				return err
			}
			upd.SetRoleBindings(bindings)
		}
		if has("expire_time") {
			switch t := in.GetExpireTime(); {
			case t == nil:
				upd.ClearExpireTime()
			case !t.AsTime().After(cs.now):
				return invalidField("access_key.expire_time", "EXPIRED", "expire_time must be in the future")
			default:
				upd.SetExpireTime(t.AsTime().Truncate(time.Microsecond))
			}
		}
		if out, err = upd.Save(ctx); err != nil {
			return fmt.Errorf("update access key: %w", err)
		}
		cs.add("", change.KindAccessKey, change.OperationUpdate, k.ID, "")
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.UpdateAccessKeyResponse{AccessKey: accessKeyToProto(out), Revision: rev}, nil
}

// RevokeAccessKey revokes a key; authentication reads the key on every
// request, so the revocation holds from the next request on, on every
// instance.
func (s *AccessKeyService) RevokeAccessKey(ctx context.Context, req *identityv1.RevokeAccessKeyRequest) (*identityv1.RevokeAccessKeyResponse, error) {
	p := principalFrom(ctx)
	var out *ent.AccessKey
	rev, err := s.write(ctx, p.ProjectID, func(ctx context.Context, cs *changeSet) error {
		k, err := s.getKey(ctx, cs.tx.Client(), req.GetAccessKeyId())
		if err != nil {
			return err
		}
		if out = k; k.RevokeTime != nil {
			return nil
		}
		if out, err = k.Update().SetRevokeTime(cs.now).Save(ctx); err != nil {
			return fmt.Errorf("revoke access key: %w", err)
		}
		cs.add("", change.KindAccessKey, change.OperationRevoke, k.ID, "")
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.RevokeAccessKeyResponse{AccessKey: accessKeyToProto(out), Revision: rev}, nil
}

// DeleteAccessKey deletes a key.
func (s *AccessKeyService) DeleteAccessKey(ctx context.Context, req *identityv1.DeleteAccessKeyRequest) (*identityv1.DeleteAccessKeyResponse, error) {
	p := principalFrom(ctx)
	rev, err := s.write(ctx, p.ProjectID, func(ctx context.Context, cs *changeSet) error {
		n, err := cs.tx.AccessKey.Delete().
			Where(accesskey.ID(req.GetAccessKeyId()), accesskey.ProjectID(p.ProjectID)).
			Exec(ctx)
		if err != nil {
			return fmt.Errorf("delete access key: %w", err)
		}
		if n == 0 {
			return notFound("access key", req.GetAccessKeyId())
		}
		cs.add("", change.KindAccessKey, change.OperationDelete, req.GetAccessKeyId(), "")
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.DeleteAccessKeyResponse{Revision: rev}, nil
}
