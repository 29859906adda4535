package server

import (
	"context"
	"fmt"
	"slices"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/change"
	"github.com/acme/identity/ent/group"
	"github.com/acme/identity/ent/groupmembership"
	"github.com/acme/identity/ent/predicate"
	"github.com/acme/identity/ent/tenant"
	"github.com/acme/identity/ent/user"
	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// GroupService implements identityv1.GroupServiceServer.
type GroupService struct{ *Server }

var _ identityv1.GroupServiceServer = (*GroupService)(nil)

// CreateGroup creates a group with its initial members in one transaction.
func (s *GroupService) CreateGroup(ctx context.Context, req *identityv1.CreateGroupRequest) (*identityv1.CreateGroupResponse, error) {
	p := principalFrom(ctx)
	in := req.GetGroup()
	var out *ent.Group
	rev, err := s.write(ctx, p.ProjectID, func(ctx context.Context, cs *changeSet) error {
		if err := requireTenant(ctx, cs.tx.Tenant, p.ProjectID, req.GetTenantId()); err != nil {
			return err
		}
		var err error
		out, err = cs.tx.Group.Create().
			SetID(newID()).
			SetTenantID(req.GetTenantId()).
			SetDisplayName(in.GetDisplayName()).
			SetDisplayNameKey(fold(in.GetDisplayName())).
			SetExternalID(in.GetExternalId()).
			SetCreateTime(cs.now).
			SetUpdateTime(cs.now).
			SetVersion(cs.revision).
			Save(ctx)
		if ent.IsConstraintError(err) {
			return alreadyExists("group", "display_name", in.GetDisplayName())
		}
		if err != nil {
			return fmt.Errorf("create group: %w", err)
		}
		cs.add(req.GetTenantId(), change.KindGroup, change.OperationCreate, out.ID, "")
		if err := ensureRole(ctx, cs, req.GetTenantId(), out.DisplayName); err != nil {
			return err
		}
		_, err = addMembers(ctx, cs, req.GetTenantId(), out.ID, req.GetMemberUserIds())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.CreateGroupResponse{Group: groupToProto(out), Revision: rev}, nil
}

// GetGroup returns a group without its members.
func (s *GroupService) GetGroup(ctx context.Context, req *identityv1.GetGroupRequest) (*identityv1.GetGroupResponse, error) {
	g, err := s.getGroup(ctx, principalFrom(ctx).ProjectID, req.GetTenantId(), req.GetGroupId())
	if err != nil {
		return nil, err
	}
	return &identityv1.GetGroupResponse{Group: groupToProto(g)}, nil
}

func (s *GroupService) getGroup(ctx context.Context, projectID, tenantID, groupID string) (*ent.Group, error) {
	g, err := s.db.Group.Query().
		Where(group.ID(groupID), group.TenantID(tenantID), group.HasTenantWith(tenant.ProjectID(projectID))).
		Only(ctx)
	if ent.IsNotFound(err) {
		return nil, notFound("group", groupID)
	}
	if err != nil {
		return nil, fmt.Errorf("get group: %w", err)
	}
	return g, nil
}

// ListGroups pages through the groups of a tenant in id order.
func (s *GroupService) ListGroups(ctx context.Context, req *identityv1.ListGroupsRequest) (*identityv1.ListGroupsResponse, error) {
	p := principalFrom(ctx)
	pg, err := readPage(req.GetPageSize(), req.GetPageToken(), req.GetTenantId(), req.GetFilter())
	if err != nil {
		return nil, err
	}
	if err := requireTenant(ctx, s.db.Tenant, p.ProjectID, req.GetTenantId()); err != nil {
		return nil, err
	}
	where := append([]predicate.Group{group.TenantID(req.GetTenantId())}, groupFilter(req.GetFilter())...)
	if e := req.GetFilter().GetExpression(); e != nil {
		p, err := compileExpression(e, groupFilterSchema)
		if err != nil {
			return nil, err
		}
		where = append(where, predicate.Group(p))
	}
	total, err := s.db.Group.Query().Where(where...).Count(ctx)
	if err != nil {
		return nil, fmt.Errorf("count groups: %w", err)
	}
	q := s.db.Group.Query().Where(where...)
	if pg.after != "" {
		q = q.Where(group.IDGT(pg.after))
	}
	rows, err := q.Order(ent.Asc(group.FieldID)).Offset(int(req.GetSkip())).Limit(pg.size + 1).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	rows, next := trimPage(pg, rows, func(g *ent.Group) string { return g.ID })
	out := &identityv1.ListGroupsResponse{NextPageToken: next, TotalSize: int32(total)}
	for _, g := range rows {
		out.Groups = append(out.Groups, groupToProto(g))
	}
	return out, nil
}

// groupFilter translates a GroupFilter; display_name ignores case through its
// folded, indexed key.
func groupFilter(f *identityv1.GroupFilter) []predicate.Group {
	var where []predicate.Group
	add := func(p predicate.Group, ok bool) {
		if ok {
			where = append(where, p)
		}
	}
	add(stringCondition(f.GetDisplayName(),
		func(v string) predicate.Group { return group.DisplayNameKey(fold(v)) },
		func(v string) predicate.Group { return group.DisplayNameKeyHasPrefix(fold(v)) },
		func() predicate.Group { return group.DisplayNameKeyNEQ("") },
		func() predicate.Group { return group.DisplayNameKey("") }))
	add(stringCondition(f.GetExternalId(), group.ExternalID, group.ExternalIDHasPrefix,
		func() predicate.Group { return group.ExternalIDNEQ("") },
		func() predicate.Group { return group.ExternalID("") }))
	if f.GetUpdatedAfter() != nil {
		where = append(where, group.UpdateTimeGT(f.GetUpdatedAfter().AsTime()))
	}
	if f.GetMemberUserId() != "" {
		where = append(where, group.HasMembershipsWith(groupmembership.UserID(f.GetMemberUserId())))
	}
	return where
}

// UpdateGroup applies the fields named in update_mask.
func (s *GroupService) UpdateGroup(ctx context.Context, req *identityv1.UpdateGroupRequest) (*identityv1.UpdateGroupResponse, error) {
	p := principalFrom(ctx)
	in := req.GetGroup()
	paths := req.GetUpdateMask().GetPaths()
	has := func(path string) bool { return slices.Contains(paths, "*") || slices.Contains(paths, path) }
	var out *ent.Group
	rev, err := s.write(ctx, p.ProjectID, func(ctx context.Context, cs *changeSet) error {
		if err := requireGroup(ctx, cs.tx, p.ProjectID, in.GetTenantId(), in.GetId(), req.GetExpectedVersion()); err != nil {
			return err
		}
		upd := cs.tx.Group.UpdateOneID(in.GetId()).
			Where(group.TenantID(in.GetTenantId())).
			SetUpdateTime(cs.now).
			SetVersion(cs.revision)
		if has("display_name") {
			upd.SetDisplayName(in.GetDisplayName()).SetDisplayNameKey(fold(in.GetDisplayName()))
		}
		if has("external_id") {
			upd.SetExternalID(in.GetExternalId())
		}
		var err error
		out, err = upd.Save(ctx)
		switch {
		case ent.IsNotFound(err):
			return notFound("group", in.GetId())
		case ent.IsConstraintError(err):
			return alreadyExists("group", "display_name", in.GetDisplayName())
		case err != nil:
			return fmt.Errorf("update group: %w", err)
		}
		cs.add(in.GetTenantId(), change.KindGroup, change.OperationUpdate, in.GetId(), "")
		return ensureRole(ctx, cs, in.GetTenantId(), out.DisplayName)
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.UpdateGroupResponse{Group: groupToProto(out), Revision: rev}, nil
}

// DeleteGroup deletes a group; its memberships go with it by cascading
// foreign keys.
func (s *GroupService) DeleteGroup(ctx context.Context, req *identityv1.DeleteGroupRequest) (*identityv1.DeleteGroupResponse, error) {
	rev, err := s.deleteInTenant(ctx, req.GetTenantId(), change.KindGroup, req.GetGroupId(), func(ctx context.Context, tx *ent.Tx) (int, error) {
		if err := versionIs(ctx, tx.Group.Query().Where(group.ID(req.GetGroupId()), group.TenantID(req.GetTenantId())).Select(group.FieldVersion), req.GetExpectedVersion()); err != nil {
			return 0, err
		}
		return tx.Group.Delete().Where(group.ID(req.GetGroupId()), group.TenantID(req.GetTenantId())).Exec(ctx)
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.DeleteGroupResponse{Revision: rev}, nil
}

// AddGroupMembers adds users to a group with set semantics.
func (s *GroupService) AddGroupMembers(ctx context.Context, req *identityv1.AddGroupMembersRequest) (*identityv1.AddGroupMembersResponse, error) {
	p := principalFrom(ctx)
	var added int
	rev, err := s.write(ctx, p.ProjectID, func(ctx context.Context, cs *changeSet) error {
		if err := requireGroup(ctx, cs.tx, p.ProjectID, req.GetTenantId(), req.GetGroupId(), req.GetExpectedVersion()); err != nil {
			return err
		}
		var err error
		added, err = addMembers(ctx, cs, req.GetTenantId(), req.GetGroupId(), req.GetUserIds())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.AddGroupMembersResponse{AddedCount: int32(added), Revision: rev}, nil
}

// RemoveGroupMembers removes users from a group with set semantics.
func (s *GroupService) RemoveGroupMembers(ctx context.Context, req *identityv1.RemoveGroupMembersRequest) (*identityv1.RemoveGroupMembersResponse, error) {
	p := principalFrom(ctx)
	var removed []string
	rev, err := s.write(ctx, p.ProjectID, func(ctx context.Context, cs *changeSet) error {
		if err := requireGroup(ctx, cs.tx, p.ProjectID, req.GetTenantId(), req.GetGroupId(), req.GetExpectedVersion()); err != nil {
			return err
		}
		inGroup := groupmembership.And(groupmembership.GroupID(req.GetGroupId()), groupmembership.UserIDIn(req.GetUserIds()...))
		var err error
		removed, err = cs.tx.GroupMembership.Query().Where(inGroup).Select(groupmembership.FieldUserID).Strings(ctx)
		if err != nil {
			return fmt.Errorf("find members: %w", err)
		}
		if len(removed) == 0 {
			return nil
		}
		if _, err := cs.tx.GroupMembership.Delete().Where(inGroup).Exec(ctx); err != nil {
			return fmt.Errorf("remove members: %w", err)
		}
		for _, uid := range removed {
			cs.add(req.GetTenantId(), change.KindGroupMember, change.OperationRemove, req.GetGroupId(), uid)
		}
		return touchGroup(ctx, cs, req.GetGroupId())
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.RemoveGroupMembersResponse{RemovedCount: int32(len(removed)), Revision: rev}, nil
}

// SetGroupMembers makes a list the group's exact membership, writing only the
// difference. Reading the current members is O(group size), which a full
// replacement cannot avoid; the writes are O(difference).
func (s *GroupService) SetGroupMembers(ctx context.Context, req *identityv1.SetGroupMembersRequest) (*identityv1.SetGroupMembersResponse, error) {
	p := principalFrom(ctx)
	tenantID, groupID := req.GetTenantId(), req.GetGroupId()
	var added, removed int
	rev, err := s.write(ctx, p.ProjectID, func(ctx context.Context, cs *changeSet) error {
		if err := requireGroup(ctx, cs.tx, p.ProjectID, tenantID, groupID, req.GetExpectedVersion()); err != nil {
			return err
		}
		current, err := cs.tx.GroupMembership.Query().Where(groupmembership.GroupID(groupID)).
			Select(groupmembership.FieldUserID).Strings(ctx)
		if err != nil {
			return fmt.Errorf("read members: %w", err)
		}
		want, have := setOf(req.GetUserIds()), setOf(current)
		var toAdd, toRemove []string
		for _, id := range req.GetUserIds() {
			if !have[id] {
				toAdd = append(toAdd, id)
			}
		}
		for _, id := range current {
			if !want[id] {
				toRemove = append(toRemove, id)
			}
		}
		for chunk := range chunks(toAdd) {
			n, err := addMembers(ctx, cs, tenantID, groupID, chunk)
			if err != nil {
				return err
			}
			added += n
		}
		for chunk := range chunks(toRemove) {
			if _, err := cs.tx.GroupMembership.Delete().
				Where(groupmembership.GroupID(groupID), groupmembership.UserIDIn(chunk...)).Exec(ctx); err != nil {
				return fmt.Errorf("remove members: %w", err)
			}
			for _, uid := range chunk {
				cs.add(tenantID, change.KindGroupMember, change.OperationRemove, groupID, uid)
			}
			removed += len(chunk)
		}
		if removed > 0 {
			return touchGroup(ctx, cs, groupID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.SetGroupMembersResponse{AddedCount: int32(added), RemovedCount: int32(removed), Revision: rev}, nil
}

// requireGroup fails with NotFound unless the group is in the tenant and the
// tenant in the project, and with VERSION_MISMATCH unless the group is at the
// expected version (0: any).
func requireGroup(ctx context.Context, tx *ent.Tx, projectID, tenantID, groupID string, expected int64) error {
	if err := requireTenant(ctx, tx.Tenant, projectID, tenantID); err != nil {
		return err
	}
	versions, err := tx.Group.Query().Where(group.ID(groupID), group.TenantID(tenantID)).Select(group.FieldVersion).Ints(ctx)
	if err != nil {
		return fmt.Errorf("find group: %w", err)
	}
	if len(versions) == 0 {
		return notFound("group", groupID)
	}
	return checkVersion(int64(versions[0]), expected)
}

// addMembers inserts the memberships that do not exist yet. It reads and
// writes only the rows of userIDs, never the whole group, and fails with
// NotFound, before writing anything, when a user is not in the tenant.
func addMembers(ctx context.Context, cs *changeSet, tenantID, groupID string, userIDs []string) (int, error) {
	if len(userIDs) == 0 {
		return 0, nil
	}
	found, err := cs.tx.User.Query().Where(user.IDIn(userIDs...), user.TenantID(tenantID)).IDs(ctx)
	if err != nil {
		return 0, fmt.Errorf("find users: %w", err)
	}
	if missing := firstMissing(userIDs, found); missing != "" {
		return 0, notFound("user", missing)
	}
	existing, err := cs.tx.GroupMembership.Query().
		Where(groupmembership.GroupID(groupID), groupmembership.UserIDIn(userIDs...)).
		Select(groupmembership.FieldUserID).
		Strings(ctx)
	if err != nil {
		return 0, fmt.Errorf("find members: %w", err)
	}
	member := setOf(existing)
	var creates []*ent.GroupMembershipCreate
	for _, uid := range userIDs {
		if member[uid] {
			continue
		}
		creates = append(creates, cs.tx.GroupMembership.Create().
			SetTenantID(tenantID).SetGroupID(groupID).SetUserID(uid).SetCreateTime(cs.now))
		cs.add(tenantID, change.KindGroupMember, change.OperationAdd, groupID, uid)
	}
	if len(creates) == 0 {
		return 0, nil
	}
	if err := cs.tx.GroupMembership.CreateBulk(creates...).Exec(ctx); err != nil {
		return 0, fmt.Errorf("add members: %w", err)
	}
	return len(creates), touchGroup(ctx, cs, groupID)
}

// touchGroup gives a group the write's version, so its entity tag changes
// with its membership.
func touchGroup(ctx context.Context, cs *changeSet, groupID string) error {
	if err := cs.tx.Group.UpdateOneID(groupID).SetVersion(cs.revision).SetUpdateTime(cs.now).Exec(ctx); err != nil {
		return fmt.Errorf("touch group: %w", err)
	}
	return nil
}

// firstMissing returns the first of want that is not in have, or "".
func firstMissing(want, have []string) string {
	found := setOf(have)
	for _, id := range want {
		if !found[id] {
			return id
		}
	}
	return ""
}

func setOf(ids []string) map[string]bool {
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	return set
}

// ListGroupMembers pages through a group's members in user id order.
func (s *GroupService) ListGroupMembers(ctx context.Context, req *identityv1.ListGroupMembersRequest) (*identityv1.ListGroupMembersResponse, error) {
	p := principalFrom(ctx)
	pg, err := readPage(req.GetPageSize(), req.GetPageToken(), req.GetTenantId()+"/"+req.GetGroupId(), nil)
	if err != nil {
		return nil, err
	}
	if _, err := s.getGroup(ctx, p.ProjectID, req.GetTenantId(), req.GetGroupId()); err != nil {
		return nil, err
	}
	q := s.db.GroupMembership.Query().Where(groupmembership.GroupID(req.GetGroupId()))
	if pg.after != "" {
		q = q.Where(groupmembership.UserIDGT(pg.after))
	}
	rows, err := q.Order(ent.Asc(groupmembership.FieldUserID)).Limit(pg.size + 1).WithUser().All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	rows, next := trimPage(pg, rows, func(m *ent.GroupMembership) string { return m.UserID })
	out := &identityv1.ListGroupMembersResponse{NextPageToken: next}
	for _, m := range rows {
		out.Members = append(out.Members, &identityv1.GroupMember{
			UserId:      m.UserID,
			UserName:    m.Edges.User.UserName,
			DisplayName: m.Edges.User.DisplayName,
			CreateTime:  ts(m.CreateTime),
		})
	}
	return out, nil
}
