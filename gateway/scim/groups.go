package scim

import (
	"context"
	"net/http"

	"github.com/acme/identity/gateway/scim/patch"
	"github.com/acme/identity/gateway/scim/resource"
	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// groups is the Groups resource type over the core's GroupService.
type groups struct {
	api  identityv1.GroupServiceClient
	base string // the public SCIM base URL
}

var _ resourceType[resource.Group] = groups{}

func (groups) endpoint() string     { return "Groups" }
func (groups) noun() string         { return "group" }
func (groups) whitelist() whitelist { return groupWhitelist }

func (groups) check(g *resource.Group) error {
	if err := checkSchemas(g.Schemas, resource.GroupSchema, resource.MicrosoftGroupSchema); err != nil {
		return err
	}
	if g.DisplayName == "" {
		return errorf(http.StatusBadRequest, "invalidValue", "displayName is required")
	}
	return nil
}

// members reads a group's members, page by page.
func (t groups) members(ctx context.Context, groupID string) ([]*identityv1.GroupMember, error) {
	var out []*identityv1.GroupMember
	token := ""
	for {
		resp, err := t.api.ListGroupMembers(ctx, &identityv1.ListGroupMembersRequest{
			TenantId: tenantOf(ctx), GroupId: groupID, PageSize: 1000, PageToken: token,
		})
		if err != nil {
			return nil, err
		}
		out = append(out, resp.GetMembers()...)
		if token = resp.GetNextPageToken(); token == "" {
			return out, nil
		}
	}
}

// render maps a group onto SCIM, reading its members only when the answer
// returns them (excludedAttributes=members reads none).
func (t groups) render(ctx context.Context, g *identityv1.Group, want func(string) bool) (*resource.Group, error) {
	var members []*identityv1.GroupMember
	if want("members") {
		var err error
		if members, err = t.members(ctx, g.GetId()); err != nil {
			return nil, err
		}
	}
	return resource.GroupFromProto(g, members, t.base), nil
}

func (t groups) list(ctx context.Context, c listCall, want func(string) bool) (listed[resource.Group], error) {
	req := &identityv1.ListGroupsRequest{TenantId: c.tenant, PageSize: c.pageSize, PageToken: c.token, Skip: c.skip, OrderBy: c.order}
	if c.filter != nil {
		req.Filter = &identityv1.GroupFilter{Expression: c.filter}
	}
	resp, err := t.api.ListGroups(ctx, req)
	if err != nil {
		return listed[resource.Group]{}, err
	}
	page := listed[resource.Group]{total: int(resp.GetTotalSize()), next: resp.GetNextPageToken()}
	for _, g := range resp.GetGroups() {
		out, err := t.render(ctx, g, want)
		if err != nil {
			return listed[resource.Group]{}, err
		}
		page.items = append(page.items, out)
	}
	return page, nil
}

func (t groups) get(ctx context.Context, id string, want func(string) bool) (*resource.Group, error) {
	resp, err := t.api.GetGroup(ctx, &identityv1.GetGroupRequest{TenantId: tenantOf(ctx), GroupId: id})
	if err != nil {
		return nil, err
	}
	return t.render(ctx, resp.GetGroup(), want)
}

func (t groups) create(ctx context.Context, g *resource.Group) (*resource.Group, error) {
	resp, err := t.api.CreateGroup(ctx, &identityv1.CreateGroupRequest{
		TenantId:      tenantOf(ctx),
		Group:         &identityv1.Group{DisplayName: g.DisplayName, ExternalId: g.ExternalID},
		MemberUserIds: resource.MemberIDs(g.Members),
	})
	if err != nil {
		return nil, err
	}
	return t.get(ctx, resp.GetGroup().GetId(), byDefault)
}

// replace writes the whole group as one ModifyGroup: name, external id and
// exact membership, all or nothing (RFC 7644 3.5.1).
func (t groups) replace(ctx context.Context, id string, g *resource.Group, expected int64) (*resource.Group, error) {
	if err := t.modify(ctx, id, expected, []*identityv1.GroupChange{
		{Change: &identityv1.GroupChange_DisplayName{DisplayName: g.DisplayName}},
		{Change: &identityv1.GroupChange_ExternalId{ExternalId: g.ExternalID}},
		{Change: &identityv1.GroupChange_SetMembers{SetMembers: &identityv1.GroupMemberIds{UserIds: resource.MemberIDs(g.Members)}}},
	}); err != nil {
		return nil, err
	}
	return t.get(ctx, id, byDefault)
}

// patch runs a PATCH as one ModifyGroup: renames and membership deltas in
// one transaction, all or nothing (RFC 7644 3.5.2), guarded by If-Match.
// Concurrent PATCHes never lose a member because none rewrites the list it
// read. It answers 204, as Okta and Entra ID accept.
func (t groups) patch(ctx context.Context, id string, ops []patch.Operation, expected int64) (*resource.Group, error) {
	actions, err := patch.PlanGroup(ops)
	if err != nil {
		return nil, err
	}
	if len(actions) == 0 {
		// Nothing to change; the group must still exist and match If-Match.
		resp, err := t.api.GetGroup(ctx, &identityv1.GetGroupRequest{TenantId: tenantOf(ctx), GroupId: id})
		if err != nil {
			return nil, err
		}
		if expected != 0 && resp.GetGroup().GetVersion() != expected {
			return nil, errorf(http.StatusPreconditionFailed, "", "the group is at version %s", resource.ETag(resp.GetGroup().GetVersion()))
		}
		return nil, nil
	}
	changes := make([]*identityv1.GroupChange, 0, len(actions))
	for _, a := range actions {
		changes = append(changes, groupChange(a))
	}
	return nil, t.modify(ctx, id, expected, changes)
}

func (t groups) modify(ctx context.Context, id string, expected int64, changes []*identityv1.GroupChange) error {
	_, err := t.api.ModifyGroup(ctx, &identityv1.ModifyGroupRequest{TenantId: tenantOf(ctx), GroupId: id, Changes: changes, ExpectedVersion: expected})
	return err
}

// groupChange is the core's form of a planned PATCH action.
func groupChange(a patch.GroupAction) *identityv1.GroupChange {
	ids := &identityv1.GroupMemberIds{UserIds: a.IDs}
	switch a.Kind {
	case patch.AddMembers:
		return &identityv1.GroupChange{Change: &identityv1.GroupChange_AddMembers{AddMembers: ids}}
	case patch.RemoveMembers:
		return &identityv1.GroupChange{Change: &identityv1.GroupChange_RemoveMembers{RemoveMembers: ids}}
	case patch.SetMembers:
		return &identityv1.GroupChange{Change: &identityv1.GroupChange_SetMembers{SetMembers: ids}}
	case patch.SetExternalID:
		return &identityv1.GroupChange{Change: &identityv1.GroupChange_ExternalId{ExternalId: a.Value}}
	}
	// patch.Rename, the only other kind.
	return &identityv1.GroupChange{Change: &identityv1.GroupChange_DisplayName{DisplayName: a.Value}}
}

func (t groups) delete(ctx context.Context, id string, expected int64) error {
	_, err := t.api.DeleteGroup(ctx, &identityv1.DeleteGroupRequest{TenantId: tenantOf(ctx), GroupId: id, ExpectedVersion: expected})
	return err
}
