package scim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/acme/identity/gateway/scim/resource"
)

// POST /Bulk (RFC 7644 3.7). Each operation is served by the same handler
// as the single request it stands for, under the Bulk request's credential,
// so it is one core call, atomic on its own, with the same checks and
// answers; the operations together are not one transaction (3.7: "the
// service provider MAY ... process operations in any order", and each is
// independent). bulkId references ("bulkId:qwerty" as a path segment or a
// JSON string in data) resolve to the ids of resources created earlier in
// the request; an operation whose reference names a later operation waits
// for it.

const (
	bulkRequestSchema  = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
	bulkResponseSchema = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
	// maxBulkOperations is advertised in /ServiceProviderConfig.
	maxBulkOperations = 1000
	// maxBulkPayload is advertised too: the body limit of every request.
	maxBulkPayload = MaxBodyBytes
)

type bulkRequest struct {
	Schemas      []string        `json:"schemas"`
	FailOnErrors *int            `json:"failOnErrors"`
	Operations   []bulkOperation `json:"Operations"`
}

type bulkOperation struct {
	Method  string          `json:"method"`
	BulkID  string          `json:"bulkId,omitempty"`
	Version string          `json:"version,omitempty"`
	Path    string          `json:"path"`
	Data    json.RawMessage `json:"data,omitempty"`
}

type bulkResult struct {
	Method   string          `json:"method"`
	BulkID   string          `json:"bulkId,omitempty"`
	Version  string          `json:"version,omitempty"`
	Location string          `json:"location,omitempty"`
	Status   string          `json:"status"`
	Response json.RawMessage `json:"response,omitempty"`
}

// bulkRef matches a bulkId reference in data: a whole JSON string
// ("bulkId:qwerty"); bulkPathRef one as a path's id segment.
var (
	bulkRef     = regexp.MustCompile(`"bulkId:([^"\\]+)"`)
	bulkPathRef = regexp.MustCompile(`^(/(?:Users|Groups)/)bulkId:([^/]+)$`)
)

// bulkPath is the resource endpoints an operation may address.
var bulkPath = regexp.MustCompile(`^/(Users|Groups)(/[^/?#]+)?$`)

// bulkMaxWait bounds how long one operation waits out the rate limit before
// it is answered 429 in the response.
const bulkMaxWait = 30 * time.Second

func (s *Server) bulk(w http.ResponseWriter, r *http.Request) error {
	body, err := readJSON(r, nil)
	if err != nil {
		if e, ok := err.(*scimError); ok && e.Status == http.StatusRequestEntityTooLarge {
			return errorf(http.StatusRequestEntityTooLarge, "", "a Bulk request carries at most %d bytes", maxBulkPayload)
		}
		return err
	}
	var req bulkRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return errorf(http.StatusBadRequest, "invalidSyntax", "the body is not a BulkRequest: %v", err)
	}
	if !slices.ContainsFunc(req.Schemas, func(s string) bool { return strings.EqualFold(s, bulkRequestSchema) }) {
		return errorf(http.StatusBadRequest, "invalidValue", "schemas must contain %s", bulkRequestSchema)
	}
	if len(req.Operations) > maxBulkOperations {
		return errorf(http.StatusRequestEntityTooLarge, "", "a Bulk request carries at most %d operations", maxBulkOperations)
	}
	if len(req.Operations) == 0 {
		return errorf(http.StatusBadRequest, "invalidValue", "Operations is empty")
	}
	if err := checkBulkOperations(req.Operations); err != nil {
		return err
	}
	failOn := len(req.Operations) + 1
	if req.FailOnErrors != nil {
		if *req.FailOnErrors < 1 {
			return errorf(http.StatusBadRequest, "invalidValue", "failOnErrors must be at least 1")
		}
		failOn = *req.FailOnErrors
	}
	// The operations may take a while (they wait out the rate limit): the
	// answer is written when all have run.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(10 * time.Minute))
	results := s.runBulk(r, req.Operations, failOn)
	writeJSON(w, http.StatusOK, map[string]any{"schemas": []string{bulkResponseSchema}, "Operations": results}, "")
	return nil
}

// checkBulkOperations refuses a request with a malformed operation before
// any runs, so that such a request changes nothing.
func checkBulkOperations(ops []bulkOperation) error {
	seen := map[string]bool{}
	for i, op := range ops {
		switch strings.ToUpper(op.Method) {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			return errorf(http.StatusBadRequest, "invalidValue", "Operations[%d]: method %q is not POST, PUT, PATCH or DELETE", i, op.Method)
		}
		m := bulkPath.FindStringSubmatch(op.Path)
		if m == nil || m[2] == "/." || m[2] == "/.." {
			return errorf(http.StatusBadRequest, "invalidPath", "Operations[%d]: path %q is not /Users, /Groups or one of their resources", i, op.Path)
		}
		post := strings.EqualFold(op.Method, http.MethodPost)
		switch {
		case post && m[2] != "":
			return errorf(http.StatusBadRequest, "invalidPath", "Operations[%d]: POST addresses /Users or /Groups", i)
		case !post && m[2] == "":
			return errorf(http.StatusBadRequest, "invalidPath", "Operations[%d]: %s addresses one resource, /%s/{id}", i, op.Method, m[1])
		case post && op.BulkID == "":
			return errorf(http.StatusBadRequest, "invalidValue", "Operations[%d]: a POST needs a bulkId", i)
		case op.BulkID != "" && seen[op.BulkID]:
			return errorf(http.StatusBadRequest, "invalidValue", "Operations[%d]: bulkId %q is used twice", i, op.BulkID)
		case !strings.EqualFold(op.Method, http.MethodDelete) && len(bytes.TrimSpace(op.Data)) == 0:
			return errorf(http.StatusBadRequest, "invalidValue", "Operations[%d]: %s needs data", i, op.Method)
		}
		seen[op.BulkID] = op.BulkID != ""
	}
	return nil
}

// runBulk runs the operations, each once its references resolve, until
// failOn of them have failed; it answers the ones that ran, in request
// order, and refuses those whose references never resolve. The references
// are read once; a pass only checks which operations became ready.
func (s *Server) runBulk(r *http.Request, ops []bulkOperation, failOn int) []bulkResult {
	results := make([]*bulkResult, len(ops))
	created := map[string]string{} // bulkId -> id
	declared := map[string]bool{}
	for _, op := range ops {
		if op.BulkID != "" && strings.EqualFold(op.Method, http.MethodPost) {
			declared[op.BulkID] = true
		}
	}
	refs := make([][]string, len(ops))
	for i, op := range ops {
		refs[i] = references(op)
		for _, ref := range refs[i] {
			if !declared[ref] && results[i] == nil {
				results[i] = bulkFailure(op, errorf(http.StatusConflict, "invalidValue", "bulkId %q names no POST of this request", ref))
			}
		}
	}
	failures := 0
	for _, res := range results {
		if res != nil {
			failures++
		}
	}
	for progress := true; progress && failures < failOn; {
		progress = false
		for i, op := range ops {
			if results[i] != nil || failures >= failOn || !resolved(refs[i], created) {
				continue
			}
			results[i] = s.runOperation(r, op, created)
			if op.BulkID != "" && results[i].Location != "" {
				created[op.BulkID] = results[i].Location[strings.LastIndexByte(results[i].Location, '/')+1:]
			}
			progress = true
			if st, _ := strconv.Atoi(results[i].Status); st >= 300 {
				failures++
			}
		}
	}
	var out []bulkResult
	for i, res := range results {
		if res == nil && failures < failOn {
			// left waiting on one another: a circular reference (3.7.1)
			res = bulkFailure(ops[i], errorf(http.StatusConflict, "invalidValue", "the bulkId references of this operation are circular or name a failed operation"))
		}
		if res != nil {
			out = append(out, *res)
		}
	}
	return out
}

// references are the bulkIds an operation refers to, in its path or data.
func references(op bulkOperation) []string {
	var out []string
	if m := bulkPathRef.FindStringSubmatch(op.Path); m != nil {
		out = append(out, m[2])
	}
	for _, m := range bulkRef.FindAllSubmatch(op.Data, -1) {
		out = append(out, string(m[1]))
	}
	return out
}

func resolved(refs []string, created map[string]string) bool {
	for _, ref := range refs {
		if _, ok := created[ref]; !ok {
			return false
		}
	}
	return true
}

// substitute puts the created ids in place of an operation's references.
func substitute(op bulkOperation, created map[string]string) (path string, data []byte) {
	path = op.Path
	if m := bulkPathRef.FindStringSubmatch(op.Path); m != nil {
		path = m[1] + created[m[2]]
	}
	data = bulkRef.ReplaceAllFunc(op.Data, func(b []byte) []byte {
		id := bulkRef.FindSubmatch(b)[1]
		return []byte(strconv.Quote(created[string(id)]))
	})
	return path, data
}

// runOperation serves one operation through the resource handlers, its
// references substituted; past the rate limit it waits as told (up to
// bulkMaxWait in all) and tries again, as a client of single requests would.
func (s *Server) runOperation(r *http.Request, op bulkOperation, created map[string]string) *bulkResult {
	method := strings.ToUpper(op.Method)
	path, data := substitute(op, created)
	var rec *recorder
	for waited := time.Duration(0); ; {
		req, err := http.NewRequestWithContext(r.Context(), method, Prefix+path, bytes.NewReader(data))
		if err != nil {
			return bulkFailure(op, errorf(http.StatusBadRequest, "invalidPath", "path %q: %v", op.Path, err))
		}
		req.Header.Set("Content-Type", contentType)
		if op.Version != "" {
			req.Header.Set("If-Match", op.Version)
		}
		rec = &recorder{header: http.Header{}}
		s.ops.ServeHTTP(rec, req)
		wait := time.Second
		if secs, err := strconv.Atoi(rec.header.Get("Retry-After")); err == nil && secs > 0 {
			wait = time.Duration(secs) * time.Second
		}
		if rec.status != http.StatusTooManyRequests || waited+wait > bulkMaxWait {
			break
		}
		select {
		case <-time.After(wait):
			waited += wait
		case <-r.Context().Done():
			return bulkFailure(op, r.Context().Err())
		}
	}
	res := &bulkResult{Method: method, BulkID: op.BulkID, Status: strconv.Itoa(rec.status), Version: rec.header.Get("ETag")}
	if rec.status >= 300 {
		res.Response = bytes.TrimSpace(rec.body.Bytes())
		return res
	}
	res.Location = rec.header.Get("Location")
	if res.Location == "" && method != http.MethodDelete {
		var m struct {
			Meta *resource.Meta `json:"meta"`
		}
		if json.Unmarshal(rec.body.Bytes(), &m) == nil && m.Meta != nil {
			res.Location = m.Meta.Location
		}
	}
	if res.Location == "" && method != http.MethodDelete {
		res.Location = s.base + path
	}
	return res
}

func bulkFailure(op bulkOperation, err error) *bulkResult {
	rec := &recorder{header: http.Header{}}
	writeError(rec, err)
	return &bulkResult{Method: strings.ToUpper(op.Method), BulkID: op.BulkID, Status: strconv.Itoa(rec.status), Response: bytes.TrimSpace(rec.body.Bytes())}
}

// recorder is the ResponseWriter of one operation, kept in memory.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}
