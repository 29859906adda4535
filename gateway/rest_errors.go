package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/acme/identity/gateway/scim"
)

// parseError is how the REST mapping reports a query parameter it cannot
// parse: `parsing field "page_size": strconv.ParseInt: parsing "abc": ...`.
var parseError = regexp.MustCompile(`^parsing field "([a-z0-9_.]+)": (.*)$`)

// errorHandler answers the REST mapping's errors as its default handler
// does, with two changes: a query parameter that cannot be parsed is named
// as the caller wrote it and described without Go's internals (strconv,
// layouts), and every 5xx is logged, since such an answer tells the caller
// nothing it can act on.
func errorHandler(log *slog.Logger) runtime.ErrorHandlerFunc {
	return func(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
		st := status.Convert(err)
		if st.Code() == codes.InvalidArgument {
			if p := parseError.FindStringSubmatch(st.Message()); p != nil {
				err = status.Error(codes.InvalidArgument, "query parameter "+jsonPath(p[1])+" "+describeParseError(p[2]))
			}
		}
		err = jsonFieldNames(err)
		if c := status.Code(err); c == codes.Unavailable || c == codes.ResourceExhausted {
			w.Header().Set("Retry-After", strconv.Itoa(scim.RetryAfterSeconds(status.Convert(err))))
		}
		if code := runtime.HTTPStatusFromCode(status.Code(err)); code >= 500 {
			log.ErrorContext(ctx, "REST request failed", "method", r.Method, "path", r.URL.Path, "status", code, "error", err)
		}
		runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
	}
}

// jsonFieldNames names the fields of an error's violations as a REST caller
// wrote them (user.userName, not user.user_name), as a google.rpc.BadRequest:
// the core's own field violations are renamed, and protovalidate's
// buf.validate.Violations (whose paths hold proto names) become one; the
// messages keep their text.
func jsonFieldNames(err error) error {
	st := status.Convert(err)
	pb := st.Proto()
	changed := false
	for i, a := range pb.GetDetails() {
		m, uerr := a.UnmarshalNew()
		if uerr != nil {
			continue
		}
		var br *errdetails.BadRequest
		switch d := m.(type) {
		case *errdetails.BadRequest:
			br = d
			for _, v := range br.GetFieldViolations() {
				v.Field = jsonPath(v.GetField())
			}
		case *validate.Violations:
			br = &errdetails.BadRequest{}
			for _, v := range d.GetViolations() {
				br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
					Field: jsonPath(protovalidate.FieldPathString(v.GetField())), Description: v.GetMessage(), Reason: v.GetRuleId(),
				})
			}
		default:
			continue
		}
		if na, merr := anypb.New(br); merr == nil {
			pb.Details[i], changed = na, true
		}
	}
	if !changed {
		return err
	}
	return status.ErrorProto(pb)
}

// routingError answers a method the path does not take with 405, where the
// mapping's default answers 501, which would call the client's mistake a
// server error; the body's code says the same (the request is wrong).
func routingError(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	if httpStatus == http.StatusMethodNotAllowed {
		writeError(w, http.StatusMethodNotAllowed, codes.InvalidArgument, "method "+r.Method+" is not allowed on "+r.URL.Path)
		return
	}
	runtime.DefaultRoutingErrorHandler(ctx, mux, m, w, r, httpStatus)
}

// writeError writes an error the HTTP side answers before the REST mapping
// sees the request, in the mapping's own error shape.
func writeError(w http.ResponseWriter, httpStatus int, code codes.Code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": code, "message": msg, "details": []any{}})
}

// jsonPath turns a proto field path (filter.user_name) into the JSON names
// the caller used (filter.userName).
func jsonPath(path string) string {
	parts := strings.Split(path, ".")
	for i, p := range parts {
		words := strings.Split(p, "_")
		for j := 1; j < len(words); j++ {
			if words[j] != "" {
				words[j] = strings.ToUpper(words[j][:1]) + words[j][1:]
			}
		}
		parts[i] = strings.Join(words, "")
	}
	return strings.Join(parts, ".")
}

func describeParseError(cause string) string {
	switch {
	case strings.Contains(cause, "value out of range"):
		return "is out of range"
	case strings.HasPrefix(cause, "strconv.Parse"):
		return "is not a valid number"
	case strings.HasPrefix(cause, "parsing time"):
		return `is not an RFC 3339 time such as "2024-01-31T12:00:00Z"`
	case strings.Contains(cause, "bool"):
		return "is not true or false"
	}
	return "has a value that is not valid for it"
}

// validUTF8 refuses a request whose path or query parameters are not valid
// UTF-8 with 400 naming the part (as a SCIM error on the SCIM endpoints): no
// API string can hold them, and passing them on would fail deep inside the
// gRPC client as an internal error.
func validUTF8(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bad := invalidUTF8(r)
		switch {
		case bad == "":
			next.ServeHTTP(w, r)
		case strings.HasPrefix(r.URL.Path, scim.Prefix+"/"):
			scim.WriteInvalid(w, bad)
		default:
			writeError(w, http.StatusBadRequest, codes.InvalidArgument, bad)
		}
	})
}

// invalidUTF8 says what part of a request is not valid UTF-8, or returns "".
// The Authorization header must be printable ASCII (gRPC metadata carries
// nothing else).
func invalidUTF8(r *http.Request) string {
	for _, c := range []byte(r.Header.Get("Authorization")) {
		if c < 0x20 || c > 0x7e {
			return "the Authorization header holds other than printable ASCII"
		}
	}
	if !utf8.ValidString(r.URL.Path) {
		return "the path is not valid UTF-8"
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return "the query string is not valid UTF-8"
	}
	for k, vs := range q {
		if !utf8.ValidString(k) {
			return "a query parameter name is not valid UTF-8"
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return "query parameter " + k + " is not valid UTF-8"
			}
		}
	}
	return ""
}
