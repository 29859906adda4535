package server

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/acme/identity/ent"
)

// errorDomain names this service in ErrorInfo details.
const errorDomain = "identity.acme.dev"

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

func notFound(kind, id string) error {
	return &Error{Code: codes.NotFound, Reason: "NOT_FOUND", Message: fmt.Sprintf("%s %q not found", kind, id)}
}

func alreadyExists(kind, field, value string) error {
	return &Error{
		Code:    codes.AlreadyExists,
		Reason:  "ALREADY_EXISTS",
		Message: fmt.Sprintf("a %s with %s %q already exists", kind, field, value),
	}
}

func invalidArgument(reason, msg string) error {
	return &Error{Code: codes.InvalidArgument, Reason: reason, Message: msg}
}

func invalidField(field, reason, msg string) error {
	return &Error{Code: codes.InvalidArgument, Reason: reason, Message: msg, Field: field}
}

func failedPrecondition(reason, msg string) error {
	return &Error{Code: codes.FailedPrecondition, Reason: reason, Message: msg}
}

// checkVersion fails with FailedPrecondition (VERSION_MISMATCH) when a
// caller's expected version (0: none) is not the resource's current one.
func checkVersion(current, expected int64) error {
	if expected != 0 && current != expected {
		return &Error{Code: codes.FailedPrecondition, Reason: "VERSION_MISMATCH",
			Message: fmt.Sprintf("the resource is at version %d, not the expected %d: read it again", current, expected)}
	}
	return nil
}

func permissionDenied(reason, msg string) error {
	return &Error{Code: codes.PermissionDenied, Reason: reason, Message: msg}
}

// toStatus is the one mapping of errors to gRPC status at the edge. Anything
// not recognised becomes Internal with a generic message; its cause goes to the
// log only, so SQL and driver details never reach callers.
func (srv *Server) toStatus(ctx context.Context, method string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var de *Error
	switch {
	case errors.As(err, &de):
		st := status.New(de.Code, de.Message)
		details := []protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: de.Reason, Domain: errorDomain}}
		if de.Field != "" {
			details = append(details, &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
				{Field: de.Field, Description: de.Message, Reason: de.Reason},
			}})
		}
		if withInfo, derr := st.WithDetails(details...); derr == nil {
			st = withInfo
		}
		return st.Err()
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request canceled")
	case ent.IsNotFound(err):
		return status.Error(codes.NotFound, "not found")
	case ent.IsConstraintError(err):
		return status.Error(codes.AlreadyExists, "the change conflicts with an existing resource")
	}
	srv.log.ErrorContext(ctx, "internal error", "method", method, "error", err)
	return status.Error(codes.Internal, "internal error")
}
