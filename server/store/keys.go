package store

import (
	"strings"

	"github.com/google/uuid"
	"golang.org/x/text/cases"
)

// Fold is the case-insensitive key of user names, emails, group names and
// role names: Unicode case folding, so "Straße" and "STRASSE" are one name.
func Fold(s string) string {
	// ASCII folds to lower case; this path allocates nothing for a name that is
	// lower case already, which role checks hit on every call.
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return cases.Fold().String(s)
		}
	}
	return strings.ToLower(s)
}

// NewID returns a server-assigned resource id: a UUIDv7, whose order is
// creation order, so id-ordered lists read oldest first.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }
