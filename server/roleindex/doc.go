// Package roleindex holds the in-memory index of effective roles of one
// tenant: roles assigned to users directly, plus the roles their groups grant
// (the role of the group's own name, and the roles mapped to the group). A
// deactivated user holds no role.
//
// It knows nothing of storage: the server loads it from the database and
// applies each committed change to it, and every change reports the
// effective-role changes it caused, for the watch stream. It is not safe for
// concurrent use; the server guards each tenant's index with a lock.
package roleindex
