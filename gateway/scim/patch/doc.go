// Package patch decodes SCIM PATCH requests (RFC 7644 section 3.5.2) and
// applies them: to a typed User, field by field (no reflection), and to a
// Group as a list of membership deltas and renames, so a group's members are
// never rewritten from a read of the whole list. Op names are
// case-insensitive, booleans may arrive as strings, and a path-less value is
// split into one operation per attribute (URN-prefixed and dotted keys
// included), as Okta and Entra ID send them.
package patch
