package server

import (
	"context"
	"fmt"
	"sort"

	"google.golang.org/grpc"

	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/roleindex"
)

// AuthzService implements identityv1.AuthzServiceServer from the role index.
type AuthzService struct{ *Server }

var _ identityv1.AuthzServiceServer = (*AuthzService)(nil)

// read returns a tenant's index once it holds at least atLeast and every write
// this instance committed before the call, with the revision it holds.
func (ri *roleIndex) read(ctx context.Context, projectID, tenantID string, atLeast int64) (*tenantState, int64, error) {
	p := ri.project(projectID)
	target := max(atLeast, p.committed.Load())
	if p.applied.Load() < target {
		if err := ri.waitFor(ctx, projectID, target); err != nil {
			return nil, 0, err
		}
	}
	rev := p.applied.Load()
	ts := ri.tenant(tenantID)
	if ts == nil || ts.projectID != projectID {
		return nil, 0, notFound("tenant", tenantID)
	}
	return ts, rev, nil
}

// userKey turns a UserRef into the index's lookup keys.
func userKey(ref *identityv1.UserRef) (id, nameKey string) {
	if name := ref.GetUserName(); name != "" {
		return "", fold(name)
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
	ts, rev, err := s.index.read(ctx, principalFrom(ctx).ProjectID, req.GetTenantId(), req.GetAtLeastRevision())
	if err != nil {
		return nil, err
	}
	id, nameKey := userKey(req.GetUser())
	roleKey := fold(req.GetRole())
	out := &identityv1.CheckRoleResponse{Revision: rev}
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	if !req.GetExplain() {
		out.Allowed = ts.idx.HasRole(id, nameKey, roleKey)
		return out, nil
	}
	grants := ts.idx.RoleGrants(id, nameKey, roleKey)
	out.Allowed, out.Grants = len(grants) > 0, grantsToProto(grants)
	return out, nil
}

// CheckPermission answers from memory.
func (s *AuthzService) CheckPermission(ctx context.Context, req *identityv1.CheckPermissionRequest) (*identityv1.CheckPermissionResponse, error) {
	ts, rev, err := s.index.read(ctx, principalFrom(ctx).ProjectID, req.GetTenantId(), req.GetAtLeastRevision())
	if err != nil {
		return nil, err
	}
	id, nameKey := userKey(req.GetUser())
	out := &identityv1.CheckPermissionResponse{Revision: rev}
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	out.Allowed = ts.idx.HasPermission(id, nameKey, req.GetPermission())
	if out.Allowed && req.GetExplain() {
		_, roles, _ := ts.idx.UserRoles(id, nameKey)
		for _, r := range roles {
			for _, p := range r.Role.Permissions {
				if p == req.GetPermission() {
					out.Roles = append(out.Roles, effectiveToProto(r))
					break
				}
			}
		}
	}
	return out, nil
}

// BatchCheck answers every check from one state of the index.
func (s *AuthzService) BatchCheck(ctx context.Context, req *identityv1.BatchCheckRequest) (*identityv1.BatchCheckResponse, error) {
	ts, rev, err := s.index.read(ctx, principalFrom(ctx).ProjectID, req.GetTenantId(), req.GetAtLeastRevision())
	if err != nil {
		return nil, err
	}
	out := &identityv1.BatchCheckResponse{Revision: rev, Allowed: make([]bool, len(req.GetChecks()))}
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	for i, c := range req.GetChecks() {
		id, nameKey := userKey(c.GetUser())
		if role := c.GetRole(); role != "" {
			out.Allowed[i] = ts.idx.HasRole(id, nameKey, fold(role))
		} else {
			out.Allowed[i] = ts.idx.HasPermission(id, nameKey, c.GetPermission())
		}
	}
	return out, nil
}

// ListUserRoles returns a user's effective roles with their grants.
func (s *AuthzService) ListUserRoles(ctx context.Context, req *identityv1.ListUserRolesRequest) (*identityv1.ListUserRolesResponse, error) {
	ts, rev, err := s.index.read(ctx, principalFrom(ctx).ProjectID, req.GetTenantId(), req.GetAtLeastRevision())
	if err != nil {
		return nil, err
	}
	id, nameKey := userKey(req.GetUser())
	ts.mu.RLock()
	u, roles, ok := ts.idx.UserRoles(id, nameKey)
	ts.mu.RUnlock()
	if !ok {
		return nil, notFound("user", req.GetUser().GetUserId()+req.GetUser().GetUserName())
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
	ts, rev, err := s.index.read(ctx, principalFrom(ctx).ProjectID, req.GetTenantId(), req.GetAtLeastRevision())
	if err != nil {
		return nil, err
	}
	ts.mu.RLock()
	members, ok := ts.idx.RoleMembers(req.GetRoleId(), pg.after, pg.size+1)
	ts.mu.RUnlock()
	if !ok {
		return nil, notFound("role", req.GetRoleId())
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
	ts, _, err := s.index.read(ctx, principalFrom(ctx).ProjectID, req.GetTenantId(), 0)
	if err != nil {
		return err
	}
	from := req.GetFromRevision()
	for {
		ts.mu.RLock()
		deleted, floor, notify := ts.deleted, ts.floor, ts.notify
		i := sort.Search(len(ts.batches), func(i int) bool { return ts.batches[i].revision > from })
		pending := ts.batches[i:]
		ts.mu.RUnlock()
		switch {
		case deleted:
			return notFound("tenant", req.GetTenantId())
		case from < floor:
			return failedPrecondition("REVISION_TOO_OLD", fmt.Sprintf(
				"revision %d is older than this server retains (from %d on): resync with ListUserRoles, then watch from the revision it returns",
				from, floor))
		}
		for _, b := range pending {
			msg := &identityv1.WatchRoleChangesResponse{Revision: b.revision}
			for _, c := range b.changes {
				msg.Changes = append(msg.Changes, &identityv1.RoleChange{UserId: c.UserID, RoleId: c.RoleID, RoleName: c.RoleName, Gained: c.Gained})
			}
			if err := stream.Send(msg); err != nil {
				return err
			}
			from = b.revision
		}
		if len(pending) > 0 {
			continue
		}
		select {
		case <-notify:
		case <-ctx.Done():
			return nil
		}
	}
}
