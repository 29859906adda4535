package service

import (
	"context"
	"fmt"
	"slices"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/group"
	"github.com/acme/identity/ent/groupmembership"
	"github.com/acme/identity/ent/predicate"
	"github.com/acme/identity/ent/tenantcount"
	"github.com/acme/identity/ent/user"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/apierr"
	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/filter"
	"github.com/acme/identity/server/store"
)

// GroupService implements identityv1.GroupServiceServer.
type GroupService struct {
	db *ent.Client
	w  *store.Writer
}

var _ identityv1.GroupServiceServer = (*GroupService)(nil)

// NewGroupService returns the group service over db and w.
func NewGroupService(db *ent.Client, w *store.Writer) *GroupService {
	return &GroupService{db: db, w: w}
}

// CreateGroup creates a group with its initial members in one transaction.
func (s *GroupService) CreateGroup(ctx context.Context, req *identityv1.CreateGroupRequest) (*identityv1.CreateGroupResponse, error) {
	in := req.GetGroup()
	key, err := nameKey("group.display_name", in.GetDisplayName())
	if err != nil {
		return nil, err
	}
	var out *ent.Group
	rev, err := s.w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		var err error
		out, err = tx.Group.Create().
			SetID(store.NewID()).
			SetTenantID(req.GetTenantId()).
			SetDisplayName(in.GetDisplayName()).
			SetDisplayNameKey(key).
			SetExternalID(in.GetExternalId()).
			SetCreateTime(tx.Now).
			SetUpdateTime(tx.Now).
			SetVersion(1).
			Save(ctx)
		if ent.IsConstraintError(err) {
			return apierr.AlreadyExists("group", "display_name", in.GetDisplayName())
		}
		if err != nil {
			return fmt.Errorf("create group: %w", err)
		}
		tx.Count(req.GetTenantId(), tenantcount.KindGroup, 1)
		t := changelog.TenantID(req.GetTenantId())
		tx.Record(changelog.GroupCreated{Tenant: t, Group: changelog.GroupID(out.ID)})
		if err := ensureRole(ctx, tx, t, out.ID, out.DisplayName); err != nil {
			return err
		}
		_, err = addChunked(ctx, tx, members(t, out.ID), req.GetMemberUserIds())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.CreateGroupResponse{Group: groupToProto(out), Revision: rev}, nil
}

// GetGroup returns a group without its members.
func (s *GroupService) GetGroup(ctx context.Context, req *identityv1.GetGroupRequest) (*identityv1.GetGroupResponse, error) {
	g, err := s.getGroup(ctx, req.GetGroupId())
	if err != nil {
		return nil, err
	}
	return &identityv1.GetGroupResponse{Group: groupToProto(g)}, nil
}

// getGroup reads a group of the request's tenant.
func (s *GroupService) getGroup(ctx context.Context, groupID string) (*ent.Group, error) {
	return only(ctx, s.db.Group.Query().Where(group.ID(groupID)), "group", groupID)
}

// ListGroups pages through the groups of a tenant in id order, or in
// order_by's.
func (s *GroupService) ListGroups(ctx context.Context, req *identityv1.ListGroupsRequest) (*identityv1.ListGroupsResponse, error) {
	f := req.GetFilter()
	pg, preds, err := startTenantList(ctx, s.db, req, f, req.GetOrderBy(), filter.Groups, filter.GroupConditions(f), f.GetExpression())
	if err != nil {
		return nil, err
	}
	pg.exists = func(ctx context.Context, id string) (bool, error) {
		return s.db.Group.Query().Where(group.ID(id)).Exist(ctx)
	}
	q := s.db.Group.Query().Where(where[predicate.Group](preds)...)
	rows, next, total, err := list(ctx, pg, q, group.FieldID, req.GetSkip(), func(g *ent.Group) string { return g.ID }, len(preds) > 0)
	if err != nil {
		return nil, fmt.Errorf("groups: %w", err)
	}
	if len(preds) == 0 {
		if total, err = tenantTotal(ctx, s.db, tenantcount.KindGroup); err != nil {
			return nil, err
		}
	}
	out := &identityv1.ListGroupsResponse{NextPageToken: next, TotalSize: total}
	for _, g := range rows {
		out.Groups = append(out.Groups, groupToProto(g))
	}
	return out, nil
}

// UpdateGroup applies the fields named in update_mask.
func (s *GroupService) UpdateGroup(ctx context.Context, req *identityv1.UpdateGroupRequest) (*identityv1.UpdateGroupResponse, error) {
	in := req.GetGroup()
	has := masked(req.GetUpdateMask().GetPaths())
	var out *ent.Group
	rev, err := s.w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		if err := requireGroup(ctx, tx, in.GetId(), req.GetExpectedVersion()); err != nil {
			return err
		}
		upd := tx.Group.UpdateOneID(in.GetId()).SetUpdateTime(tx.Now).AddVersion(1)
		cur, err := tx.Group.Query().Where(group.ID(in.GetId())).Select(group.FieldDisplayName).String(ctx)
		if err != nil {
			return fmt.Errorf("read group: %w", err)
		}
		if has("display_name") {
			// Checked when it changes: a group named before the name rule
			// can still be updated.
			if in.GetDisplayName() != cur {
				key, err := nameKey("group.display_name", in.GetDisplayName())
				if err != nil {
					return err
				}
				upd.SetDisplayName(in.GetDisplayName()).SetDisplayNameKey(key)
			}
		}
		if has("external_id") {
			upd.SetExternalID(in.GetExternalId())
		}
		out, err = upd.Save(ctx)
		switch {
		case ent.IsNotFound(err):
			return apierr.NotFound("group", in.GetId())
		case ent.IsConstraintError(err):
			return apierr.AlreadyExists("group", "display_name", in.GetDisplayName())
		case err != nil:
			return fmt.Errorf("update group: %w", err)
		}
		t := changelog.TenantID(in.GetTenantId())
		tx.Record(changelog.GroupUpdated{Tenant: t, Group: changelog.GroupID(in.GetId())})
		return groupRenamed(ctx, tx, t, out.ID, cur, out.DisplayName)
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.UpdateGroupResponse{Group: groupToProto(out), Revision: rev}, nil
}

// DeleteGroup deletes a group; its memberships go with it by cascading
// foreign keys.
func (s *GroupService) DeleteGroup(ctx context.Context, req *identityv1.DeleteGroupRequest) (*identityv1.DeleteGroupResponse, error) {
	id := req.GetGroupId()
	deleted := changelog.GroupDeleted{Tenant: changelog.TenantID(req.GetTenantId()), Group: changelog.GroupID(id)}
	rev, err := deleteOne(ctx, s.w, "group", id, deleted, func(ctx context.Context, tx *store.Tx) (int, error) {
		if err := versionIs(ctx, tx.Group.Query().Where(group.ID(id)).Select(group.FieldVersion), req.GetExpectedVersion()); err != nil {
			return 0, err
		}
		names, err := tx.Group.Query().Where(group.ID(id)).Select(group.FieldDisplayName).Strings(ctx)
		if err != nil {
			return 0, fmt.Errorf("read group: %w", err)
		}
		for _, name := range names {
			if err := groupDeleted(ctx, tx, changelog.TenantID(req.GetTenantId()), id, name); err != nil {
				return 0, err
			}
		}
		n, err := tx.Group.Delete().Where(group.ID(id)).Exec(ctx)
		if err == nil && n > 0 {
			tx.Count(req.GetTenantId(), tenantcount.KindGroup, -int64(n))
		}
		return n, err
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.DeleteGroupResponse{Revision: rev}, nil
}

// members are a group's memberships as links from the group to users.
func members(tenantID changelog.TenantID, groupID string) links {
	g := changelog.GroupID(groupID)
	return links{
		kind: "user",
		exist: func(ctx context.Context, tx *store.Tx, ids []string) ([]string, error) {
			return tx.User.Query().Where(user.IDIn(ids...)).IDs(ctx)
		},
		linked: func(ctx context.Context, tx *store.Tx, ids []string) ([]string, error) {
			return tx.GroupMembership.Query().Where(groupmembership.GroupID(groupID), groupmembership.UserIDIn(ids...)).
				Select(groupmembership.FieldUserID).Strings(ctx)
		},
		insert: func(ctx context.Context, tx *store.Tx, ids []string) error {
			creates := make([]*ent.GroupMembershipCreate, len(ids))
			for i, id := range ids {
				creates[i] = tx.GroupMembership.Create().
					SetTenantID(string(tenantID)).SetGroupID(groupID).SetUserID(id).SetCreateTime(tx.Now)
			}
			return tx.GroupMembership.CreateBulk(creates...).Exec(ctx)
		},
		unlink: func(ctx context.Context, tx *store.Tx, ids []string) error {
			_, err := tx.GroupMembership.Delete().Where(groupmembership.GroupID(groupID), groupmembership.UserIDIn(ids...)).Exec(ctx)
			return err
		},
		added: func(id string) changelog.Event {
			return changelog.MemberAdded{Tenant: tenantID, Group: g, User: changelog.UserID(id)}
		},
		removed: func(id string) changelog.Event {
			return changelog.MemberRemoved{Tenant: tenantID, Group: g, User: changelog.UserID(id)}
		},
	}
}

// changeMembers runs change on a group's members, guarded by the group's
// existence and expected version, and gives the group the write's version
// when the membership changed, so its entity tag changes with it.
func (s *GroupService) changeMembers(ctx context.Context, tenantID, groupID string, expected int64,
	change func(ctx context.Context, tx *store.Tx, m links) (changed bool, err error)) (int64, error) {
	return s.w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		if err := requireGroup(ctx, tx, groupID, expected); err != nil {
			return err
		}
		changed, err := change(ctx, tx, members(changelog.TenantID(tenantID), groupID))
		if err != nil || !changed {
			return err
		}
		return touchGroup(ctx, tx, groupID)
	})
}

// AddGroupMembers adds users to a group with set semantics.
func (s *GroupService) AddGroupMembers(ctx context.Context, req *identityv1.AddGroupMembersRequest) (*identityv1.AddGroupMembersResponse, error) {
	var added int
	rev, err := s.changeMembers(ctx, req.GetTenantId(), req.GetGroupId(), req.GetExpectedVersion(),
		func(ctx context.Context, tx *store.Tx, m links) (bool, error) {
			var err error
			added, err = m.add(ctx, tx, req.GetUserIds())
			return added > 0, err
		})
	if err != nil {
		return nil, err
	}
	return &identityv1.AddGroupMembersResponse{AddedCount: int32(added), Revision: rev}, nil
}

// RemoveGroupMembers removes users from a group with set semantics.
func (s *GroupService) RemoveGroupMembers(ctx context.Context, req *identityv1.RemoveGroupMembersRequest) (*identityv1.RemoveGroupMembersResponse, error) {
	var removed []string
	rev, err := s.changeMembers(ctx, req.GetTenantId(), req.GetGroupId(), req.GetExpectedVersion(),
		func(ctx context.Context, tx *store.Tx, m links) (bool, error) {
			var err error
			removed, err = m.remove(ctx, tx, req.GetUserIds())
			return len(removed) > 0, err
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
	var added, removed int
	rev, err := s.changeMembers(ctx, req.GetTenantId(), req.GetGroupId(), req.GetExpectedVersion(),
		func(ctx context.Context, tx *store.Tx, m links) (bool, error) {
			var err error
			added, removed, err = setMembers(ctx, tx, m, req.GetGroupId(), req.GetUserIds())
			return added+removed > 0, err
		})
	if err != nil {
		return nil, err
	}
	return &identityv1.SetGroupMembersResponse{AddedCount: int32(added), RemovedCount: int32(removed), Revision: rev}, nil
}

// setMembers makes ids a group's exact membership, writing only the
// difference, and returns how many members it added and removed. Reading the
// current members is O(group size), which a full replacement cannot avoid;
// the writes are O(difference).
func setMembers(ctx context.Context, tx *store.Tx, m links, groupID string, ids []string) (added, removed int, err error) {
	current, err := tx.GroupMembership.Query().Where(groupmembership.GroupID(groupID)).
		Select(groupmembership.FieldUserID).Strings(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("read members: %w", err)
	}
	want, have := setOf(ids), setOf(current)
	toAdd := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return have[id] })
	toRemove := slices.DeleteFunc(current, func(id string) bool { return want[id] })
	if added, err = addChunked(ctx, tx, m, toAdd); err != nil {
		return 0, 0, err
	}
	removed, err = removeChunked(ctx, tx, m, toRemove)
	return added, removed, err
}

// requireGroup fails with NotFound unless the group is in the request's
// tenant, and with VERSION_MISMATCH unless it is at the expected version (0:
// any).
func requireGroup(ctx context.Context, tx *store.Tx, groupID string, expected int64) error {
	return requireVersion(ctx, tx.Group.Query().Where(group.ID(groupID)).Select(group.FieldVersion), "group", groupID, expected)
}

// touchGroup gives a group the write's version, so its entity tag changes
// with its membership.
func touchGroup(ctx context.Context, tx *store.Tx, groupID string) error {
	if err := tx.Group.UpdateOneID(groupID).AddVersion(1).SetUpdateTime(tx.Now).Exec(ctx); err != nil {
		return fmt.Errorf("touch group: %w", err)
	}
	return nil
}

// ListGroupMembers pages through a group's members in user id order.
func (s *GroupService) ListGroupMembers(ctx context.Context, req *identityv1.ListGroupMembersRequest) (*identityv1.ListGroupMembersResponse, error) {
	pg, err := readPage(req.GetPageSize(), req.GetPageToken(), req.GetTenantId()+"/"+req.GetGroupId(), nil)
	if err != nil {
		return nil, err
	}
	if _, err := s.getGroup(ctx, req.GetGroupId()); err != nil {
		return nil, err
	}
	q := s.db.GroupMembership.Query().Where(groupmembership.GroupID(req.GetGroupId())).WithUser()
	rows, next, _, err := list(ctx, pg, q, groupmembership.FieldUserID, 0, func(m *ent.GroupMembership) string { return m.UserID }, false)
	if err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
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
