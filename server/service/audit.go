package service

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"entgo.io/ent/dialect/sql"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/auditevent"
	"github.com/acme/identity/ent/change"
	"github.com/acme/identity/ent/predicate"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/apierr"
	"github.com/acme/identity/server/audit"
	"github.com/acme/identity/server/store"
	"github.com/acme/identity/server/store/scope"
)

// AuditService reads the audit trail, and records the SCIM gateway's
// requests on it.
type AuditService struct {
	db        *ent.Client
	recorder  *audit.Recorder
	revisions Revisions
	now       func() time.Time
	draining  <-chan struct{}
	// poll is how often a followed stream looks for new events.
	poll time.Duration
	// settle is how old an event must be to be streamed.
	settle    time.Duration
	heartbeat time.Duration
}

var _ identityv1.AuditServiceServer = (*AuditService)(nil)

// NewAuditService returns the audit service over db, recording SCIM
// requests through recorder; a list waits for revisions to hold the writes
// this instance answered before it (their events are stored as they are
// numbered). Streams send an event once it is settle old (0 where ids are
// commit order: SQLite), a followed stream sends a heartbeat after heartbeat
// of quiet, and ends when draining closes.
func NewAuditService(db *ent.Client, recorder *audit.Recorder, revisions Revisions, now func() time.Time, draining <-chan struct{}, settle, heartbeat time.Duration) *AuditService {
	return &AuditService{db: db, recorder: recorder, revisions: revisions, now: now, draining: draining, poll: time.Second, settle: settle, heartbeat: heartbeat}
}

// ListAuditEvents returns a page of matching events, newest first.
func (s *AuditService) ListAuditEvents(ctx context.Context, req *identityv1.ListAuditEventsRequest) (*identityv1.ListAuditEventsResponse, error) {
	size := req.GetPageSize()
	if size == 0 {
		size = defaultAuditPage
	}
	pg, err := readPage(size, req.GetPageToken(), "", req.GetFilter())
	if err != nil {
		return nil, err
	}
	where, err := s.filter(ctx, req.GetFilter())
	if err != nil {
		return nil, err
	}
	if err := s.flush(ctx, req.GetFilter().GetTenantId()); err != nil {
		return nil, err
	}
	q := s.db.AuditEvent.Query().Where(where...)
	if pg.after != "" {
		after, err := strconv.ParseInt(pg.after, 10, 64)
		if err != nil {
			return nil, apierr.InvalidArgument("INVALID_PAGE_TOKEN", "page_token is not a token this service issued")
		}
		q.Where(auditevent.IDLT(after))
	}
	rows, err := q.Order(ent.Desc(auditevent.FieldID)).Limit(pg.size + 1).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit events: %w", err)
	}
	rows, next := trimPage(pg, rows, func(r *ent.AuditEvent) string { return strconv.FormatInt(r.ID, 10) })
	events, err := s.events(ctx, rows)
	if err != nil {
		return nil, err
	}
	return &identityv1.ListAuditEventsResponse{Events: events, NextPageToken: next}, nil
}

// StreamAuditEvents sends matching events oldest first after after_id and,
// when following, new ones as they come, until the caller leaves or the
// server shuts down.
func (s *AuditService) StreamAuditEvents(req *identityv1.StreamAuditEventsRequest, stream grpc.ServerStreamingServer[identityv1.StreamAuditEventsResponse]) error {
	ctx := stream.Context()
	var after int64
	if req.GetAfterId() != "" {
		var err error
		if after, err = strconv.ParseInt(req.GetAfterId(), 10, 64); err != nil || after < 0 {
			return apierr.InvalidField("after_id", "INVALID_AFTER_ID", "after_id is the id of an audit event")
		}
	}
	where, err := s.filter(ctx, req.GetFilter())
	if err != nil {
		return err
	}
	if err := s.flush(ctx, req.GetFilter().GetTenantId()); err != nil {
		return err
	}
	lastSent := time.Now()
	for first := true; ; first = false {
		q := s.db.AuditEvent.Query().Where(where...).Where(auditevent.IDGT(after))
		if s.settle > 0 {
			q.Where(auditevent.CreateTimeLTE(store.Now(s.now).Add(-s.settle)))
		}
		rows, err := q.Order(ent.Asc(auditevent.FieldID)).Limit(maxAuditPage).All(ctx)
		if err != nil {
			return fmt.Errorf("audit events: %w", err)
		}
		events, err := s.events(ctx, rows)
		if err != nil {
			return err
		}
		for i, e := range events {
			if err := stream.Send(&identityv1.StreamAuditEventsResponse{Event: e}); err != nil {
				return err
			}
			after, lastSent = rows[i].ID, time.Now()
		}
		if len(rows) == maxAuditPage {
			continue
		}
		if !req.GetFollow() {
			return nil
		}
		if (first && len(rows) == 0) || time.Since(lastSent) >= s.heartbeat {
			if err := stream.Send(&identityv1.StreamAuditEventsResponse{Heartbeat: true}); err != nil {
				return err
			}
			lastSent = time.Now()
		}
		wait := time.NewTimer(s.poll)
		select {
		case <-wait.C:
		case <-s.draining:
			wait.Stop()
			return apierr.ShuttingDown(fmt.Sprintf(
				"the server is shutting down: reconnect with after_id=%d (the last event received)", after))
		case <-ctx.Done():
			wait.Stop()
			return nil
		}
	}
}

// RecordScimRequest records a SCIM request the gateway answered, as the
// caller's (its credential is the IdP's).
func (s *AuditService) RecordScimRequest(ctx context.Context, req *identityv1.RecordScimRequestRequest) (*identityv1.RecordScimRequestResponse, error) {
	// Every SCIM request is recorded, refusals included; the credential's
	// own tenant is known to exist (scope.WithKnownTenant), so for it this
	// runs no query. Another project's tenant is NotFound, whoever calls.
	if err := store.RequireTenant(ctx, s.db); err != nil {
		return nil, err
	}
	r := audit.From(ctx)
	if !r.Gateway {
		// An IdP's credential could otherwise write what it likes on the
		// trail, outside any rate limit (the gateway's records take none).
		return nil, apierr.PermissionDenied("GATEWAY_ONLY", "SCIM requests are recorded by the SCIM gateway of identityd itself")
	}
	sc, _ := scope.From(ctx)
	summary, err := protojson.Marshal(req.GetScim())
	if err != nil {
		return nil, fmt.Errorf("encode SCIM summary: %w", err)
	}
	r.RequestID = audit.RequestID(req.GetRequestId())
	// Queued: stored within milliseconds, readable at once on this
	// instance (readers flush first).
	if err := s.recorder.Record(ctx, audit.ScimRequest{ProjectID: sc.ProjectID, TenantID: req.GetTenantId(), Request: r,
		ResourceID: req.GetResourceId(), Summary: summary, Time: store.Now(s.now)}); err != nil {
		return nil, err
	}
	return &identityv1.RecordScimRequestResponse{}, nil
}

// flush makes the SCIM requests recorded so far readable, and the events of
// the writes answered so far (a write the SCIM gateway made is answered at
// commit, and its event stored when it is numbered): whoever reads after an
// answer finds its request and its write (tenantID's, or any tenant's when
// "").
func (s *AuditService) flush(ctx context.Context, tenantID string) error {
	if sc, ok := scope.From(ctx); ok && sc.ProjectID != "" && s.revisions != nil {
		if _, err := s.revisions.Await(ctx, sc.ProjectID, tenantID, 0); err != nil {
			return err
		}
	}
	if s.recorder == nil {
		return nil
	}
	if err := s.recorder.Flush(ctx); err != nil {
		return fmt.Errorf("flush SCIM request records: %w", err)
	}
	return nil
}

// Prune deletes the events older than retention, of every project, a
// batch per statement, so that it never holds SQLite's write lock for long.
func (s *AuditService) Prune(ctx context.Context, retention time.Duration) error {
	ctx = scope.System(ctx)
	cut := store.Now(s.now).Add(-retention)
	for {
		ids, err := s.db.AuditEvent.Query().Where(auditevent.CreateTimeLT(cut)).Limit(pruneBatch).IDs(ctx)
		if err == nil && len(ids) > 0 {
			_, err = s.db.AuditEvent.Delete().Where(auditevent.IDIn(ids...)).Exec(ctx)
		}
		if err != nil {
			return fmt.Errorf("prune audit events: %w", err)
		}
		if len(ids) < pruneBatch {
			return nil
		}
	}
}

const (
	// An event holds up to 100 changes and 100 role consequences, so pages
	// are smaller than other lists' to stay a few megabytes.
	defaultAuditPage = 50
	maxAuditPage     = 100
	// maxChanges is how many of a write's changes its event shows.
	maxChanges = 100
	pruneBatch = 5000
)

// filter compiles a filter; the tenant is the scope's (the authorization
// interceptor scoped a request naming one to it).
func (s *AuditService) filter(ctx context.Context, f *identityv1.AuditFilter) ([]predicate.AuditEvent, error) {
	var out []predicate.AuditEvent
	if f.GetTenantId() != "" {
		if err := store.RequireTenant(ctx, s.db); err != nil {
			// A deleted tenant's trail stays readable until it is pruned;
			// a tenant the project never had is NotFound.
			if kept, kerr := s.db.AuditEvent.Query().Exist(ctx); kerr != nil || !kept {
				return nil, err
			}
		}
	}
	if f.GetStartTime() != nil {
		out = append(out, auditevent.CreateTimeGTE(f.GetStartTime().AsTime()))
	}
	if f.GetEndTime() != nil {
		out = append(out, auditevent.CreateTimeLT(f.GetEndTime().AsTime()))
	}
	if f.GetStartTime() != nil && f.GetEndTime() != nil && !f.GetEndTime().AsTime().After(f.GetStartTime().AsTime()) {
		return nil, apierr.InvalidField("filter.end_time", "INVALID_TIME_RANGE", "end_time must be after start_time")
	}
	if f.GetActorId() != "" {
		out = append(out, auditevent.ActorID(f.GetActorId()))
	}
	if f.GetRequestId() != "" {
		out = append(out, auditevent.RequestID(f.GetRequestId()))
	}
	if f.GetKind() != identityv1.AuditEventKind_AUDIT_EVENT_KIND_UNSPECIFIED {
		out = append(out, auditevent.KindEQ(kindOf[f.GetKind()]))
	}
	if id := f.GetResourceId(); id != "" {
		sc, _ := scope.From(ctx)
		out = append(out, auditevent.Or(auditevent.ResourceID(id), func(sel *sql.Selector) {
			// the writes whose change-log entries name the resource
			t := sql.Table(change.Table)
			writes := sql.Select(t.C(change.FieldWriteID)).From(t).Where(sql.And(
				sql.EQ(t.C(change.FieldProjectID), sc.ProjectID),
				sql.Or(sql.EQ(t.C(change.FieldResourceID), id), sql.EQ(t.C(change.FieldUserID), id))))
			sel.Where(sql.In(sel.C(auditevent.FieldWriteID), writes))
		}))
	}
	return out, nil
}

var kindOf = map[identityv1.AuditEventKind]auditevent.Kind{
	identityv1.AuditEventKind_AUDIT_EVENT_KIND_WRITE:        auditevent.KindWrite,
	identityv1.AuditEventKind_AUDIT_EVENT_KIND_SCIM_REQUEST: auditevent.KindScimRequest,
}

var actorKinds = map[auditevent.ActorKind]identityv1.AuditActor_Kind{
	auditevent.ActorKindAccessKey: identityv1.AuditActor_KIND_ACCESS_KEY,
	auditevent.ActorKindScimToken: identityv1.AuditActor_KIND_SCIM_TOKEN,
	auditevent.ActorKindOperator:  identityv1.AuditActor_KIND_OPERATOR,
	auditevent.ActorKindAnonymous: identityv1.AuditActor_KIND_ANONYMOUS,
	auditevent.ActorKindSystem:    identityv1.AuditActor_KIND_SYSTEM,
}

var sources = map[auditevent.Source]identityv1.AuditSource{
	auditevent.SourceGrpc:     identityv1.AuditSource_AUDIT_SOURCE_GRPC,
	auditevent.SourceRest:     identityv1.AuditSource_AUDIT_SOURCE_REST,
	auditevent.SourceScim:     identityv1.AuditSource_AUDIT_SOURCE_SCIM,
	auditevent.SourceSignIn:   identityv1.AuditSource_AUDIT_SOURCE_SIGN_IN,
	auditevent.SourceCli:      identityv1.AuditSource_AUDIT_SOURCE_CLI,
	auditevent.SourceInternal: identityv1.AuditSource_AUDIT_SOURCE_INTERNAL,
}

// events converts rows, with (up to maxChanges of) the change-log entries
// of their writes: small writes in one query, each large one in its own.
// The change log is not confined by scope (it is the service's own), so
// these queries name the project themselves.
func (s *AuditService) events(ctx context.Context, rows []*ent.AuditEvent) ([]*identityv1.AuditEvent, error) {
	sc, _ := scope.From(ctx)
	var small []string
	changes := map[string][]*ent.Change{}
	for _, r := range rows {
		switch {
		case r.WriteID == "":
		case r.ChangeCount <= maxChanges:
			small = append(small, r.WriteID)
		default:
			entries, err := s.db.Change.Query().Where(change.ProjectID(sc.ProjectID), change.WriteID(r.WriteID)).
				Order(ent.Asc(change.FieldID)).Limit(maxChanges).All(ctx)
			if err != nil {
				return nil, fmt.Errorf("audit changes: %w", err)
			}
			changes[r.WriteID] = entries
		}
	}
	if len(small) > 0 {
		entries, err := s.db.Change.Query().Where(change.ProjectID(sc.ProjectID), change.WriteIDIn(small...)).
			Order(ent.Asc(change.FieldID)).All(ctx)
		if err != nil {
			return nil, fmt.Errorf("audit changes: %w", err)
		}
		for _, e := range entries {
			changes[e.WriteID] = append(changes[e.WriteID], e)
		}
	}
	out := make([]*identityv1.AuditEvent, 0, len(rows))
	for _, r := range rows {
		e := &identityv1.AuditEvent{
			Id:        strconv.FormatInt(r.ID, 10),
			Time:      ts(r.CreateTime),
			TenantId:  r.TenantID,
			Actor:     &identityv1.AuditActor{Kind: actorKinds[r.ActorKind], Id: r.ActorID},
			Source:    sources[r.Source],
			RequestId: r.RequestID,
			Method:    r.Method,
		}
		for k, v := range kindOf {
			if v == r.Kind {
				e.Kind = k
			}
		}
		for _, c := range changes[r.WriteID] {
			e.Revision = c.Revision
			e.Changes = append(e.Changes, &identityv1.AuditChange{Kind: string(c.Kind), Operation: string(c.Operation),
				ResourceId: c.ResourceID, UserId: c.UserID, RoleId: c.RoleID, Detail: c.Detail})
		}
		e.ChangesOmitted = max(0, r.ChangeCount-int32(len(e.Changes)))
		if len(r.RoleConsequences) > 0 {
			var cs []audit.Consequence
			if err := json.Unmarshal(r.RoleConsequences, &cs); err != nil {
				return nil, fmt.Errorf("decode role consequences of audit event %d: %w", r.ID, err)
			}
			for _, c := range cs {
				e.RoleConsequences = append(e.RoleConsequences, &identityv1.RoleConsequence{UserId: c.UserID, RoleId: c.RoleID,
					RoleName: c.RoleName, Gained: c.Gained, Explanation: c.Explanation})
			}
			e.RoleConsequencesOmitted = r.RoleConsequencesOmitted
		}
		if len(r.Scim) > 0 {
			e.Scim = &identityv1.ScimRequestSummary{}
			if err := protojson.Unmarshal(r.Scim, e.Scim); err != nil {
				return nil, fmt.Errorf("decode SCIM summary of audit event %d: %w", r.ID, err)
			}
		}
		out = append(out, e)
	}
	return out, nil
}
