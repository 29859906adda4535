package server_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// TestInternalErrorsDoNotLeak breaks the database under a running server: the
// caller gets Internal with a generic message, the log gets the cause.
func TestInternalErrorsDoNotLeak(t *testing.T) {
	e := newEnv(t, databases()[0])
	tid := e.tenant(t)
	e.user(t, tid, "ada")
	// Dropping a table makes every user query fail inside the driver.
	if _, err := e.db.ExecContext(t.Context(), "DROP TABLE emails"); err != nil {
		t.Fatal(err)
	}
	_, err := e.users.ListUsers(e.ctx, &identityv1.ListUsersRequest{TenantId: tid})
	wantCode(t, err, codes.Internal)
	msg := status.Convert(err).Message()
	if msg != "internal error" {
		t.Fatalf("caller saw %q", msg)
	}
	if !strings.Contains(e.logs.String(), "emails") {
		t.Fatalf("the cause is not in the log:\n%s", e.logs.String())
	}
}
