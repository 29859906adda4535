package authz

// Built-in roles of access keys.
const (
	RoleProjectAdmin = "Project Admin"
	RoleTenantAdmin  = "Tenant Admin"
)

// Grants are what a caller may do: everything in its project (Project
// Admin), or permissions on single tenants.
type Grants struct {
	ProjectAdmin bool
	tenants      map[string]map[Permission]bool
}

// Grant adds permissions on a tenant.
func (g *Grants) Grant(tenantID string, perms ...Permission) {
	if g.tenants == nil {
		g.tenants = map[string]map[Permission]bool{}
	}
	if g.tenants[tenantID] == nil {
		g.tenants[tenantID] = map[Permission]bool{}
	}
	for _, perm := range perms {
		g.tenants[tenantID][perm] = true
	}
}

// GrantRole adds those of a tenant role's permissions that are API
// permissions; the others are the application's own.
func (g *Grants) GrantRole(tenantID string, permissions []string) {
	for _, perm := range permissions {
		if tenantPermission[Permission(perm)] {
			g.Grant(tenantID, Permission(perm))
		}
	}
}
