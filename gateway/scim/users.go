package scim

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/acme/identity/gateway/scim/patch"
	"github.com/acme/identity/gateway/scim/resource"
	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// scimUserMask names what a SCIM user carries: PUT and PATCH replace these
// and leave the API's custom attributes alone.
var scimUserMask = &fieldmaskpb.FieldMask{Paths: []string{
	"user_name", "external_id", "name", "display_name", "emails", "phone_numbers", "active", "title",
	"nick_name", "profile_url", "user_type", "preferred_language", "locale", "timezone", "addresses", "enterprise",
}}

// checkSchemas verifies a resource's schemas: the core schema, plus only the
// extensions this service knows.
func checkSchemas(schemas []string, core string, allowed ...string) error {
	if !slices.ContainsFunc(schemas, func(s string) bool { return strings.EqualFold(s, core) }) {
		return errorf(http.StatusBadRequest, "invalidValue", "schemas must contain %s", core)
	}
	for _, s := range schemas {
		if !strings.EqualFold(s, core) && !slices.ContainsFunc(allowed, func(a string) bool { return strings.EqualFold(s, a) }) {
			return errorf(http.StatusBadRequest, "invalidValue", "schema %s is not supported here", s)
		}
	}
	return nil
}

// resourceID reads {id}; an id that cannot exist is a 404, as for any
// unknown id.
func resourceID(r *http.Request, kind string) (string, error) {
	id := r.PathValue("id")
	if uuid.Validate(id) != nil {
		return "", errorf(http.StatusNotFound, "", "%s %q not found", kind, id)
	}
	return id, nil
}

// ifMatch reads If-Match as an expected version (0: none).
func ifMatch(r *http.Request) (int64, error) {
	v, ok := resource.ParseETag(r.Header.Get("If-Match"))
	if !ok {
		return 0, errorf(http.StatusPreconditionFailed, "", "If-Match %q is not an entity tag of this service", r.Header.Get("If-Match"))
	}
	return v, nil
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	lq, err := parseListQuery(r.URL.Query())
	if err != nil {
		return err
	}
	tenant := tenantOf(ctx)
	req := &identityv1.ListUsersRequest{TenantId: tenant, PageSize: int32(max(lq.count, 1))}
	if lq.filter != "" {
		expr, err := compileFilter(lq.filter, userWhitelist)
		if err != nil {
			return err
		}
		req.Filter = &identityv1.UserFilter{Expression: expr}
	}
	req.PageToken, req.Skip = s.pageStart(lq, tenant, "Users")
	resp, err := s.users.ListUsers(ctx, req)
	if err != nil {
		return cursorError(lq, err)
	}
	var resources []any
	if lq.count > 0 {
		for _, u := range resp.GetUsers() {
			resources = append(resources, project(resource.UserFromProto(u, s.base), lq.attributes, lq.excluded))
		}
	}
	out := s.listResponse(lq, tenant, "Users", int(resp.GetTotalSize()), resources, resp.GetNextPageToken())
	writeJSON(w, http.StatusOK, out, "")
	return nil
}

// cursorError reports a refused cursor as RFC 9865's invalidCursor.
func cursorError(lq listQuery, err error) error {
	if lq.useCursor && status.Code(err) == codes.InvalidArgument && strings.Contains(status.Convert(err).Message(), "page_token") {
		return errorf(http.StatusBadRequest, "invalidCursor", "the cursor is not one this service issued for this query")
	}
	return err
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) error {
	var u resource.User
	if _, err := readJSON(r, &u); err != nil {
		return err
	}
	if err := checkSchemas(u.Schemas, resource.UserSchema, resource.EnterpriseSchema); err != nil {
		return err
	}
	if u.UserName == "" {
		return errorf(http.StatusBadRequest, "invalidValue", "userName is required")
	}
	resp, err := s.users.CreateUser(r.Context(), &identityv1.CreateUserRequest{TenantId: tenantOf(r.Context()), User: resource.UserToProto(&u)})
	if err != nil {
		return err
	}
	out := resource.UserFromProto(resp.GetUser(), s.base)
	w.Header().Set("Location", out.Meta.Location)
	writeJSON(w, http.StatusCreated, out, out.Meta.Version)
	return nil
}

func (s *Server) fetchUser(ctx context.Context, id string) (*identityv1.User, error) {
	resp, err := s.users.GetUser(ctx, &identityv1.GetUserRequest{TenantId: tenantOf(ctx), UserId: id})
	return resp.GetUser(), err
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) error {
	id, err := resourceID(r, "user")
	if err != nil {
		return err
	}
	u, err := s.fetchUser(r.Context(), id)
	if err != nil {
		return err
	}
	out := resource.UserFromProto(u, s.base)
	writeJSON(w, http.StatusOK, project(out, splitList(r.URL.Query().Get("attributes")), splitList(r.URL.Query().Get("excludedAttributes"))), out.Meta.Version)
	return nil
}

func (s *Server) replaceUser(w http.ResponseWriter, r *http.Request) error {
	id, err := resourceID(r, "user")
	if err != nil {
		return err
	}
	expected, err := ifMatch(r)
	if err != nil {
		return err
	}
	var u resource.User
	if _, err := readJSON(r, &u); err != nil {
		return err
	}
	if err := checkSchemas(u.Schemas, resource.UserSchema, resource.EnterpriseSchema); err != nil {
		return err
	}
	if u.UserName == "" {
		return errorf(http.StatusBadRequest, "invalidValue", "userName is required")
	}
	return s.saveUser(w, r.Context(), id, &u, expected)
}

func (s *Server) saveUser(w http.ResponseWriter, ctx context.Context, id string, u *resource.User, expected int64) error {
	in := resource.UserToProto(u)
	in.TenantId, in.Id = tenantOf(ctx), id
	resp, err := s.users.UpdateUser(ctx, &identityv1.UpdateUserRequest{User: in, UpdateMask: scimUserMask, ExpectedVersion: expected})
	if err != nil {
		return err
	}
	out := resource.UserFromProto(resp.GetUser(), s.base)
	writeJSON(w, http.StatusOK, out, out.Meta.Version)
	return nil
}

// patchUser applies a PATCH to the current user and writes it back guarded
// by the version it read, retrying when another write came in between
// (unless the client's If-Match pinned the version).
func (s *Server) patchUser(w http.ResponseWriter, r *http.Request) error {
	id, err := resourceID(r, "user")
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
	ctx := r.Context()
	for attempt := 0; ; attempt++ {
		cur, err := s.fetchUser(ctx, id)
		if err != nil {
			return err
		}
		if expected != 0 && cur.GetVersion() != expected {
			return errorf(http.StatusPreconditionFailed, "", "the user is at version %s, not %s", resource.ETag(cur.GetVersion()), resource.ETag(expected))
		}
		u := resource.UserFromProto(cur, s.base)
		if err := patch.ApplyUser(u, ops); err != nil {
			return err
		}
		err = s.saveUser(w, ctx, id, u, cur.GetVersion())
		if st := toSCIMError(err); err != nil && st.Status == http.StatusPreconditionFailed && expected == 0 && attempt < 3 {
			continue
		}
		return err
	}
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) error {
	id, err := resourceID(r, "user")
	if err != nil {
		return err
	}
	expected, err := ifMatch(r)
	if err != nil {
		return err
	}
	if _, err := s.users.DeleteUser(r.Context(), &identityv1.DeleteUserRequest{TenantId: tenantOf(r.Context()), UserId: id, ExpectedVersion: expected}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
