// Package authz decides what a caller may do: the API permissions, what the
// built-in roles grant, the table of every method's permission and scope
// (checked against the service descriptors by a test), and Authorize.
package authz
