package service

import (
	"context"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/apierr"
	"github.com/acme/identity/server/authn"
	"github.com/acme/identity/server/roleindex"
	"github.com/acme/identity/server/store"
)

// Revisions tells how far this instance's readers of the change log are.
type Revisions interface {
	// Await waits until they hold revision atLeast of the project, every
	// write this instance committed before the call and every write of the
	// tenant ("": of any tenant) it answered at commit before the call, and
	// returns the revision they hold.
	Await(ctx context.Context, projectID, tenantID string, atLeast int64) (int64, error)
}

// AuthzService implements identityv1.AuthzServiceServer from the role index.
type AuthzService struct {
	index     *roleindex.Index
	revisions Revisions
	// draining closes when the server shuts down: watches end at once.
	draining <-chan struct{}
	// heartbeat is how long a watch stays silent before a heartbeat.
	heartbeat time.Duration
}

var _ identityv1.AuthzServiceServer = (*AuthzService)(nil)

// NewAuthzService returns the role-check service over index, which follows
// the change log as far as revisions says. Watches end when draining closes
// and send a heartbeat after each quiet heartbeat interval.
func NewAuthzService(index *roleindex.Index, revisions Revisions, draining <-chan struct{}, heartbeat time.Duration) *AuthzService {
	return &AuthzService{index: index, revisions: revisions, draining: draining, heartbeat: heartbeat}
}

// read returns a tenant's index once it holds at least atLeast and every
// write this instance committed before the call, with the revision it holds.
func (s *AuthzService) read(ctx context.Context, tenantID string, atLeast int64) (*roleindex.TenantState, int64, error) {
	return indexAt(ctx, s.index, s.revisions, authn.From(ctx).ProjectID, tenantID, atLeast)
}

// indexAt returns a tenant's index once it holds at least atLeast of its
// project and every write this instance committed before the call, with the
// revision it holds; NotFound for a tenant it does not hold.
func indexAt(ctx context.Context, index *roleindex.Index, revisions Revisions, projectID, tenantID string, atLeast int64) (*roleindex.TenantState, int64, error) {
	rev, err := revisions.Await(ctx, projectID, tenantID, atLeast)
	if err != nil {
		return nil, 0, err
	}
	ts, err := index.Tenant(projectID, tenantID)
	if err != nil {
		return nil, 0, err
	}
	return ts, rev, nil
}

// userKey turns a UserRef into the index's lookup keys.
func userKey(ref *identityv1.UserRef) (id, nameKey string) {
	if name := ref.GetUserName(); name != "" {
		return "", store.UserNameLookup(name)
	}
	return ref.GetUserId(), ""
}

func grantsToProto(gs []roleindex.Grant) []*identityv1.Grant {
	out := make([]*identityv1.Grant, 0, len(gs))
	for _, g := range gs {
		if g.GroupID == "" {
			out = append(out, &identityv1.Grant{Source: &identityv1.Grant_Direct{Direct: true}})
		} else {
			out = append(out, &identityv1.Grant{Source: &identityv1.Grant_GroupId{GroupId: g.GroupID}})
		}
	}
	return out
}

func effectiveToProto(r roleindex.EffectiveRole) *identityv1.EffectiveRole {
	return &identityv1.EffectiveRole{
		RoleId: r.Role.ID, RoleName: r.Role.Name, Permissions: r.Role.Permissions, Grants: grantsToProto(r.Grants),
	}
}

// CheckRole answers from memory.
func (s *AuthzService) CheckRole(ctx context.Context, req *identityv1.CheckRoleRequest) (*identityv1.CheckRoleResponse, error) {
	ts, rev, err := s.read(ctx, req.GetTenantId(), req.GetAtLeastRevision())
	if err != nil {
		return nil, err
	}
	id, nameKey := userKey(req.GetUser())
	roleKey := store.NameLookup(req.GetRole())
	out := &identityv1.CheckRoleResponse{Revision: rev}
	ts.Read(func(t *roleindex.Tenant) {
		if !req.GetExplain() {
			out.Allowed = t.HasRole(id, nameKey, roleKey)
			return
		}
		grants := t.RoleGrants(id, nameKey, roleKey)
		out.Allowed, out.Grants = len(grants) > 0, grantsToProto(grants)
		if !out.Allowed {
			out.Denial = denial(t, id, nameKey, roleKey)
		}
	})
	return out, nil
}

// denial says why a user (by id or name key) does not hold a role (by name
// key; "" for a permission check).
func denial(t *roleindex.Tenant, id, nameKey, roleKey string) identityv1.Denial {
	u, ok := t.LookupUser(id, nameKey)
	switch {
	case !ok:
		return identityv1.Denial_DENIAL_USER_NOT_FOUND
	case !u.Active:
		return identityv1.Denial_DENIAL_USER_INACTIVE
	case roleKey != "" && !t.HasRoleNamed(roleKey):
		return identityv1.Denial_DENIAL_ROLE_NOT_FOUND
	}
	return identityv1.Denial_DENIAL_NOT_GRANTED
}

// CheckPermission answers from memory.
func (s *AuthzService) CheckPermission(ctx context.Context, req *identityv1.CheckPermissionRequest) (*identityv1.CheckPermissionResponse, error) {
	ts, rev, err := s.read(ctx, req.GetTenantId(), req.GetAtLeastRevision())
	if err != nil {
		return nil, err
	}
	id, nameKey := userKey(req.GetUser())
	out := &identityv1.CheckPermissionResponse{Revision: rev}
	ts.Read(func(t *roleindex.Tenant) {
		out.Allowed = t.HasPermission(id, nameKey, req.GetPermission())
		if !out.Allowed && req.GetExplain() {
			out.Denial = denial(t, id, nameKey, "")
		}
		if out.Allowed && req.GetExplain() {
			_, roles, _ := t.UserRoles(id, nameKey)
			for _, r := range roles {
				if slices.Contains(r.Role.Permissions, req.GetPermission()) {
					out.Roles = append(out.Roles, effectiveToProto(r))
				}
			}
		}
	})
	return out, nil
}

// BatchCheck answers every check from one state of the index.
func (s *AuthzService) BatchCheck(ctx context.Context, req *identityv1.BatchCheckRequest) (*identityv1.BatchCheckResponse, error) {
	ts, rev, err := s.read(ctx, req.GetTenantId(), req.GetAtLeastRevision())
	if err != nil {
		return nil, err
	}
	if cols := req.GetColumns(); cols != nil {
		return batchColumns(ts, rev, cols)
	}
	out := &identityv1.BatchCheckResponse{Revision: rev, Allowed: make([]bool, len(req.GetChecks()))}
	ts.Read(func(t *roleindex.Tenant) {
		for i, c := range req.GetChecks() {
			id, nameKey := userKey(c.GetUser())
			if role := c.GetRole(); role != "" {
				out.Allowed[i] = t.HasRole(id, nameKey, store.NameLookup(role))
			} else {
				out.Allowed[i] = t.HasPermission(id, nameKey, c.GetPermission())
			}
		}
	})
	return out, nil
}

// checkColumns checks each item of the lists in one pass. The rules are not
// buf.validate item rules, which run one CEL program per item (and a regular
// expression per UUID): for a batch of 100 that cost more than the rest of
// the call (see CheckColumns).
func checkColumns(c *identityv1.CheckColumns) error {
	bad := func(list string, i int, what string) error {
		return &apierr.Error{Code: codes.InvalidArgument, Reason: "INVALID_ARGUMENT",
			Field: fmt.Sprintf("columns.%s[%d]", list, i), Message: fmt.Sprintf("columns.%s[%d] %s", list, i, what)}
	}
	for i, id := range c.GetUserIds() {
		if len(id) != 36 || uuid.Validate(id) != nil {
			return bad("user_ids", i, "is not a UUID")
		}
	}
	for _, l := range []struct {
		name  string
		items []string
		max   int
	}{{"user_names", c.GetUserNames(), 256}, {"roles", c.GetRoles(), 256}, {"permissions", c.GetPermissions(), 128}} {
		for i, v := range l.items {
			if v == "" || (len(v) > l.max && utf8.RuneCountInString(v) > l.max) {
				return bad(l.name, i, fmt.Sprintf("must hold 1 to %d characters", l.max))
			}
		}
	}
	return nil
}

// batchColumns answers a batch sent as parallel lists (validation has
// checked that one user list and one question list of one length came).
func batchColumns(ts *roleindex.TenantState, rev int64, c *identityv1.CheckColumns) (*identityv1.BatchCheckResponse, error) {
	if err := checkColumns(c); err != nil {
		return nil, err
	}
	n := len(c.GetUserIds()) + len(c.GetUserNames())
	out := &identityv1.BatchCheckResponse{Revision: rev, Allowed: make([]bool, n)}
	ts.Read(func(t *roleindex.Tenant) {
		for i := range n {
			var id, nameKey string
			if ids := c.GetUserIds(); len(ids) > 0 {
				id = ids[i]
			} else {
				nameKey = store.UserNameLookup(c.GetUserNames()[i])
			}
			if roles := c.GetRoles(); len(roles) > 0 {
				out.Allowed[i] = t.HasRole(id, nameKey, store.NameLookup(roles[i]))
			} else {
				out.Allowed[i] = t.HasPermission(id, nameKey, c.GetPermissions()[i])
			}
		}
	})
	return out, nil
}

// ListUserRoles returns a user's effective roles with their grants.
func (s *AuthzService) ListUserRoles(ctx context.Context, req *identityv1.ListUserRolesRequest) (*identityv1.ListUserRolesResponse, error) {
	ts, rev, err := s.read(ctx, req.GetTenantId(), req.GetAtLeastRevision())
	if err != nil {
		return nil, err
	}
	id, nameKey := userKey(req.GetUser())
	var (
		u     roleindex.User
		roles []roleindex.EffectiveRole
		ok    bool
	)
	ts.Read(func(t *roleindex.Tenant) { u, roles, ok = t.UserRoles(id, nameKey) })
	if !ok {
		return nil, apierr.NotFound("user", req.GetUser().GetUserId()+req.GetUser().GetUserName())
	}
	out := &identityv1.ListUserRolesResponse{UserId: u.ID, Active: u.Active, Revision: rev}
	for _, r := range roles {
		out.Roles = append(out.Roles, effectiveToProto(r))
	}
	return out, nil
}

// ListRoleMembers pages through a role's holders in user id order.
func (s *AuthzService) ListRoleMembers(ctx context.Context, req *identityv1.ListRoleMembersRequest) (*identityv1.ListRoleMembersResponse, error) {
	pg, err := readPage(req.GetPageSize(), req.GetPageToken(), req.GetTenantId()+"/"+req.GetRoleId(), nil)
	if err != nil {
		return nil, err
	}
	ts, rev, err := s.read(ctx, req.GetTenantId(), req.GetAtLeastRevision())
	if err != nil {
		return nil, err
	}
	var (
		members []roleindex.RoleMember
		ok      bool
	)
	ts.Read(func(t *roleindex.Tenant) { members, ok = t.RoleMembers(req.GetRoleId(), pg.after, pg.size+1) })
	if !ok {
		return nil, apierr.NotFound("role", req.GetRoleId())
	}
	members, next := trimPage(pg, members, func(m roleindex.RoleMember) string { return m.User.ID })
	out := &identityv1.ListRoleMembersResponse{NextPageToken: next, Revision: rev}
	for _, m := range members {
		out.Members = append(out.Members, &identityv1.RoleMember{UserId: m.User.ID, UserName: m.User.UserName, Grants: grantsToProto(m.Grants)})
	}
	return out, nil
}

// WatchRoleChanges replays the retained changes after from_revision, then
// follows new ones, one message per revision.
func (s *AuthzService) WatchRoleChanges(req *identityv1.WatchRoleChangesRequest, stream grpc.ServerStreamingServer[identityv1.WatchRoleChangesResponse]) error {
	ctx := stream.Context()
	ts, _, err := s.read(ctx, req.GetTenantId(), 0)
	if err != nil {
		return err
	}
	from := req.GetFromRevision()
	for first := true; ; first = false {
		pending, floor, deleted, notify := ts.Since(from)
		switch {
		case deleted:
			return apierr.NotFound("tenant", req.GetTenantId())
		case from < floor:
			return apierr.FailedPrecondition("REVISION_TOO_OLD", fmt.Sprintf(
				"revision %d is older than this server retains (from %d on): resync with ListUserRoles, then watch from the revision it returns",
				from, floor))
		}
		for _, b := range pending {
			msg := &identityv1.WatchRoleChangesResponse{Revision: b.Revision}
			for _, c := range b.Changes {
				if c.SessionID != "" {
					msg.RevokedSessions = append(msg.RevokedSessions, &identityv1.SessionRevocation{SessionId: c.SessionID, UserId: c.UserID})
					continue
				}
				msg.Changes = append(msg.Changes, &identityv1.RoleChange{UserId: c.UserID, RoleId: c.RoleID, RoleName: c.RoleName, Gained: c.Gained})
			}
			if err := stream.Send(msg); err != nil {
				return err
			}
			from = b.Revision
		}
		if len(pending) > 0 {
			continue
		}
		if first {
			// an answer at once: the stream is open (a REST client sees
			// its headers now, not at the first change)
			if err := stream.Send(&identityv1.WatchRoleChangesResponse{Revision: from, Heartbeat: true}); err != nil {
				return err
			}
		}
		quiet := time.NewTimer(s.heartbeat)
		select {
		case <-notify:
		case <-quiet.C:
			if err := stream.Send(&identityv1.WatchRoleChangesResponse{Revision: from, Heartbeat: true}); err != nil {
				return err
			}
		case <-s.draining:
			quiet.Stop()
			return apierr.ShuttingDown(fmt.Sprintf(
				"the server is shutting down: reconnect and watch from_revision=%d (the last revision received)", from))
		case <-ctx.Done():
			quiet.Stop()
			return nil
		}
		quiet.Stop()
	}
}
