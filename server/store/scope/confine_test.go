package scope_test

import (
	"slices"
	"testing"

	"github.com/acme/identity/ent/migrate"
	"github.com/acme/identity/server/store/scope"
)

// TestEveryOwnedTableIsConfined fails when a table with a tenant_id or
// project_id column is not confined to the request's scope: a new
// tenant-owned entity must be added to Confine.
func TestEveryOwnedTableIsConfined(t *testing.T) {
	// The change log is written only by store.Writer and read only by the
	// follower, never by a request.
	own := map[string]bool{"changes": true}
	for _, table := range migrate.Tables {
		for _, c := range table.Columns {
			if (c.Name == "tenant_id" || c.Name == "project_id") && !own[table.Name] && !slices.Contains(scope.Confined(), table.Name) {
				t.Errorf("table %s has %s but scope.Confine does not confine it", table.Name, c.Name)
			}
		}
	}
}
