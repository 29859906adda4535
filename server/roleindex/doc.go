// Package roleindex holds the in-memory index of effective roles of one
// tenant: roles assigned to users directly, plus the roles their groups grant
// (the role of the group's own name, and the roles mapped to the group). A
// deactivated user holds no role.
//
// Tenant, the index of one tenant, knows nothing of storage and is not safe
// for concurrent use; every change to it reports the effective-role changes it
// caused, for the watch stream. Index holds every tenant's, each behind a
// lock: it loads them from the database and follows the change log as a
// changelog.Loader, publishing each revision's role changes to watchers.
package roleindex
