// Package filter is the one filter compiler of the core: the table of
// filterable attributes of each resource and how each compares (case rules
// included), the typed filter fields of list requests turned into the same
// FilterExpression a SCIM filter becomes, and the compilation of expressions
// into SQL predicates. Adding a filterable attribute touches one table here.
package filter
