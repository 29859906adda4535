package server

import (
	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// stringCondition turns a StringFilter into one predicate of an entity. eq and
// prefix receive the value as given (the caller folds case where the attribute
// ignores it); present and absent test for a non-empty value.
func stringCondition[P any](f *identityv1.StringFilter, eq, prefix func(string) P, present, absent func() P) (P, bool) {
	var zero P
	if f == nil {
		return zero, false
	}
	switch c := f.Condition.(type) {
	case *identityv1.StringFilter_Equals:
		return eq(c.Equals), true
	case *identityv1.StringFilter_StartsWith:
		return prefix(c.StartsWith), true
	case *identityv1.StringFilter_Present:
		if c.Present {
			return present(), true
		}
		return absent(), true
	}
	return zero, false
}
