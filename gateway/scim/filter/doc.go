// Package filter parses SCIM filters (RFC 7644 section 3.4.2.2) and PATCH
// paths (section 3.5.2) into a typed expression. It is written by hand: the
// Go SCIM filter parsers available either build untyped trees through a
// parser generator with their own runtime, or miss value paths with
// sub-attributes (`emails[type eq "work"].value`, which Entra ID sends), and
// the grammar is small enough for a recursive-descent parser to be the
// clearest form.
package filter
