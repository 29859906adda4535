package service

import (
	"context"
	"fmt"
	"slices"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/predicate"
	"github.com/acme/identity/ent/refreshtoken"
	"github.com/acme/identity/ent/session"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/filter"
	"github.com/acme/identity/server/store"
)

// SessionService implements identityv1.SessionServiceServer.
type SessionService struct {
	db *ent.Client
	w  *store.Writer
}

var _ identityv1.SessionServiceServer = (*SessionService)(nil)

// NewSessionService returns the session service over db and w.
func NewSessionService(db *ent.Client, w *store.Writer) *SessionService {
	return &SessionService{db: db, w: w}
}

// ListSessions pages through a tenant's sessions in id (creation) order.
func (s *SessionService) ListSessions(ctx context.Context, req *identityv1.ListSessionsRequest) (*identityv1.ListSessionsResponse, error) {
	// The token is bound to the user filter by passing it as the filter.
	pg, _, err := startTenantList(ctx, s.db, req, &identityv1.ListSessionsRequest{UserId: req.GetUserId()}, nil, filter.Schema{})
	if err != nil {
		return nil, err
	}
	q := s.db.Session.Query().Where(session.TenantID(req.GetTenantId()))
	if req.GetUserId() != "" {
		q.Where(session.UserID(req.GetUserId()))
	}
	rows, next, _, err := list(ctx, pg, q, session.FieldID, 0, func(r *ent.Session) string { return r.ID }, false)
	if err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	out := &identityv1.ListSessionsResponse{NextPageToken: next}
	for _, r := range rows {
		out.Sessions = append(out.Sessions, &identityv1.Session{Id: r.ID, TenantId: r.TenantID, UserId: r.UserID,
			ClientId: r.ClientID, CreateTime: ts(r.CreateTime), RevokeTime: optionalTS(r.RevokeTime)})
	}
	return out, nil
}

// RevokeSessions ends one session, a user's or the tenant's.
func (s *SessionService) RevokeSessions(ctx context.Context, req *identityv1.RevokeSessionsRequest) (*identityv1.RevokeSessionsResponse, error) {
	which := []predicate.Session{session.TenantID(req.GetTenantId())}
	if req.GetSessionId() != "" {
		which = append(which, session.ID(req.GetSessionId()))
	}
	if req.GetUserId() != "" {
		which = append(which, session.UserID(req.GetUserId()))
	}
	n, rev, err := revokeSessions(ctx, s.w, which...)
	if err != nil {
		return nil, err
	}
	return &identityv1.RevokeSessionsResponse{Revoked: int32(n), Revision: rev}, nil
}

// revokeSessions ends, in a write of its own, the sessions which selects.
func revokeSessions(ctx context.Context, w *store.Writer, which ...predicate.Session) (n int, rev int64, err error) {
	rev, err = w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		n, err = endSessions(ctx, tx, which...)
		return err
	})
	return n, rev, err
}

// endSessions ends the open sessions which selects, in the write tx: their
// refresh tokens stop working, and each end is recorded (the watch carries
// it to policy engines).
func endSessions(ctx context.Context, tx *store.Tx, which ...predicate.Session) (int, error) {
	open, err := tx.Session.Query().Where(append(which, session.RevokeTimeIsNil())...).
		Select(session.FieldID, session.FieldTenantID, session.FieldUserID).All(ctx)
	if err != nil {
		return 0, fmt.Errorf("read sessions: %w", err)
	}
	// In chunks, so that a tenant's thousands of sessions stay within the
	// databases' bound on parameters.
	for chunk := range slices.Chunk(open, 1000) {
		ids := make([]string, len(chunk))
		for i, o := range chunk {
			ids[i] = o.ID
			tx.Record(changelog.SessionRevoked{Tenant: changelog.TenantID(o.TenantID),
				Session: changelog.SessionID(o.ID), User: changelog.UserID(o.UserID)})
		}
		if err := tx.Session.Update().Where(session.IDIn(ids...)).SetRevokeTime(tx.Now).Exec(ctx); err != nil {
			return 0, fmt.Errorf("end sessions: %w", err)
		}
		if _, err := tx.RefreshToken.Delete().Where(refreshtoken.SessionIDIn(ids...)).Exec(ctx); err != nil {
			return 0, fmt.Errorf("drop refresh tokens: %w", err)
		}
	}
	return len(open), nil
}
