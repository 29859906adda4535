package service

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/email"
	"github.com/acme/identity/ent/predicate"
	"github.com/acme/identity/ent/session"
	"github.com/acme/identity/ent/tenantcount"
	"github.com/acme/identity/ent/user"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/apierr"
	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/filter"
	"github.com/acme/identity/server/store"
)

// UserService implements identityv1.UserServiceServer.
type UserService struct {
	db *ent.Client
	w  *store.Writer
}

var _ identityv1.UserServiceServer = (*UserService)(nil)

// NewUserService returns the user service over db and w.
func NewUserService(db *ent.Client, w *store.Writer) *UserService {
	return &UserService{db: db, w: w}
}

func withEmails(q *ent.EmailQuery) { q.Order(ent.Asc(email.FieldPosition)) }

// CreateUser creates a user; a taken user_name (ignoring case) is AlreadyExists.
func (s *UserService) CreateUser(ctx context.Context, req *identityv1.CreateUserRequest) (*identityv1.CreateUserResponse, error) {
	in := req.GetUser()
	key, err := userNameKey(in.GetUserName())
	if err != nil {
		return nil, err
	}
	if err := checkEmails(in.GetEmails(), nil); err != nil {
		return nil, err
	}
	// A create checks nothing the unique index on user_name_key does not, so
	// creates of one tenant run side by side; it only adds rows (see
	// store.Writer.InsertRows). The answer is built from what was stored,
	// not read again.
	ins := s.w.NewInsertion()
	u := newUser(req.GetTenantId(), key, in, ins.Now)
	rows, err := userRows(u)
	if err != nil {
		return nil, err
	}
	ins.Add(rows...)
	ins.Count(u.TenantID, tenantcount.KindUser, 1)
	ins.Record(changelog.UserCreated{Tenant: changelog.TenantID(u.TenantID), User: changelog.UserID(u.ID)})
	rev, err := s.w.InsertRows(ctx, ins)
	switch {
	case apierr.ForeignKeyViolation(err): // the tenant was deleted meanwhile
		return nil, apierr.NotFound("tenant", u.TenantID)
	case apierr.UniqueViolation(err, user.Table, user.FieldTenantID, user.FieldUserNameKey):
		return nil, apierr.AlreadyExists("user", "user_name", in.GetUserName())
	case err != nil:
		return nil, err
	}
	return &identityv1.CreateUserResponse{User: userToProto(u), Revision: rev}, nil
}

// insertEmails stores a user's emails in their order and returns them as
// stored.
func insertEmails(ctx context.Context, tx *store.Tx, tenantID, userID string, emails []*identityv1.Email) ([]*ent.Email, error) {
	if len(emails) == 0 {
		return nil, nil
	}
	creates := make([]*ent.EmailCreate, 0, len(emails))
	for _, e := range newEmails(tenantID, userID, emails) {
		creates = append(creates, tx.Email.Create().
			SetTenantID(e.TenantID).
			SetUserID(e.UserID).
			SetValue(e.Value).
			SetValueKey(e.ValueKey).
			SetType(e.Type).
			SetPrimary(e.Primary).
			SetDisplay(e.Display).
			SetPosition(e.Position))
	}
	out, err := tx.Email.CreateBulk(creates...).Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("insert emails: %w", err)
	}
	return out, nil
}

// GetUser returns a user of a tenant of the caller's project.
func (s *UserService) GetUser(ctx context.Context, req *identityv1.GetUserRequest) (*identityv1.GetUserResponse, error) {
	u, err := s.getUser(ctx, req.GetUserId())
	if err != nil {
		return nil, err
	}
	return &identityv1.GetUserResponse{User: u}, nil
}

// getUser reads a user of the request's tenant (the store's scope confines
// the query to it).
func (s *UserService) getUser(ctx context.Context, userID string) (*identityv1.User, error) {
	u, err := only(ctx, s.db.User.Query().Where(user.ID(userID)).WithEmails(withEmails), "user", userID)
	if err != nil {
		return nil, err
	}
	return userToProto(u), nil
}

// ListUsers pages through the users of a tenant in id order, or in
// order_by's.
func (s *UserService) ListUsers(ctx context.Context, req *identityv1.ListUsersRequest) (*identityv1.ListUsersResponse, error) {
	f := req.GetFilter()
	pg, preds, err := startTenantList(ctx, s.db, req, f, req.GetOrderBy(), filter.Users, filter.UserConditions(f), f.GetExpression())
	if err != nil {
		return nil, err
	}
	pg.exists = func(ctx context.Context, id string) (bool, error) {
		return s.db.User.Query().Where(user.ID(id)).Exist(ctx)
	}
	q := s.db.User.Query().Where(where[predicate.User](preds)...).WithEmails(withEmails)
	rows, next, total, err := list(ctx, pg, q, user.FieldID, req.GetSkip(), func(u *ent.User) string { return u.ID }, len(preds) > 0)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	if len(preds) == 0 {
		if total, err = tenantTotal(ctx, s.db, tenantcount.KindUser); err != nil {
			return nil, err
		}
	}
	out := &identityv1.ListUsersResponse{NextPageToken: next, TotalSize: total}
	for _, u := range rows {
		out.Users = append(out.Users, userToProto(u))
	}
	return out, nil
}

// UpdateUser applies the fields named in update_mask.
func (s *UserService) UpdateUser(ctx context.Context, req *identityv1.UpdateUserRequest) (*identityv1.UpdateUserResponse, error) {
	in := req.GetUser()
	has := masked(req.GetUpdateMask().GetPaths())
	rev, err := s.w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		cur, err := only(ctx, tx.User.Query().Where(user.ID(in.GetId())), "user", in.GetId())
		if err != nil {
			return err
		}
		if err := apierr.CheckVersion(cur.Version, req.GetExpectedVersion()); err != nil {
			return err
		}
		upd := cur.Update().SetUpdateTime(tx.Now).AddVersion(1)
		// A name is checked when it changes: a user stored before the name
		// rule, under a name it refuses, can still be updated and deactivated.
		if has("user_name") && in.GetUserName() != cur.UserName {
			key, err := userNameKey(in.GetUserName())
			if err != nil {
				return err
			}
			upd.SetUserName(in.GetUserName()).SetUserNameKey(key)
		}
		if has("external_id") {
			upd.SetExternalID(in.GetExternalId())
		}
		// "name" sets every part of the name; "name.<part>" sets one.
		n := in.GetName()
		for part, set := range map[string]func(){
			"given_name":       func() { upd.SetGivenName(n.GetGivenName()) },
			"family_name":      func() { upd.SetFamilyName(n.GetFamilyName()) },
			"middle_name":      func() { upd.SetMiddleName(n.GetMiddleName()) },
			"honorific_prefix": func() { upd.SetHonorificPrefix(n.GetHonorificPrefix()) },
			"honorific_suffix": func() { upd.SetHonorificSuffix(n.GetHonorificSuffix()) },
			"formatted":        func() { upd.SetFormattedName(n.GetFormatted()) },
		} {
			if has("name") || has("name."+part) {
				set()
			}
		}
		if has("display_name") {
			upd.SetDisplayName(in.GetDisplayName())
		}
		active := cur.Active
		if has("active") {
			active = in.Active == nil || in.GetActive()
			upd.SetActive(active)
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
			return apierr.AlreadyExists("user", "user_name", in.GetUserName())
		}
		if err != nil {
			return fmt.Errorf("update user: %w", err)
		}
		if has("emails") {
			old, err := tx.Email.Query().Where(email.UserID(in.GetId())).Select(email.FieldValue).Strings(ctx)
			if err != nil {
				return fmt.Errorf("read emails: %w", err)
			}
			if err := checkEmails(in.GetEmails(), old); err != nil {
				return err
			}
			if _, err := tx.Email.Delete().Where(email.UserID(in.GetId())).Exec(ctx); err != nil {
				return fmt.Errorf("delete emails: %w", err)
			}
			if _, err := insertEmails(ctx, tx, in.GetTenantId(), in.GetId(), in.GetEmails()); err != nil {
				return err
			}
		}
		tx.Record(userUpdated(changelog.TenantID(in.GetTenantId()), changelog.UserID(in.GetId()), cur.Active, active))
		if cur.Active && !active {
			// A deactivated user signs in no more: its sessions end in the
			// same write.
			if _, err := endSessions(ctx, tx, session.UserID(in.GetId())); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	u, err := s.getUser(ctx, in.GetId())
	if err != nil {
		return nil, err
	}
	return &identityv1.UpdateUserResponse{User: u, Revision: rev}, nil
}

// userNameKey is the key of a user name, or InvalidArgument saying why the
// name is refused.
func userNameKey(name string) (string, error) {
	key, err := store.UserNameKey(name)
	if err != nil {
		return "", apierr.InvalidField("user.user_name", "INVALID_NAME", fmt.Sprintf("user_name %q: %v", name, err))
	}
	return key, nil
}

// checkEmails refuses a new email address the user-name rule refuses: its
// key is how filters find it. Addresses the user already has (stored before
// the rule) are kept as they are.
func checkEmails(emails []*identityv1.Email, had []string) error {
	for i, e := range emails {
		if slices.Contains(had, e.GetValue()) {
			continue
		}
		if _, err := store.UserNameKey(e.GetValue()); err != nil {
			return apierr.InvalidField(fmt.Sprintf("user.emails[%d].value", i), "INVALID_NAME", fmt.Sprintf("email %q: %v", e.GetValue(), err))
		}
	}
	return nil
}

// userUpdated is the event of an update: a deactivation or reactivation
// when it changed whether the user is active.
func userUpdated(t changelog.TenantID, u changelog.UserID, wasActive, active bool) changelog.Event {
	switch {
	case wasActive && !active:
		return changelog.UserDeactivated{Tenant: t, User: u}
	case !wasActive && active:
		return changelog.UserReactivated{Tenant: t, User: u}
	}
	return changelog.UserUpdated{Tenant: t, User: u}
}

// DeleteUser deletes a user; its emails, memberships and role assignments go
// with it by cascading foreign keys.
func (s *UserService) DeleteUser(ctx context.Context, req *identityv1.DeleteUserRequest) (*identityv1.DeleteUserResponse, error) {
	id := req.GetUserId()
	deleted := changelog.UserDeleted{Tenant: changelog.TenantID(req.GetTenantId()), User: changelog.UserID(id)}
	rev, err := deleteOne(ctx, s.w, "user", id, deleted, func(ctx context.Context, tx *store.Tx) (int, error) {
		if err := versionIs(ctx, tx.User.Query().Where(user.ID(id)).Select(user.FieldVersion), req.GetExpectedVersion()); err != nil {
			return 0, err
		}
		if _, err := endSessions(ctx, tx, session.UserID(id)); err != nil {
			return 0, err
		}
		n, err := tx.User.Delete().Where(user.ID(id)).Exec(ctx)
		if err == nil && n > 0 {
			tx.Count(req.GetTenantId(), tenantcount.KindUser, -int64(n))
		}
		return n, err
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.DeleteUserResponse{Revision: rev}, nil
}
