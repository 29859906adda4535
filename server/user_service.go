package server

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/change"
	"github.com/acme/identity/ent/email"
	"github.com/acme/identity/ent/predicate"
	"github.com/acme/identity/ent/schema"
	"github.com/acme/identity/ent/tenant"
	"github.com/acme/identity/ent/user"
	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// UserService implements identityv1.UserServiceServer.
type UserService struct{ *Server }

var _ identityv1.UserServiceServer = (*UserService)(nil)

func withEmails(q *ent.EmailQuery) { q.Order(ent.Asc(email.FieldPosition)) }

// CreateUser creates a user; a taken user_name (ignoring case) is AlreadyExists.
func (s *UserService) CreateUser(ctx context.Context, req *identityv1.CreateUserRequest) (*identityv1.CreateUserResponse, error) {
	p := principalFrom(ctx)
	in := req.GetUser()
	var id string
	rev, err := s.write(ctx, p.ProjectID, func(ctx context.Context, cs *changeSet) error {
		if err := requireTenant(ctx, cs.tx.Tenant, p.ProjectID, req.GetTenantId()); err != nil {
			return err
		}
		id = newID()
		active := in.Active == nil || in.GetActive()
		var profile schema.Profile
		applyProfile(&profile, in, func(string) bool { return true })
		err := cs.tx.User.Create().
			SetID(id).
			SetTenantID(req.GetTenantId()).
			SetUserName(in.GetUserName()).
			SetUserNameKey(fold(in.GetUserName())).
			SetExternalID(in.GetExternalId()).
			SetGivenName(in.GetName().GetGivenName()).
			SetFamilyName(in.GetName().GetFamilyName()).
			SetFormattedName(in.GetName().GetFormatted()).
			SetDisplayName(in.GetDisplayName()).
			SetActive(active).
			SetPhoneNumbers(phoneNumbersFromProto(in.GetPhoneNumbers())).
			SetCustomAttributes(in.GetCustomAttributes()).
			SetProfile(profile).
			SetCreateTime(cs.now).
			SetUpdateTime(cs.now).
			SetVersion(cs.revision).
			Exec(ctx)
		if ent.IsConstraintError(err) {
			return alreadyExists("user", "user_name", in.GetUserName())
		}
		if err != nil {
			return fmt.Errorf("create user: %w", err)
		}
		if err := insertEmails(ctx, cs.tx, req.GetTenantId(), id, in.GetEmails()); err != nil {
			return err
		}
		cs.add(req.GetTenantId(), change.KindUser, change.OperationCreate, id, "")
		return nil
	})
	if err != nil {
		return nil, err
	}
	u, err := s.getUser(ctx, p.ProjectID, req.GetTenantId(), id)
	if err != nil {
		return nil, err
	}
	return &identityv1.CreateUserResponse{User: u, Revision: rev}, nil
}

func insertEmails(ctx context.Context, tx *ent.Tx, tenantID, userID string, emails []*identityv1.Email) error {
	if len(emails) == 0 {
		return nil
	}
	creates := make([]*ent.EmailCreate, 0, len(emails))
	for i, e := range emails {
		creates = append(creates, tx.Email.Create().
			SetTenantID(tenantID).
			SetUserID(userID).
			SetValue(e.GetValue()).
			SetValueKey(fold(e.GetValue())).
			SetType(e.GetType()).
			SetPrimary(e.GetPrimary()).
			SetPosition(i))
	}
	if err := tx.Email.CreateBulk(creates...).Exec(ctx); err != nil {
		return fmt.Errorf("insert emails: %w", err)
	}
	return nil
}

// GetUser returns a user of a tenant of the caller's project.
func (s *UserService) GetUser(ctx context.Context, req *identityv1.GetUserRequest) (*identityv1.GetUserResponse, error) {
	u, err := s.getUser(ctx, principalFrom(ctx).ProjectID, req.GetTenantId(), req.GetUserId())
	if err != nil {
		return nil, err
	}
	return &identityv1.GetUserResponse{User: u}, nil
}

func (s *UserService) getUser(ctx context.Context, projectID, tenantID, userID string) (*identityv1.User, error) {
	u, err := s.db.User.Query().
		Where(user.ID(userID), user.TenantID(tenantID), user.HasTenantWith(tenant.ProjectID(projectID))).
		WithEmails(withEmails).
		Only(ctx)
	if ent.IsNotFound(err) {
		return nil, notFound("user", userID)
	}
	if err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	return userToProto(u), nil
}

// ListUsers pages through the users of a tenant in id order.
func (s *UserService) ListUsers(ctx context.Context, req *identityv1.ListUsersRequest) (*identityv1.ListUsersResponse, error) {
	p := principalFrom(ctx)
	pg, err := readPage(req.GetPageSize(), req.GetPageToken(), req.GetTenantId(), req.GetFilter())
	if err != nil {
		return nil, err
	}
	if err := requireTenant(ctx, s.db.Tenant, p.ProjectID, req.GetTenantId()); err != nil {
		return nil, err
	}
	where := append([]predicate.User{user.TenantID(req.GetTenantId())}, userFilter(req.GetTenantId(), req.GetFilter())...)
	if e := req.GetFilter().GetExpression(); e != nil {
		p, err := compileExpression(e, userFilterSchema)
		if err != nil {
			return nil, err
		}
		where = append(where, predicate.User(p))
	}
	total, err := s.db.User.Query().Where(where...).Count(ctx)
	if err != nil {
		return nil, fmt.Errorf("count users: %w", err)
	}
	q := s.db.User.Query().Where(where...)
	if pg.after != "" {
		q = q.Where(user.IDGT(pg.after))
	}
	rows, err := q.Order(ent.Asc(user.FieldID)).Offset(int(req.GetSkip())).Limit(pg.size + 1).WithEmails(withEmails).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	rows, next := trimPage(pg, rows, func(u *ent.User) string { return u.ID })
	out := &identityv1.ListUsersResponse{NextPageToken: next, TotalSize: int32(total)}
	for _, u := range rows {
		out.Users = append(out.Users, userToProto(u))
	}
	return out, nil
}

// userFilter translates a UserFilter; user_name and email ignore case through
// their folded key columns, which are indexed.
func userFilter(tenantID string, f *identityv1.UserFilter) []predicate.User {
	var where []predicate.User
	add := func(p predicate.User, ok bool) {
		if ok {
			where = append(where, p)
		}
	}
	add(stringCondition(f.GetUserName(),
		func(v string) predicate.User { return user.UserNameKey(fold(v)) },
		func(v string) predicate.User { return user.UserNameKeyHasPrefix(fold(v)) },
		func() predicate.User { return user.UserNameKeyNEQ("") },
		func() predicate.User { return user.UserNameKey("") }))
	add(stringCondition(f.GetEmail(),
		func(v string) predicate.User {
			return user.HasEmailsWith(email.TenantID(tenantID), email.ValueKey(fold(v)))
		},
		func(v string) predicate.User {
			return user.HasEmailsWith(email.TenantID(tenantID), email.ValueKeyHasPrefix(fold(v)))
		},
		user.HasEmails,
		func() predicate.User { return user.Not(user.HasEmails()) }))
	add(stringCondition(f.GetExternalId(), user.ExternalID, user.ExternalIDHasPrefix,
		func() predicate.User { return user.ExternalIDNEQ("") },
		func() predicate.User { return user.ExternalID("") }))
	add(stringCondition(f.GetDisplayName(), user.DisplayName, user.DisplayNameHasPrefix,
		func() predicate.User { return user.DisplayNameNEQ("") },
		func() predicate.User { return user.DisplayName("") }))
	if f != nil && f.Active != nil {
		where = append(where, user.Active(f.GetActive()))
	}
	if f.GetUpdatedAfter() != nil {
		where = append(where, user.UpdateTimeGT(f.GetUpdatedAfter().AsTime()))
	}
	return where
}

// UpdateUser applies the fields named in update_mask.
func (s *UserService) UpdateUser(ctx context.Context, req *identityv1.UpdateUserRequest) (*identityv1.UpdateUserResponse, error) {
	p := principalFrom(ctx)
	in := req.GetUser()
	paths := req.GetUpdateMask().GetPaths()
	has := func(path string) bool { return slices.Contains(paths, "*") || slices.Contains(paths, path) }
	rev, err := s.write(ctx, p.ProjectID, func(ctx context.Context, cs *changeSet) error {
		if err := requireTenant(ctx, cs.tx.Tenant, p.ProjectID, in.GetTenantId()); err != nil {
			return err
		}
		cur, err := cs.tx.User.Query().Where(user.ID(in.GetId()), user.TenantID(in.GetTenantId())).Only(ctx)
		if ent.IsNotFound(err) {
			return notFound("user", in.GetId())
		}
		if err != nil {
			return fmt.Errorf("read user: %w", err)
		}
		if err := checkVersion(cur.Version, req.GetExpectedVersion()); err != nil {
			return err
		}
		upd := cur.Update().SetUpdateTime(cs.now).SetVersion(cs.revision)
		if has("user_name") {
			upd.SetUserName(in.GetUserName()).SetUserNameKey(fold(in.GetUserName()))
		}
		if has("external_id") {
			upd.SetExternalID(in.GetExternalId())
		}
		if has("name") || has("name.given_name") {
			upd.SetGivenName(in.GetName().GetGivenName())
		}
		if has("name") || has("name.family_name") {
			upd.SetFamilyName(in.GetName().GetFamilyName())
		}
		if has("name") || has("name.formatted") {
			upd.SetFormattedName(in.GetName().GetFormatted())
		}
		if has("display_name") {
			upd.SetDisplayName(in.GetDisplayName())
		}
		if has("active") {
			upd.SetActive(in.Active == nil || in.GetActive())
		}
		if has("phone_numbers") {
			upd.SetPhoneNumbers(phoneNumbersFromProto(in.GetPhoneNumbers()))
		}
		if has("custom_attributes") {
			upd.SetCustomAttributes(in.GetCustomAttributes())
		}
		profile := cur.Profile
		applyProfile(&profile, in, func(p string) bool {
			return has(p) || (strings.HasPrefix(p, "enterprise.") && has("enterprise"))
		})
		upd.SetProfile(profile)
		err = upd.Exec(ctx)
		if ent.IsConstraintError(err) {
			return alreadyExists("user", "user_name", in.GetUserName())
		}
		if err != nil {
			return fmt.Errorf("update user: %w", err)
		}
		if has("emails") {
			if _, err := cs.tx.Email.Delete().Where(email.UserID(in.GetId())).Exec(ctx); err != nil {
				return fmt.Errorf("delete emails: %w", err)
			}
			if err := insertEmails(ctx, cs.tx, in.GetTenantId(), in.GetId(), in.GetEmails()); err != nil {
				return err
			}
		}
		cs.add(in.GetTenantId(), change.KindUser, change.OperationUpdate, in.GetId(), "")
		return nil
	})
	if err != nil {
		return nil, err
	}
	u, err := s.getUser(ctx, p.ProjectID, in.GetTenantId(), in.GetId())
	if err != nil {
		return nil, err
	}
	return &identityv1.UpdateUserResponse{User: u, Revision: rev}, nil
}

// DeleteUser deletes a user; its emails, memberships and role assignments go
// with it by cascading foreign keys.
func (s *UserService) DeleteUser(ctx context.Context, req *identityv1.DeleteUserRequest) (*identityv1.DeleteUserResponse, error) {
	rev, err := s.deleteInTenant(ctx, req.GetTenantId(), change.KindUser, req.GetUserId(), func(ctx context.Context, tx *ent.Tx) (int, error) {
		if err := versionIs(ctx, tx.User.Query().Where(user.ID(req.GetUserId()), user.TenantID(req.GetTenantId())).Select(user.FieldVersion), req.GetExpectedVersion()); err != nil {
			return 0, err
		}
		return tx.User.Delete().Where(user.ID(req.GetUserId()), user.TenantID(req.GetTenantId())).Exec(ctx)
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.DeleteUserResponse{Revision: rev}, nil
}
