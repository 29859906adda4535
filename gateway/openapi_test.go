package gateway

import (
	"encoding/json"
	"regexp"
	"testing"

	"github.com/acme/identity/gen/openapi"
)

// TestOpenAPIPathsUnique fails when two paths of the OpenAPI document are
// the same template under different parameter names
// (/v1/tenants/{tenantId}/users/{userId} and
// /v1/tenants/{user.tenantId}/users/{user.id}): a generated client would
// get two methods for one resource. Request fields that name a resource in
// a path carry its name (path_param_name in the protos).
func TestOpenAPIPathsUnique(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openapi.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	param := regexp.MustCompile(`\{[^}]*\}`)
	seen := map[string]string{}
	for path := range doc.Paths {
		template := param.ReplaceAllString(path, "{}")
		if other, ok := seen[template]; ok {
			t.Errorf("%s and %s are one path under two names", path, other)
		}
		seen[template] = path
	}
}
