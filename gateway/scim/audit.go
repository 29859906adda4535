package scim

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/acme/identity/gateway/requestid"
	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// Every authenticated SCIM request is recorded on the audit trail, failed
// ones with the SCIM error they answered, so that an administrator can see
// what the IdP sent and why it shows a provisioning error. The record keeps
// the method, path, status and a summary of the body's operations (names,
// never values: no passwords, no whole bodies).

// maxSummary bounds the summary's lines and their length.
const (
	maxSummary     = 100
	maxSummaryLine = 200
)

// auditRecorder captures what a request answered.
type auditRecorder struct {
	http.ResponseWriter
	status   int
	scimType string
	detail   string
	body     []byte // the request body, as readJSON read it
}

func (r *auditRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *auditRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (Bulk extends
// its write deadline).
func (r *auditRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

type recorderKey struct{}

// noteError keeps the SCIM error answered on w's auditRecorder.
func noteError(w http.ResponseWriter, scimType, detail string) {
	if rec, ok := w.(*auditRecorder); ok {
		rec.scimType, rec.detail = scimType, detail
	}
}

// noteBody keeps the request's body for the summary; the first read is the
// request's own (a Bulk operation's body is read later, in the same
// context).
func noteBody(ctx context.Context, body []byte) {
	if rec, ok := ctx.Value(recorderKey{}).(*auditRecorder); ok && rec.body == nil {
		rec.body = body
	}
}

// audited serves h and records the request on the audit trail with the
// caller's credential (in ctx's outgoing metadata). The core takes the record
// before the answer leaves (net/http sends it when the handler returns) and
// stores it in the background (audit.Recorder), so whoever reads the trail
// after the answer finds it. Flushing the answer before recording would cost
// a chunked answer: BenchmarkImport lost a third of its throughput to it.
// It returns the status answered.
func (s *Server) audited(w http.ResponseWriter, r *http.Request, tenantID string, h http.Handler) int {
	rec := &auditRecorder{ResponseWriter: w}
	h.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), recorderKey{}, rec)))
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	path := strings.TrimPrefix(r.URL.Path, Prefix)
	_, err := s.audit.RecordScimRequest(context.WithoutCancel(r.Context()), &identityv1.RecordScimRequestRequest{
		TenantId:   tenantID,
		RequestId:  requestid.From(r.Context()),
		ResourceId: pathResource(path),
		Scim: &identityv1.ScimRequestSummary{
			Method:     r.Method,
			Path:       truncate(path, 2048),
			Status:     int32(rec.status),
			ScimType:   rec.scimType,
			Detail:     truncate(rec.detail, 2048),
			Operations: summarize(r.Method, path, rec.body),
		},
	})
	if err != nil {
		s.log.WarnContext(r.Context(), "record a SCIM request on the audit trail", "request_id", requestid.From(r.Context()), "error", err)
	}
	return rec.status
}

// pathResource returns the id a resource path names (/Users/{id}).
func pathResource(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) == 2 && (parts[0] == "Users" || parts[0] == "Groups") && len(parts[1]) <= 64 {
		return parts[1]
	}
	return ""
}

// summarize names what a body asked: a PATCH's operations and paths
// ("replace active", "add members (3 values)"), a Bulk's operations ("POST
// /Users"), a POST's or PUT's attributes.
func summarize(method, path string, body []byte) []string {
	if len(body) == 0 {
		return nil
	}
	var out []string
	switch {
	case method == http.MethodPatch:
		var req struct {
			Operations []struct {
				Op    string          `json:"op"`
				Path  string          `json:"path"`
				Value json.RawMessage `json:"value"`
			} `json:"Operations"`
		}
		if json.Unmarshal(body, &req) != nil {
			return []string{"(the body is not a PATCH request)"}
		}
		for _, op := range req.Operations {
			out = append(out, strings.TrimSpace(strings.ToLower(op.Op)+" "+op.Path+describeValue(op.Path, op.Value)))
		}
	case path == "/Bulk":
		var req bulkRequest
		if json.Unmarshal(body, &req) != nil {
			return []string{"(the body is not a Bulk request)"}
		}
		for _, op := range req.Operations {
			out = append(out, op.Method+" "+op.Path)
		}
	default:
		var attrs map[string]json.RawMessage
		if json.Unmarshal(body, &attrs) != nil {
			return []string{"(the body is not a JSON object)"}
		}
		delete(attrs, "schemas")
		out = []string{"attributes: " + strings.Join(slices.Sorted(maps.Keys(attrs)), ", ")}
	}
	if len(out) > maxSummary {
		out = append(out[:maxSummary], fmt.Sprintf("(%d more)", len(out)-maxSummary))
	}
	for i := range out {
		out[i] = truncate(out[i], maxSummaryLine)
	}
	return out
}

// describeValue names what a PATCH operation's value holds, never the value
// itself: the count of a list, the attributes of an object.
func describeValue(path string, v json.RawMessage) string {
	var list []json.RawMessage
	if json.Unmarshal(v, &list) == nil {
		return fmt.Sprintf(" (%d values)", len(list))
	}
	var obj map[string]json.RawMessage
	if path == "" && json.Unmarshal(v, &obj) == nil {
		return strings.Join(slices.Sorted(maps.Keys(obj)), ", ")
	}
	return ""
}

// truncate cuts s to at most n characters, "…" included, on a rune
// boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n--
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
