package service

import (
	"context"
	"fmt"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/group"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/apierr"
	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/store"
)

// ModifyGroup applies a list of changes to a group in one write: one
// transaction, one revision, one version check, all or nothing.
func (s *GroupService) ModifyGroup(ctx context.Context, req *identityv1.ModifyGroupRequest) (*identityv1.ModifyGroupResponse, error) {
	t, groupID := changelog.TenantID(req.GetTenantId()), req.GetGroupId()
	var added, removed int
	var out *ent.Group
	rev, err := s.w.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		if err := requireGroup(ctx, tx, groupID, req.GetExpectedVersion()); err != nil {
			return err
		}
		m := members(t, groupID)
		for _, c := range req.GetChanges() {
			n, gone, err := applyGroupChange(ctx, tx, t, groupID, m, c)
			if err != nil {
				return err
			}
			added, removed = added+n, removed+gone
		}
		// The group takes the write's version when anything changed, so its
		// entity tag changes with its membership too.
		if tx.Changed() {
			if err := touchGroup(ctx, tx, groupID); err != nil {
				return err
			}
		}
		var err error
		out, err = tx.Group.Get(ctx, groupID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.ModifyGroupResponse{Group: groupToProto(out), AddedCount: int32(added), RemovedCount: int32(removed), Revision: rev}, nil
}

// applyGroupChange applies one change and returns the members it added and
// removed.
func applyGroupChange(ctx context.Context, tx *store.Tx, t changelog.TenantID, groupID string, m links, c *identityv1.GroupChange) (added, removed int, err error) {
	switch x := c.GetChange().(type) {
	case *identityv1.GroupChange_DisplayName:
		cur, err := tx.Group.Query().Where(group.ID(groupID)).Select(group.FieldDisplayName).String(ctx)
		if err != nil {
			return 0, 0, fmt.Errorf("read group: %w", err)
		}
		if x.DisplayName == cur {
			return 0, 0, nil // a SCIM PUT repeats the name: nothing to check or change
		}
		key, err := nameKey("changes.display_name", x.DisplayName)
		if err != nil {
			return 0, 0, err
		}
		err = tx.Group.UpdateOneID(groupID).SetDisplayName(x.DisplayName).SetDisplayNameKey(key).Exec(ctx)
		if ent.IsConstraintError(err) {
			return 0, 0, apierr.AlreadyExists("group", "display_name", x.DisplayName)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("rename group: %w", err)
		}
		tx.Record(changelog.GroupUpdated{Tenant: t, Group: changelog.GroupID(groupID)})
		return 0, 0, groupRenamed(ctx, tx, t, groupID, cur, x.DisplayName)
	case *identityv1.GroupChange_ExternalId:
		if err := tx.Group.UpdateOneID(groupID).SetExternalID(x.ExternalId).Exec(ctx); err != nil {
			return 0, 0, fmt.Errorf("set external id: %w", err)
		}
		tx.Record(changelog.GroupUpdated{Tenant: t, Group: changelog.GroupID(groupID)})
		return 0, 0, nil
	case *identityv1.GroupChange_AddMembers:
		added, err = addChunked(ctx, tx, m, x.AddMembers.GetUserIds())
		return added, 0, err
	case *identityv1.GroupChange_RemoveMembers:
		removed, err = removeChunked(ctx, tx, m, x.RemoveMembers.GetUserIds())
		return 0, removed, err
	case *identityv1.GroupChange_SetMembers:
		return setMembers(ctx, tx, m, groupID, x.SetMembers.GetUserIds())
	}
	return 0, 0, apierr.InvalidArgument("INVALID_CHANGE", "a group change names no change")
}
