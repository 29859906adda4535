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

// members reads a group's members, page by page: only when the response
// returns them (excludedAttributes=members reads none).
func (s *Server) members(ctx context.Context, groupID string) ([]*identityv1.GroupMember, error) {
	var out []*identityv1.GroupMember
	token := ""
	for {
		resp, err := s.groups.ListGroupMembers(ctx, &identityv1.ListGroupMembersRequest{
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

func (s *Server) renderGroup(ctx context.Context, g *identityv1.Group, attributes, excluded []string) (any, string, error) {
	var members []*identityv1.GroupMember
	if wants(attributes, excluded, "members") {
		var err error
		if members, err = s.members(ctx, g.GetId()); err != nil {
			return nil, "", err
		}
	}
	out := resource.GroupFromProto(g, members, s.base)
	return project(out, attributes, excluded), out.Meta.Version, nil
}

func (s *Server) listGroups(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	lq, err := parseListQuery(r.URL.Query())
	if err != nil {
		return err
	}
	tenant := tenantOf(ctx)
	req := &identityv1.ListGroupsRequest{TenantId: tenant, PageSize: int32(max(lq.count, 1))}
	if lq.filter != "" {
		expr, err := compileFilter(lq.filter, groupWhitelist)
		if err != nil {
			return err
		}
		req.Filter = &identityv1.GroupFilter{Expression: expr}
	}
	req.PageToken, req.Skip = s.pageStart(lq, tenant, "Groups")
	resp, err := s.groups.ListGroups(ctx, req)
	if err != nil {
		return cursorError(lq, err)
	}
	var resources []any
	if lq.count > 0 {
		for _, g := range resp.GetGroups() {
			v, _, err := s.renderGroup(ctx, g, lq.attributes, lq.excluded)
			if err != nil {
				return err
			}
			resources = append(resources, v)
		}
	}
	out := s.listResponse(lq, tenant, "Groups", int(resp.GetTotalSize()), resources, resp.GetNextPageToken())
	writeJSON(w, http.StatusOK, out, "")
	return nil
}

func (s *Server) createGroup(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var g resource.Group
	if _, err := readJSON(r, &g); err != nil {
		return err
	}
	if err := checkSchemas(g.Schemas, resource.GroupSchema, resource.MicrosoftGroupSchema); err != nil {
		return err
	}
	if g.DisplayName == "" {
		return errorf(http.StatusBadRequest, "invalidValue", "displayName is required")
	}
	ids := resource.MemberIDs(g.Members)
	req := &identityv1.CreateGroupRequest{TenantId: tenantOf(ctx), Group: &identityv1.Group{DisplayName: g.DisplayName, ExternalId: g.ExternalID}}
	if len(ids) <= 1000 {
		req.MemberUserIds = ids
	}
	resp, err := s.groups.CreateGroup(ctx, req)
	if err != nil {
		return err
	}
	if len(ids) > 1000 {
		if _, err := s.groups.SetGroupMembers(ctx, &identityv1.SetGroupMembersRequest{TenantId: tenantOf(ctx), GroupId: resp.GetGroup().GetId(), UserIds: ids}); err != nil {
			return err
		}
	}
	return s.writeGroup(w, ctx, resp.GetGroup().GetId(), http.StatusCreated)
}

// writeGroup reads a group back with its members and writes it.
func (s *Server) writeGroup(w http.ResponseWriter, ctx context.Context, id string, code int) error {
	resp, err := s.groups.GetGroup(ctx, &identityv1.GetGroupRequest{TenantId: tenantOf(ctx), GroupId: id})
	if err != nil {
		return err
	}
	v, etag, err := s.renderGroup(ctx, resp.GetGroup(), nil, nil)
	if err != nil {
		return err
	}
	if code == http.StatusCreated {
		w.Header().Set("Location", s.base+"/Groups/"+id)
	}
	writeJSON(w, code, v, etag)
	return nil
}

func (s *Server) getGroup(w http.ResponseWriter, r *http.Request) error {
	id, err := resourceID(r, "group")
	if err != nil {
		return err
	}
	ctx := r.Context()
	resp, err := s.groups.GetGroup(ctx, &identityv1.GetGroupRequest{TenantId: tenantOf(ctx), GroupId: id})
	if err != nil {
		return err
	}
	q := r.URL.Query()
	v, etag, err := s.renderGroup(ctx, resp.GetGroup(), splitList(q.Get("attributes")), splitList(q.Get("excludedAttributes")))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v, etag)
	return nil
}

func (s *Server) replaceGroup(w http.ResponseWriter, r *http.Request) error {
	id, err := resourceID(r, "group")
	if err != nil {
		return err
	}
	expected, err := ifMatch(r)
	if err != nil {
		return err
	}
	var g resource.Group
	if _, err := readJSON(r, &g); err != nil {
		return err
	}
	if err := checkSchemas(g.Schemas, resource.GroupSchema, resource.MicrosoftGroupSchema); err != nil {
		return err
	}
	if g.DisplayName == "" {
		return errorf(http.StatusBadRequest, "invalidValue", "displayName is required")
	}
	ctx := r.Context()
	if _, err := s.groups.UpdateGroup(ctx, &identityv1.UpdateGroupRequest{
		Group:           &identityv1.Group{TenantId: tenantOf(ctx), Id: id, DisplayName: g.DisplayName, ExternalId: g.ExternalID},
		UpdateMask:      &fieldmaskpb.FieldMask{Paths: []string{"display_name", "external_id"}},
		ExpectedVersion: expected,
	}); err != nil {
		return err
	}
	if _, err := s.groups.SetGroupMembers(ctx, &identityv1.SetGroupMembersRequest{TenantId: tenantOf(ctx), GroupId: id, UserIds: resource.MemberIDs(g.Members)}); err != nil {
		return err
	}
	return s.writeGroup(w, ctx, id, http.StatusOK)
}

// patchGroup runs a PATCH as renames and membership deltas, each an atomic
// write of the core; concurrent PATCHes never lose a member because none
// rewrites the list it read. It answers 204, as Okta and Entra ID accept.
func (s *Server) patchGroup(w http.ResponseWriter, r *http.Request) error {
	id, err := resourceID(r, "group")
	if err != nil {
		return err
	}
	expected, err := ifMatch(r)
	if err != nil {
		return err
	}
	body, err := readJSON(r, nil)
	if err != nil {
		return err
	}
	ops, err := patch.Decode(body)
	if err != nil {
		return err
	}
	actions, err := patch.PlanGroup(ops)
	if err != nil {
		return err
	}
	ctx := r.Context()
	tenant := tenantOf(ctx)
	if len(actions) == 0 {
		// Nothing to change; the group must still exist and match If-Match.
		resp, err := s.groups.GetGroup(ctx, &identityv1.GetGroupRequest{TenantId: tenant, GroupId: id})
		if err != nil {
			return err
		}
		if expected != 0 && resp.GetGroup().GetVersion() != expected {
			return errorf(http.StatusPreconditionFailed, "", "the group is at version %s", resource.ETag(resp.GetGroup().GetVersion()))
		}
	}
	for i, a := range actions {
		version := expected
		if i > 0 {
			version = 0 // the first write moved the version; If-Match guarded the request's start
		}
		if err := s.runGroupAction(ctx, tenant, id, a, version); err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) runGroupAction(ctx context.Context, tenant, id string, a patch.GroupAction, version int64) error {
	var err error
	switch a.Kind {
	case patch.AddMembers:
		for part := range slices.Chunk(a.IDs, 1000) {
			_, err = s.groups.AddGroupMembers(ctx, &identityv1.AddGroupMembersRequest{TenantId: tenant, GroupId: id, UserIds: part, ExpectedVersion: version})
			if err != nil {
				return err
			}
			version = 0
		}
	case patch.RemoveMembers:
		for part := range slices.Chunk(a.IDs, 1000) {
			_, err = s.groups.RemoveGroupMembers(ctx, &identityv1.RemoveGroupMembersRequest{TenantId: tenant, GroupId: id, UserIds: part, ExpectedVersion: version})
			if err != nil {
				return err
			}
			version = 0
		}
	case patch.SetMembers:
		_, err = s.groups.SetGroupMembers(ctx, &identityv1.SetGroupMembersRequest{TenantId: tenant, GroupId: id, UserIds: a.IDs, ExpectedVersion: version})
	case patch.Rename, patch.SetExternalID:
		g := &identityv1.Group{TenantId: tenant, Id: id, DisplayName: a.Value}
		path := "display_name"
		if a.Kind == patch.SetExternalID {
			g = &identityv1.Group{TenantId: tenant, Id: id, ExternalId: a.Value}
			path = "external_id"
		}
		_, err = s.groups.UpdateGroup(ctx, &identityv1.UpdateGroupRequest{Group: g, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{path}}, ExpectedVersion: version})
	}
	return err
}

func (s *Server) deleteGroup(w http.ResponseWriter, r *http.Request) error {
	id, err := resourceID(r, "group")
	if err != nil {
		return err
	}
	expected, err := ifMatch(r)
	if err != nil {
		return err
	}
	if _, err := s.groups.DeleteGroup(r.Context(), &identityv1.DeleteGroupRequest{TenantId: tenantOf(r.Context()), GroupId: id, ExpectedVersion: expected}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
