package service

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"entgo.io/ent/dialect/sql"
	"google.golang.org/protobuf/proto"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/intercept"
	"github.com/acme/identity/ent/tenantcount"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/apierr"
	"github.com/acme/identity/server/filter"
	"github.com/acme/identity/server/store"
)

const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// pageToken is the cursor of a list: the last key of the previous page, and a
// fingerprint of the query it belongs to. Keyset pagination (key > after, in
// key order) never skips or repeats a row that exists throughout, whatever is
// inserted or deleted between pages. The token carries nothing secret: it only
// narrows a query the caller may run anyway.
type pageToken struct {
	After string `json:"a"`
	Query string `json:"q"`
}

// queryFingerprint identifies the parent, filter and order of a list, so a
// token is refused with a different filter or order instead of silently
// answering another query.
func queryFingerprint(parent string, query ...proto.Message) string {
	h := sha256.New()
	h.Write([]byte(parent))
	h.Write([]byte{0})
	for i, m := range query {
		if m == nil || !m.ProtoReflect().IsValid() {
			continue
		}
		if i > 0 {
			h.Write([]byte{0, byte(i)})
		}
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		h.Write(b)
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:12])
}

// page holds the decoded paging arguments of a list request.
type page struct {
	size  int
	after string
	query string
	// order, when set, sorts the list; exists then says whether a row
	// (the token's anchor) still exists.
	order  *filter.Order
	exists func(ctx context.Context, id string) (bool, error)
}

// readPage decodes a list's paging; query is what the token is bound to
// (the filter, and the order of a sorted list).
func readPage(size int32, token, parent string, query ...proto.Message) (page, error) {
	p := page{size: int(size), query: queryFingerprint(parent, query...)}
	if p.size == 0 {
		p.size = defaultPageSize
	}
	p.size = min(p.size, maxPageSize)
	if token == "" {
		return p, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	var t pageToken
	if err == nil {
		err = json.Unmarshal(raw, &t)
	}
	if err != nil || t.After == "" {
		return p, apierr.InvalidArgument("INVALID_PAGE_TOKEN", "page_token is not a token this service issued")
	}
	if t.Query != p.query {
		return p, apierr.InvalidArgument("INVALID_PAGE_TOKEN", "page_token belongs to a list with another parent or filter")
	}
	p.after = t.After
	return p, nil
}

// next returns the token of the page after one that ended at lastKey.
func (p page) next(lastKey string) string {
	b, _ := json.Marshal(pageToken{After: lastKey, Query: p.query})
	return base64.RawURLEncoding.EncodeToString(b)
}

// trimPage cuts rows, fetched with a limit of p.size+1, to the page and returns
// the token of the next page.
func trimPage[T any](p page, rows []T, key func(T) string) ([]T, string) {
	if len(rows) <= p.size {
		return rows, ""
	}
	rows = rows[:p.size]
	return rows, p.next(key(rows[len(rows)-1]))
}

// entQuery is what every generated ent query offers.
type entQuery[Q any, T any] interface {
	Clone() Q
	Count(context.Context) (int, error)
	All(context.Context) ([]T, error)
}

// list runs the common part of every list: the total of the (filtered) query
// q when countTotal, and the page after pg's position in order of keyColumn
// (skipping skip rows first), trimmed to the page size, with the token of the
// next page. Keyset pagination (key > after, in key order) never skips or
// repeats a row that exists throughout, whatever changes between pages.
func list[Q entQuery[Q, T], T any](ctx context.Context, pg page, q Q, keyColumn string, skip int32, key func(T) string, countTotal bool) (rows []T, next string, total int32, err error) {
	if countTotal {
		n, err := q.Clone().Count(ctx)
		if err != nil {
			return nil, "", 0, fmt.Errorf("count: %w", err)
		}
		total = int32(n)
	}
	iq, err := intercept.NewQuery(q)
	if err != nil {
		return nil, "", 0, err
	}
	switch {
	case pg.order != nil:
		iq.Order(func(s *sql.Selector) { pg.order.Apply(s, keyColumn, pg.after) })
	case pg.after != "":
		iq.WhereP(sql.FieldGT(keyColumn, pg.after))
		fallthrough
	default:
		iq.Order(sql.OrderByField(keyColumn).ToFunc())
	}
	iq.Offset(int(skip))
	iq.Limit(pg.size + 1)
	if rows, err = q.All(ctx); err != nil {
		return nil, "", 0, fmt.Errorf("list: %w", err)
	}
	if pg.order != nil && pg.after != "" && len(rows) == 0 {
		// nothing follows the anchor: the end of the list, or the anchor
		// is gone
		ok, err := pg.exists(ctx, pg.after)
		if err != nil {
			return nil, "", 0, fmt.Errorf("page anchor: %w", err)
		}
		if !ok {
			return nil, "", 0, filter.AnchorGone()
		}
	}
	rows, next = trimPage(pg, rows, key)
	return rows, next, total, nil
}

// tenantTotal is the total of an unfiltered list of a tenant's users or
// groups, from the tenant's counters (store.Total) rather than a count of
// every row, so that a page costs the same however large the tenant.
func tenantTotal(ctx context.Context, db *ent.Client, kind tenantcount.Kind) (int32, error) {
	n, err := store.Total(ctx, db, kind)
	if err != nil {
		return 0, fmt.Errorf("total: %w", err)
	}
	return int32(n), nil
}

// tenantListRequest is what every list of a tenant's resources carries.
type tenantListRequest interface {
	GetPageSize() int32
	GetPageToken() string
	GetTenantId() string
}

// startTenantList begins a list of a tenant's resources: the page (its token
// bound to the tenant, the filter f and the order), the tenant's existence in
// the caller's project (NotFound, not an empty list, for another project's
// tenant), and the filter expressions and order compiled over the resource's
// attributes.
func startTenantList(ctx context.Context, db *ent.Client, req tenantListRequest, f proto.Message, order *identityv1.SortOrder, s filter.Schema, exprs ...*identityv1.FilterExpression) (page, []func(*sql.Selector), error) {
	pg, err := readPage(req.GetPageSize(), req.GetPageToken(), req.GetTenantId(), f, order)
	if err != nil {
		return pg, nil, err
	}
	if pg.order, err = filter.CompileOrder(order, s); err != nil {
		return pg, nil, err
	}
	if err := store.RequireTenant(ctx, db); err != nil {
		return pg, nil, err
	}
	preds, err := filter.Predicates(s, exprs...)
	return pg, preds, err
}

// where converts compiled filter predicates to an entity's predicate type.
func where[P ~func(*sql.Selector)](ps []func(*sql.Selector)) []P {
	out := make([]P, len(ps))
	for i, p := range ps {
		out[i] = P(p)
	}
	return out
}
