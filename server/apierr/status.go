package apierr

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/acme/identity/ent"
)

// ToStatus is the one mapping of errors to gRPC status at the edge. Anything
// not recognised becomes Internal with a generic message; its cause goes to
// log only, so SQL and driver details never reach callers.
func ToStatus(ctx context.Context, log *slog.Logger, method string, err error) error {
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
		details := []protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: de.Reason, Domain: Domain}}
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
	case busy(err):
		log.WarnContext(ctx, "database busy", "method", method, "error", err)
		return busyStatus()
	}
	log.ErrorContext(ctx, "internal error", "method", method, "error", err)
	return status.Error(codes.Internal, "internal error")
}
