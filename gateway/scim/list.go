package scim

import (
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/acme/identity/gateway/scim/resource"
)

const (
	defaultCount = 100
	// maxCount is the most resources a page holds (filter.maxResults).
	maxCount = 1000
	// maxSkip is the most rows the core skips to reach a startIndex (its
	// list requests' skip bound). A startIndex beyond it is past the end of
	// any tenant of fewer resources.
	maxSkip = 10_000_000
)

// listQuery holds the query parameters of a list request (RFC 7644 section
// 3.4.2) and of cursor paging (RFC 9865).
type listQuery struct {
	filter     string
	startIndex int64
	count      int
	cursor     string
	useCursor  bool
	attributes []string
	excluded   []string
	// sortBy and descending are RFC 7644 3.4.2.3's sortBy and sortOrder.
	sortBy     string
	descending bool
}

func parseListQuery(q url.Values) (listQuery, error) {
	lq := listQuery{filter: q.Get("filter"), startIndex: 1, count: defaultCount}
	if v := q.Get("startIndex"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		var numErr *strconv.NumError
		switch {
		case errors.As(err, &numErr) && numErr.Err == strconv.ErrRange && strings.HasPrefix(v, "-"):
			n = 1
		case errors.As(err, &numErr) && numErr.Err == strconv.ErrRange:
			n = math.MaxInt64 // an integer past any end
		case err != nil:
			return lq, errorf(http.StatusBadRequest, "invalidValue", "startIndex must be an integer, not %q", v)
		}
		lq.startIndex = max(n, 1) // RFC 7644: a value below 1 is read as 1
	}
	if v := q.Get("count"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		var numErr *strconv.NumError
		switch {
		case errors.As(err, &numErr) && numErr.Err == strconv.ErrRange && strings.HasPrefix(v, "-"):
			n = 0
		case errors.As(err, &numErr) && numErr.Err == strconv.ErrRange:
			n = maxCount // RFC 7644: a larger count is capped at what the server serves
		case err != nil:
			return lq, errorf(http.StatusBadRequest, "invalidValue", "count must be an integer, not %q", v)
		}
		lq.count = int(min(max(n, 0), maxCount))
	}
	if _, ok := q["cursor"]; ok {
		if q.Has("startIndex") {
			return lq, errorf(http.StatusBadRequest, "invalidValue", "use either cursor or startIndex, not both")
		}
		lq.useCursor, lq.cursor = true, q.Get("cursor")
	}
	lq.sortBy = q.Get("sortBy")
	switch o := q.Get("sortOrder"); {
	case o == "" || strings.EqualFold(o, "ascending"):
	case strings.EqualFold(o, "descending"):
		lq.descending = true
	default:
		return lq, errorf(http.StatusBadRequest, "invalidValue", "sortOrder is ascending or descending, not %q", o)
	}
	lq.attributes = splitList(q.Get("attributes"))
	lq.excluded = splitList(q.Get("excludedAttributes"))
	return lq, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// pageCache remembers, for index paging, the API page token that continues
// where a served page ended: a client walking startIndex=1, 101, 201, ... (as
// Okta imports) then reads every page by keyset, at the cost of the first,
// instead of skipping ever more rows. Unknown positions fall back to an
// offset.
type pageCache = expiring[string, string]

const (
	pageCacheTTL  = 10 * time.Minute
	pageCacheSize = 10000
)

func newPageCache() *pageCache { return newExpiring[string, string](pageCacheTTL, pageCacheSize) }

func pageKey(tenant, kind string, lq listQuery, startIndex int64) string {
	return tenant + "\x00" + kind + "\x00" + lq.filter + "\x00" + lq.sortBy + "\x00" + strconv.FormatBool(lq.descending) +
		"\x00" + strconv.FormatInt(startIndex, 10)
}

// pageStart returns where a list request starts in the API: a cursor's page
// token, the token a previous index page left for this startIndex, or an
// offset.
func (s *Server) pageStart(lq listQuery, tenant, kind string) (token string, skip int32) {
	switch {
	case lq.useCursor:
		return lq.cursor, 0
	case lq.startIndex > 1:
		if t, ok := s.pages.get(pageKey(tenant, kind, lq, lq.startIndex)); ok {
			return t, 0
		}
		return "", int32(min(lq.startIndex-1, maxSkip))
	}
	return "", 0
}

// listResponse builds the ListResponse of a page of served resources out of
// total, and remembers where an index page ended (or hands out the cursor).
func (s *Server) listResponse(lq listQuery, tenant, kind string, total int, resources []any, next string) resource.ListResponse {
	out := resource.ListResponse{
		Schemas: []string{resource.ListSchema}, TotalResults: total, StartIndex: lq.startIndex,
		ItemsPerPage: len(resources), Resources: resources,
	}
	if out.Resources == nil {
		out.Resources = []any{}
	}
	if lq.useCursor {
		out.NextCursor = next
	} else if len(resources) > 0 && next != "" {
		s.pages.put(pageKey(tenant, kind, lq, lq.startIndex+int64(len(resources))), next)
	}
	return out
}
