package apierr

import (
	"fmt"

	"google.golang.org/grpc/codes"
)

// Domain names this service in ErrorInfo details.
const Domain = "identity.acme.dev"

// Error is a domain error: a gRPC code, a stable machine-readable reason (sent
// as ErrorInfo) and a message for people.
type Error struct {
	Code    codes.Code
	Reason  string
	Message string
	// Field names the request field at fault, for InvalidArgument; it is sent
	// as a BadRequest field violation.
	Field string
}

func (e *Error) Error() string { return e.Message }

// NotFound says that a resource of kind with id does not exist, or is not the
// caller's to see: both answer the same, so ids never reveal other tenants.
func NotFound(kind, id string) error {
	return &Error{Code: codes.NotFound, Reason: "NOT_FOUND", Message: fmt.Sprintf("%s %q not found", kind, id)}
}

// AlreadyExists says that another resource of kind holds value in field.
func AlreadyExists(kind, field, value string) error {
	return &Error{
		Code:    codes.AlreadyExists,
		Reason:  "ALREADY_EXISTS",
		Message: fmt.Sprintf("a %s with %s %q already exists", kind, field, value),
	}
}

// InvalidArgument refuses a request as a whole.
func InvalidArgument(reason, msg string) error {
	return &Error{Code: codes.InvalidArgument, Reason: reason, Message: msg}
}

// InvalidField refuses one field of a request.
func InvalidField(field, reason, msg string) error {
	return &Error{Code: codes.InvalidArgument, Reason: reason, Message: msg, Field: field}
}

// FailedPrecondition refuses a request the current state does not allow.
func FailedPrecondition(reason, msg string) error {
	return &Error{Code: codes.FailedPrecondition, Reason: reason, Message: msg}
}

// ShuttingDown ends a call (a stream) because the server is stopping: the
// client retries elsewhere, or after the restart.
func ShuttingDown(msg string) error {
	return &Error{Code: codes.Unavailable, Reason: "SHUTTING_DOWN", Message: msg}
}

// PermissionDenied refuses a caller that may see the resource but not do this.
func PermissionDenied(reason, msg string) error {
	return &Error{Code: codes.PermissionDenied, Reason: reason, Message: msg}
}

// CheckVersion fails with FailedPrecondition (VERSION_MISMATCH) when a
// caller's expected version (0: none) is not the resource's current one.
func CheckVersion(current, expected int64) error {
	if expected != 0 && current != expected {
		return &Error{Code: codes.FailedPrecondition, Reason: "VERSION_MISMATCH",
			Message: fmt.Sprintf("the resource is at version %d, not the expected %d: read it again", current, expected)}
	}
	return nil
}
