package scim

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/acme/identity/gateway/scim/patch"
	"github.com/acme/identity/gateway/scim/resource"
	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// resourceType is what one SCIM resource type adds to the generic handler:
// its names and filterable attributes, the checks of what clients send, and
// how its resources are read and written through the core. The handler does
// the rest, once for every type: routes, ids, If-Match, bodies, paging,
// projection, ETags and status codes. A third resource type is a
// resourceType, not a copy of a handler.
type resourceType[T any] interface {
	// endpoint is the path segment ("Users"); noun names one in messages.
	endpoint() string
	noun() string
	whitelist() whitelist
	// check refuses a resource a client sent (schemas, required attributes).
	check(in *T) error
	// list reads a page; want says which attributes the answer projects.
	list(ctx context.Context, req listCall, want func(attr string) bool) (page listed[T], err error)
	get(ctx context.Context, id string, want func(attr string) bool) (*T, error)
	create(ctx context.Context, in *T) (*T, error)
	replace(ctx context.Context, id string, in *T, expected int64) (*T, error)
	// patch applies operations; a nil resource answers 204 No Content.
	patch(ctx context.Context, id string, ops []patch.Operation, expected int64) (*T, error)
	delete(ctx context.Context, id string, expected int64) error
}

// listCall is one page request to the core.
type listCall struct {
	tenant   string
	filter   *identityv1.FilterExpression
	order    *identityv1.SortOrder
	pageSize int32
	token    string
	skip     int32
}

// listed is one page from the core.
type listed[T any] struct {
	items []*T
	total int
	next  string
}

// handler serves one resource type.
type handler[T any, P interface {
	*T
	resource.Resource
}] struct {
	s  *Server
	rt resourceType[T]
}

// routes registers the resource type's endpoints.
func (h handler[T, P]) routes(route func(pattern string, fn func(http.ResponseWriter, *http.Request) error)) {
	base := Prefix + "/" + h.rt.endpoint()
	route("GET "+base, h.list)
	route("POST "+base, h.create)
	route("GET "+base+"/{id}", h.get)
	route("PUT "+base+"/{id}", h.replace)
	route("PATCH "+base+"/{id}", h.patch)
	route("DELETE "+base+"/{id}", h.delete)
}

// byDefault wants what an answer without attributes or excludedAttributes
// returns.
func byDefault(attr string) bool { return wants(nil, nil, attr) }

func (h handler[T, P]) list(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	lq, err := parseListQuery(r.URL.Query())
	if err != nil {
		return err
	}
	call := listCall{tenant: tenantOf(ctx), pageSize: int32(max(lq.count, 1))}
	if lq.filter != "" {
		if call.filter, err = compileFilter(lq.filter, h.rt.whitelist()); err != nil {
			return err
		}
	}
	if lq.sortBy != "" {
		if call.order, err = compileSort(lq.sortBy, lq.descending, h.rt.whitelist()); err != nil {
			return err
		}
	}
	if !lq.useCursor && lq.startIndex-1 > maxSkip {
		return h.pastSkip(w, r, lq, call)
	}
	call.token, call.skip = h.s.pageStart(lq, call.tenant, h.rt.endpoint())
	want := func(attr string) bool { return lq.count > 0 && wants(lq.attributes, lq.excluded, attr) }
	page, err := h.rt.list(ctx, call, want)
	if err != nil && !lq.useCursor && call.token != "" && reason(status.Convert(err)) == "PAGE_ANCHOR_DELETED" {
		// index paging continued a sorted list from a remembered token
		// whose last row is gone: count to startIndex instead
		call.token, call.skip = "", int32(min(lq.startIndex-1, maxSkip))
		page, err = h.rt.list(ctx, call, want)
	}
	if err != nil {
		return cursorError(lq, err)
	}
	var resources []any
	if lq.count > 0 {
		for _, item := range page.items {
			resources = append(resources, project(item, lq.attributes, lq.excluded))
		}
	}
	writeJSON(w, http.StatusOK, h.s.listResponse(lq, call.tenant, h.rt.endpoint(), page.total, resources, page.next), "")
	return nil
}

// pastSkip answers a startIndex beyond the rows the core skips: an empty page
// with the right totalResults (RFC 7644 3.4.2.4), unless the tenant really
// has that many resources, which only cursor paging reaches.
func (h handler[T, P]) pastSkip(w http.ResponseWriter, r *http.Request, lq listQuery, call listCall) error {
	call.pageSize = 1
	page, err := h.rt.list(r.Context(), call, func(string) bool { return false })
	if err != nil {
		return err
	}
	if int64(page.total) >= lq.startIndex {
		return errorf(http.StatusBadRequest, "invalidValue",
			"startIndex %d is beyond the %d resources index paging reaches: page with cursor", lq.startIndex, maxSkip+1)
	}
	writeJSON(w, http.StatusOK, h.s.listResponse(lq, call.tenant, h.rt.endpoint(), page.total, nil, ""), "")
	return nil
}

// cursorError reports a refused cursor as RFC 9865's invalidCursor.
func cursorError(lq listQuery, err error) error {
	if lq.useCursor && status.Code(err) == codes.InvalidArgument && strings.Contains(status.Convert(err).Message(), "page_token") {
		return errorf(http.StatusBadRequest, "invalidCursor", "the cursor is not one this service issued for this query")
	}
	return err
}

func (h handler[T, P]) get(w http.ResponseWriter, r *http.Request) error {
	id, err := resourceID(r, h.rt.noun())
	if err != nil {
		return err
	}
	q := r.URL.Query()
	attrs, excluded := splitList(q.Get("attributes")), splitList(q.Get("excludedAttributes"))
	out, err := h.rt.get(r.Context(), id, func(attr string) bool { return wants(attrs, excluded, attr) })
	if err != nil {
		return err
	}
	version := P(out).GetMeta().Version
	if etagMatches(r.Header.Get("If-None-Match"), version) {
		// RFC 7644 3.14: the client's copy is current.
		w.Header().Set("ETag", version)
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	writeJSON(w, http.StatusOK, project(out, attrs, excluded), version)
	return nil
}

// etagMatches says whether an If-None-Match header names etag: "*", or one
// of its comma-separated tags, compared weakly (RFC 9110 13.1.2).
func etagMatches(header, etag string) bool {
	weak := func(s string) string { return strings.TrimPrefix(strings.TrimSpace(s), "W/") }
	for _, t := range strings.Split(header, ",") {
		if strings.TrimSpace(t) == "*" || (weak(t) != "" && weak(t) == weak(etag)) {
			return true
		}
	}
	return false
}

// decode reads and checks the resource a client sent: only declared
// attributes (declared.go), then the resource type's own checks.
func (h handler[T, P]) decode(r *http.Request) (*T, error) {
	in := new(T)
	body, err := readJSON(r, in)
	if err != nil {
		return nil, err
	}
	wl := h.rt.whitelist()
	var extensions []string
	if wl.extension != "" {
		extensions = append(extensions, wl.extension)
	}
	if err := checkDeclared(body, wl.schema, extensions...); err != nil {
		return nil, err
	}
	return in, h.rt.check(in)
}

func (h handler[T, P]) create(w http.ResponseWriter, r *http.Request) error {
	in, err := h.decode(r)
	if err != nil {
		return err
	}
	out, err := h.rt.create(r.Context(), in)
	if err != nil {
		return err
	}
	meta := P(out).GetMeta()
	w.Header().Set("Location", meta.Location)
	writeJSON(w, http.StatusCreated, projected(r, out), meta.Version)
	return nil
}

// projected applies a request's attributes and excludedAttributes to the
// resource its write answers (RFC 7644 3.9 applies them to POST, PUT and
// PATCH as to GET).
func projected(r *http.Request, out any) any {
	q := r.URL.Query()
	return project(out, splitList(q.Get("attributes")), splitList(q.Get("excludedAttributes")))
}

func (h handler[T, P]) replace(w http.ResponseWriter, r *http.Request) error {
	id, expected, err := h.target(r)
	if err != nil {
		return err
	}
	in, err := h.decode(r)
	if err != nil {
		return err
	}
	out, err := h.rt.replace(r.Context(), id, in, expected)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, projected(r, out), P(out).GetMeta().Version)
	return nil
}

func (h handler[T, P]) patch(w http.ResponseWriter, r *http.Request) error {
	id, expected, err := h.target(r)
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
	out, err := h.rt.patch(r.Context(), id, ops, expected)
	switch {
	case err != nil:
		return err
	case out == nil:
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusOK, projected(r, out), P(out).GetMeta().Version)
	}
	return nil
}

func (h handler[T, P]) delete(w http.ResponseWriter, r *http.Request) error {
	id, expected, err := h.target(r)
	if err != nil {
		return err
	}
	if err := h.rt.delete(r.Context(), id, expected); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// target reads the {id} and If-Match of a request that changes a resource.
func (h handler[T, P]) target(r *http.Request) (id string, expected int64, err error) {
	if id, err = resourceID(r, h.rt.noun()); err != nil {
		return "", 0, err
	}
	expected, err = ifMatch(r)
	return id, expected, err
}

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
