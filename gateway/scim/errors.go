package scim

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/acme/identity/gateway/scim/filter"
	"github.com/acme/identity/gateway/scim/patch"
	"github.com/acme/identity/gateway/scim/resource"
)

// scimError is an error as RFC 7644 section 3.12 renders it.
type scimError struct {
	Status   int
	ScimType string
	Detail   string
	// retryAfter is the Retry-After (seconds) of a 429 or 503.
	retryAfter int
}

func (e *scimError) Error() string { return e.Detail }

func errorf(status int, scimType, format string, args ...any) *scimError {
	return &scimError{Status: status, ScimType: scimType, Detail: fmt.Sprintf(format, args...)}
}

// writeError is the only writer of SCIM error bodies. It maps gRPC status
// from the core, parse errors and PATCH errors; anything else is a 500 with
// a generic detail.
func writeError(w http.ResponseWriter, err error) {
	e := toSCIMError(err)
	noteError(w, e.ScimType, e.Detail)
	w.Header().Set("Content-Type", contentType)
	if e.Status == http.StatusServiceUnavailable || e.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	if e.Status == http.StatusUnauthorized {
		// RFC 6750 3: a 401 names the scheme it wants.
		w.Header().Set("WWW-Authenticate", `Bearer realm="scim"`)
	}
	w.WriteHeader(e.Status)
	body := map[string]any{
		"schemas": []string{resource.ErrorSchema},
		"status":  strconv.Itoa(e.Status),
		"detail":  e.Detail,
	}
	if e.ScimType != "" {
		body["scimType"] = e.ScimType
	}
	_ = json.NewEncoder(w).Encode(body)
}

// WriteInvalid answers a SCIM request that the HTTP side refuses before
// routing it (400 invalidValue), as a SCIM error.
func WriteInvalid(w http.ResponseWriter, detail string) {
	writeError(w, errorf(http.StatusBadRequest, "invalidValue", "%s", detail))
}

// credentialForms names the two credentials the gateway accepts.
const credentialForms = "Bearer <SCIM token> or Bearer <ProjectID>:<AccessKey> of a key with Tenant Admin on one tenant"

func toSCIMError(err error) *scimError {
	var se *scimError
	var pe *patch.Error
	var fe *filter.Error
	switch {
	case errors.As(err, &se):
		return se
	case errors.As(err, &pe):
		return &scimError{Status: http.StatusBadRequest, ScimType: pe.ScimType, Detail: pe.Detail}
	case errors.As(err, &fe):
		return &scimError{Status: http.StatusBadRequest, ScimType: "invalidFilter", Detail: "filter " + fe.Error()}
	}
	st, ok := status.FromError(err)
	if !ok {
		return &scimError{Status: http.StatusInternalServerError, Detail: "internal error"}
	}
	msg := st.Message()
	switch st.Code() {
	case codes.InvalidArgument:
		return &scimError{Status: http.StatusBadRequest, ScimType: invalidType(st), Detail: violations(st)}
	case codes.AlreadyExists:
		return &scimError{Status: http.StatusConflict, ScimType: "uniqueness", Detail: msg}
	case codes.NotFound:
		return &scimError{Status: http.StatusNotFound, Detail: msg}
	case codes.FailedPrecondition:
		if reason(st) == "VERSION_MISMATCH" {
			return &scimError{Status: http.StatusPreconditionFailed, Detail: msg}
		}
		return &scimError{Status: http.StatusBadRequest, Detail: msg}
	case codes.Unauthenticated:
		return &scimError{Status: http.StatusUnauthorized, Detail: msg + " (send Authorization: " + credentialForms + ")"}
	case codes.PermissionDenied:
		return &scimError{Status: http.StatusForbidden, Detail: msg}
	case codes.ResourceExhausted:
		return &scimError{Status: http.StatusTooManyRequests, Detail: msg, retryAfter: RetryAfterSeconds(st)}
	case codes.DeadlineExceeded, codes.Canceled:
		return &scimError{Status: http.StatusServiceUnavailable, Detail: "the request took too long; try again", retryAfter: 1}
	case codes.Unavailable:
		return &scimError{Status: http.StatusServiceUnavailable, Detail: "the service is unavailable; try again", retryAfter: RetryAfterSeconds(st)}
	}
	return &scimError{Status: http.StatusInternalServerError, Detail: "internal error"}
}

// RetryAfterSeconds is the Retry-After of a status, for SCIM and REST
// answers alike: its RetryInfo delay in whole seconds, at least one.
func RetryAfterSeconds(st *status.Status) int {
	seconds := 1
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			seconds = max(seconds, int(math.Ceil(ri.GetRetryDelay().AsDuration().Seconds())))
		}
	}
	return seconds
}

func reason(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

func invalidType(st *status.Status) string {
	if reason(st) == "INVALID_FILTER" {
		return "invalidFilter"
	}
	return "invalidValue"
}

// violations renders the field violations of an InvalidArgument status, so
// the detail says which field is wrong and why.
func violations(st *status.Status) string {
	var parts []string
	for _, d := range st.Details() {
		switch v := d.(type) {
		case *validate.Violations:
			for _, x := range v.GetViolations() {
				parts = append(parts, scimAttr(protovalidate.FieldPathString(x.GetField()))+": "+x.GetMessage())
			}
		case *errdetails.BadRequest:
			for _, x := range v.GetFieldViolations() {
				parts = append(parts, scimAttr(x.GetField())+": "+x.GetDescription())
			}
		}
	}
	if len(parts) == 0 {
		return st.Message()
	}
	return strings.Join(parts, "; ")
}

// scimAttr names a field of the core's request (user.user_name,
// user.emails[0].value, group.member_user_ids) by the SCIM attribute it came
// from (userName, emails[0].value, members), so that an IdP's administrator
// reads the names they configured.
func scimAttr(path string) string {
	segs := strings.Split(path, ".")
	if len(segs) > 1 && (segs[0] == "user" || segs[0] == "group") {
		segs = segs[1:]
	}
	prefix := ""
	if len(segs) > 1 && segs[0] == "enterprise" {
		prefix, segs = resource.EnterpriseSchema+":", segs[1:]
	}
	for i, s := range segs {
		if strings.HasPrefix(s, "member_user_ids") {
			segs[i] = "members" + strings.TrimPrefix(s, "member_user_ids")
			continue
		}
		words := strings.Split(s, "_")
		for j := 1; j < len(words); j++ {
			if words[j] != "" {
				words[j] = strings.ToUpper(words[j][:1]) + words[j][1:]
			}
		}
		segs[i] = strings.Join(words, "")
	}
	return prefix + strings.Join(segs, ".")
}
