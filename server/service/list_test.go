package service

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"

	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/apierr"
)

// FuzzPageToken feeds arbitrary tokens to the decoder: it never panics, and
// refuses everything it did not issue for the same query with InvalidArgument.
func FuzzPageToken(f *testing.F) {
	filter := &identityv1.UserFilter{ExternalId: &identityv1.StringFilter{Condition: &identityv1.StringFilter_Equals{Equals: "x"}}}
	valid, _ := readPage(10, "", "tenant", filter)
	f.Add(valid.next("01a20706-7479-78cd-b7ff-d1cf08336191"))
	f.Add("")
	f.Add("e30")
	f.Add("not base64 !")
	f.Fuzz(func(t *testing.T, token string) {
		p, err := readPage(10, token, "tenant", filter)
		if err != nil {
			var de *apierr.Error
			if !errors.As(err, &de) || de.Code != codes.InvalidArgument {
				t.Fatalf("token %q: %v", token, err)
			}
			return
		}
		if token != "" && p.after == "" {
			t.Fatalf("token %q accepted without a position", token)
		}
		if _, err := readPage(10, token, "other tenant", filter); token != "" && err == nil {
			t.Fatalf("token %q accepted for another query", token)
		}
		order := &identityv1.SortOrder{Attribute: "title"}
		if _, err := readPage(10, token, "tenant", filter, order); token != "" && err == nil {
			t.Fatalf("token %q accepted for another order", token)
		}
	})
}
