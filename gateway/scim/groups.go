package scim

import (
	"context"
	"net/http"
	"slices"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

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
	req := &identityv1.ListGroupsRequest{TenantId: c.tenant, PageSize: c.pageSize, PageToken: c.token, Skip: c.skip}
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

// maxIDsPerCall is the most user ids one membership call of the core takes
// (CreateGroup's initial members, AddGroupMembers, RemoveGroupMembers); a
// larger push is split, or written as a membership replacement.
const maxIDsPerCall = 1000

func (t groups) create(ctx context.Context, g *resource.Group) (*resource.Group, error) {
	ids := resource.MemberIDs(g.Members)
	req := &identityv1.CreateGroupRequest{TenantId: tenantOf(ctx), Group: &identityv1.Group{DisplayName: g.DisplayName, ExternalId: g.ExternalID}}
	if len(ids) <= maxIDsPerCall {
		req.MemberUserIds = ids
	}
	resp, err := t.api.CreateGroup(ctx, req)
	if err != nil {
		return nil, err
	}
	id := resp.GetGroup().GetId()
	if len(ids) > maxIDsPerCall {
		if _, err := t.api.SetGroupMembers(ctx, &identityv1.SetGroupMembersRequest{TenantId: tenantOf(ctx), GroupId: id, UserIds: ids}); err != nil {
			return nil, err
		}
	}
	return t.get(ctx, id, all)
}

func (t groups) replace(ctx context.Context, id string, g *resource.Group, expected int64) (*resource.Group, error) {
	if _, err := t.api.UpdateGroup(ctx, &identityv1.UpdateGroupRequest{
		Group:           &identityv1.Group{TenantId: tenantOf(ctx), Id: id, DisplayName: g.DisplayName, ExternalId: g.ExternalID},
		UpdateMask:      &fieldmaskpb.FieldMask{Paths: []string{"display_name", "external_id"}},
		ExpectedVersion: expected,
	}); err != nil {
		return nil, err
	}
	if _, err := t.api.SetGroupMembers(ctx, &identityv1.SetGroupMembersRequest{TenantId: tenantOf(ctx), GroupId: id, UserIds: resource.MemberIDs(g.Members)}); err != nil {
		return nil, err
	}
	return t.get(ctx, id, all)
}

// patch runs a PATCH as renames and membership deltas, each an atomic write
// of the core; concurrent PATCHes never lose a member because none rewrites
// the list it read. It answers 204, as Okta and Entra ID accept.
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
	}
	for i, a := range actions {
		version := expected
		if i > 0 {
			version = 0 // the first write moved the version; If-Match guarded the request's start
		}
		if err := t.run(ctx, id, a, version); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

func (t groups) run(ctx context.Context, id string, a patch.GroupAction, version int64) error {
	tenant := tenantOf(ctx)
	var err error
	switch a.Kind {
	case patch.AddMembers:
		for part := range slices.Chunk(a.IDs, maxIDsPerCall) {
			if _, err = t.api.AddGroupMembers(ctx, &identityv1.AddGroupMembersRequest{TenantId: tenant, GroupId: id, UserIds: part, ExpectedVersion: version}); err != nil {
				return err
			}
			version = 0
		}
	case patch.RemoveMembers:
		for part := range slices.Chunk(a.IDs, maxIDsPerCall) {
			if _, err = t.api.RemoveGroupMembers(ctx, &identityv1.RemoveGroupMembersRequest{TenantId: tenant, GroupId: id, UserIds: part, ExpectedVersion: version}); err != nil {
				return err
			}
			version = 0
		}
	case patch.SetMembers:
		_, err = t.api.SetGroupMembers(ctx, &identityv1.SetGroupMembersRequest{TenantId: tenant, GroupId: id, UserIds: a.IDs, ExpectedVersion: version})
	case patch.Rename, patch.SetExternalID:
		g := &identityv1.Group{TenantId: tenant, Id: id, DisplayName: a.Value}
		path := "display_name"
		if a.Kind == patch.SetExternalID {
			g = &identityv1.Group{TenantId: tenant, Id: id, ExternalId: a.Value}
			path = "external_id"
		}
		_, err = t.api.UpdateGroup(ctx, &identityv1.UpdateGroupRequest{Group: g, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{path}}, ExpectedVersion: version})
	}
	return err
}

func (t groups) delete(ctx context.Context, id string, expected int64) error {
	_, err := t.api.DeleteGroup(ctx, &identityv1.DeleteGroupRequest{TenantId: tenantOf(ctx), GroupId: id, ExpectedVersion: expected})
	return err
}
