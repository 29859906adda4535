package service

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/accesskey"
	"github.com/acme/identity/ent/role"
	"github.com/acme/identity/ent/schema"
	"github.com/acme/identity/ent/tenant"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/apierr"
	"github.com/acme/identity/server/authn"
	"github.com/acme/identity/server/authz"
	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/store"
)

// AccessKeyService implements identityv1.AccessKeyServiceServer. Keys are
// confined to the caller's project by the store's scope.
type AccessKeyService struct {
	db *ent.Client
	w  *store.Writer
}

var _ identityv1.AccessKeyServiceServer = (*AccessKeyService)(nil)

// NewAccessKeyService returns the access key service over db and w.
func NewAccessKeyService(db *ent.Client, w *store.Writer) *AccessKeyService {
	return &AccessKeyService{db: db, w: w}
}

// CreateAccessKey creates a key and returns its credential once.
func (s *AccessKeyService) CreateAccessKey(ctx context.Context, req *identityv1.CreateAccessKeyRequest) (*identityv1.CreateAccessKeyResponse, error) {
	p := authn.From(ctx)
	keyID, key, hash, err := authn.NewAccessKey()
	if err != nil {
		return nil, err
	}
	var out *ent.AccessKey
	rev, err := s.w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		bindings, err := checkBindings(ctx, tx, req.GetRoleBindings())
		if err != nil {
			return err
		}
		c := tx.AccessKey.Create().
			SetID(keyID).
			SetProjectID(p.ProjectID).
			SetName(req.GetName()).
			SetSecretHash(hash).
			SetRoleBindings(bindings).
			SetCreatedBy(p.KeyID).
			SetCreateTime(tx.Now)
		if req.GetExpireTime() != nil {
			if !req.GetExpireTime().AsTime().After(tx.Now) {
				return apierr.InvalidField("expire_time", "EXPIRED", "expire_time must be in the future")
			}
			c.SetExpireTime(req.GetExpireTime().AsTime().Truncate(time.Microsecond))
		}
		if out, err = c.Save(ctx); err != nil {
			return fmt.Errorf("create access key: %w", err)
		}
		tx.Record(changelog.KeyCreated{Key: changelog.KeyID(keyID)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.CreateAccessKeyResponse{
		AccessKey:  accessKeyToProto(out),
		Credential: authn.FormatCredential(p.ProjectID, key),
		Revision:   rev,
	}, nil
}

// checkBindings verifies that every bound tenant is in the project and every
// bound tenant role exists, and returns the bindings as stored.
func checkBindings(ctx context.Context, tx *store.Tx, in []*identityv1.RoleBinding) ([]schema.RoleBinding, error) {
	out := make([]schema.RoleBinding, 0, len(in))
	for i, b := range in {
		if b.GetTenantId() != "" {
			ok, err := tx.Tenant.Query().Where(tenant.ID(b.GetTenantId())).Exist(ctx)
			if err != nil {
				return nil, fmt.Errorf("find tenant: %w", err)
			}
			if !ok {
				return nil, apierr.NotFound("tenant", b.GetTenantId())
			}
			if b.GetRole() != authz.RoleTenantAdmin {
				ok, err := tx.Role.Query().Where(role.TenantID(b.GetTenantId()), role.NameKey(store.NameLookup(b.GetRole()))).Exist(ctx)
				if err != nil {
					return nil, fmt.Errorf("find role: %w", err)
				}
				if !ok {
					return nil, apierr.InvalidField(fmt.Sprintf("role_bindings[%d].role", i), "UNKNOWN_ROLE",
						fmt.Sprintf("tenant %s has no role %q (built-in roles: %q on a tenant, %q without one)",
							b.GetTenantId(), b.GetRole(), authz.RoleTenantAdmin, authz.RoleProjectAdmin))
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
	k, err := getKey(ctx, s.db, req.GetAccessKeyId())
	if err != nil {
		return nil, err
	}
	return &identityv1.GetAccessKeyResponse{AccessKey: accessKeyToProto(k)}, nil
}

// getKey reads a key of the caller's project through db (the database or a
// write's transaction).
func getKey(ctx context.Context, db *ent.Client, id string) (*ent.AccessKey, error) {
	return only(ctx, db.AccessKey.Query().Where(accesskey.ID(id)), "access key", id)
}

// ListAccessKeys pages through the project's keys in id order.
func (s *AccessKeyService) ListAccessKeys(ctx context.Context, req *identityv1.ListAccessKeysRequest) (*identityv1.ListAccessKeysResponse, error) {
	pg, err := readPage(req.GetPageSize(), req.GetPageToken(), authn.From(ctx).ProjectID, nil)
	if err != nil {
		return nil, err
	}
	rows, next, _, err := list(ctx, pg, s.db.AccessKey.Query(), accesskey.FieldID, 0, func(k *ent.AccessKey) string { return k.ID }, false)
	if err != nil {
		return nil, fmt.Errorf("access keys: %w", err)
	}
	out := &identityv1.ListAccessKeysResponse{NextPageToken: next}
	for _, k := range rows {
		out.AccessKeys = append(out.AccessKeys, accessKeyToProto(k))
	}
	return out, nil
}

// UpdateAccessKey renames a key, or changes its bindings or expiry.
func (s *AccessKeyService) UpdateAccessKey(ctx context.Context, req *identityv1.UpdateAccessKeyRequest) (*identityv1.UpdateAccessKeyResponse, error) {
	in := req.GetAccessKey()
	has := masked(req.GetUpdateMask().GetPaths())
	var out *ent.AccessKey
	rev, err := s.w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		k, err := getKey(ctx, tx.Client(), in.GetId())
		if err != nil {
			return err
		}
		if k.RevokeTime != nil {
			return apierr.FailedPrecondition("REVOKED", "the access key is revoked; create a new one")
		}
		upd := k.Update()
		if has("name") {
			upd.SetName(in.GetName())
		}
		if has("role_bindings") {
			bindings, err := checkBindings(ctx, tx, in.GetRoleBindings())
			if err != nil {
				return err
			}
			if usableAdmin(k, tx.Now) && !isAdmin(bindings) {
				if err := keepAnAdmin(ctx, tx, k.ID); err != nil {
					return err
				}
			}
			upd.SetRoleBindings(bindings)
		}
		if has("expire_time") {
			switch t := in.GetExpireTime(); {
			case t == nil:
				upd.ClearExpireTime()
			case !t.AsTime().After(tx.Now):
				return apierr.InvalidField("access_key.expire_time", "EXPIRED", "expire_time must be in the future")
			case usableAdmin(k, tx.Now):
				// an expiring last admin key would lock the project out later
				if err := keepAnAdmin(ctx, tx, k.ID); err != nil {
					return err
				}
				upd.SetExpireTime(t.AsTime().Truncate(time.Microsecond))
			default:
				upd.SetExpireTime(t.AsTime().Truncate(time.Microsecond))
			}
		}
		if out, err = upd.Save(ctx); err != nil {
			return fmt.Errorf("update access key: %w", err)
		}
		tx.Record(changelog.KeyUpdated{Key: changelog.KeyID(k.ID)})
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
	var out *ent.AccessKey
	rev, err := s.w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		k, err := getKey(ctx, tx.Client(), req.GetAccessKeyId())
		if err != nil {
			return err
		}
		if out = k; k.RevokeTime != nil {
			return nil
		}
		if usableAdmin(k, tx.Now) {
			if err := keepAnAdmin(ctx, tx, k.ID); err != nil {
				return err
			}
		}
		if out, err = k.Update().SetRevokeTime(tx.Now).Save(ctx); err != nil {
			return fmt.Errorf("revoke access key: %w", err)
		}
		tx.Record(changelog.KeyRevoked{Key: changelog.KeyID(k.ID)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.RevokeAccessKeyResponse{AccessKey: accessKeyToProto(out), Revision: rev}, nil
}

// DeleteAccessKey deletes a key.
func (s *AccessKeyService) DeleteAccessKey(ctx context.Context, req *identityv1.DeleteAccessKeyRequest) (*identityv1.DeleteAccessKeyResponse, error) {
	id := req.GetAccessKeyId()
	rev, err := deleteOne(ctx, s.w, "access key", id, changelog.KeyDeleted{Key: changelog.KeyID(id)},
		func(ctx context.Context, tx *store.Tx) (int, error) {
			k, err := getKey(ctx, tx.Client(), id)
			if err != nil {
				return 0, err
			}
			if usableAdmin(k, tx.Now) {
				if err := keepAnAdmin(ctx, tx, id); err != nil {
					return 0, err
				}
			}
			return tx.AccessKey.Delete().Where(accesskey.ID(id)).Exec(ctx)
		})
	if err != nil {
		return nil, err
	}
	return &identityv1.DeleteAccessKeyResponse{Revision: rev}, nil
}

// isAdmin says whether bindings grant Project Admin (a binding without a
// tenant: a tenant role of that name grants nothing project-wide).
func isAdmin(bindings []schema.RoleBinding) bool {
	for _, b := range bindings {
		if b.Role == authz.RoleProjectAdmin && b.TenantID == "" {
			return true
		}
	}
	return false
}

// usableAdmin says whether a key is a Project Admin key that still
// authenticates at now: only such a key can be the last one.
func usableAdmin(k *ent.AccessKey, now time.Time) bool {
	return k.RevokeTime == nil && (k.ExpireTime == nil || k.ExpireTime.After(now)) && isAdmin(k.RoleBindings)
}

// keepAnAdmin refuses to take Project Admin from the key except (by
// revoking, deleting or rebinding it) when no other usable key of the
// project holds it: the project would be left with nobody able to manage
// it. The write holds the project's row, so two such writes cannot each
// count the other's key.
func keepAnAdmin(ctx context.Context, tx *store.Tx, except string) error {
	keys, err := tx.AccessKey.Query().Where(accesskey.IDNEQ(except), accesskey.RevokeTimeIsNil(),
		accesskey.Or(accesskey.ExpireTimeIsNil(), accesskey.ExpireTimeGT(tx.Now))).All(ctx)
	if err != nil {
		return fmt.Errorf("count admin keys: %w", err)
	}
	for _, k := range keys {
		if usableAdmin(k, tx.Now) {
			return nil
		}
	}
	return apierr.FailedPrecondition("LAST_PROJECT_ADMIN",
		"this is the project's last usable key with Project Admin: create another one first "+
			"(an operator with access to the store can also run identityd recover)")
}
