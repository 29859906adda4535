package store

import (
	"errors"
	"strings"

	"github.com/google/uuid"
	"golang.org/x/text/cases"
	"golang.org/x/text/secure/precis"
	"golang.org/x/text/unicode/norm"
)

// Names are compared by keys: two names with one key are one name. The rules
// follow RFC 8265 (PRECIS), so that look-alikes cannot become two users or
// two groups: composed and decomposed accents, other widths and cases are
// one name; controls, invisible characters (zero-width space and joiner,
// BOM), bidi overrides and unassigned code points are refused, never
// replaced. A name is stored as given; its key is what uniqueness and
// lookups use.

// ErrUserName and ErrName say why a name is refused.
var (
	ErrUserName = errors.New("a user name (and an email address) may hold letters, digits and printable symbols, " +
		"but no spaces, control or invisible characters or bidi overrides (RFC 8265 UsernameCaseMapped)")
	ErrName = errors.New("a group or role name may not be empty, start or end with a space, or hold control or " +
		"invisible characters or bidi overrides (RFC 8265 OpaqueString)")
)

// UserNameKey is the key of a user name or an email address: RFC 8265
// UsernameCaseMapped (width mapping, NFC, case mapping).
func UserNameKey(s string) (string, error) {
	if printableASCII(s, false) {
		return strings.ToLower(s), nil // what the profile gives for ASCII, without its cost
	}
	k, err := precis.UsernameCaseMapped.String(s)
	if err != nil {
		return "", ErrUserName
	}
	return k, nil
}

// NameKey is the key of a group or role name. The name must pass RFC 8265
// OpaqueString (spaces allowed; controls, invisible characters and bidi
// overrides refused); its key is its NFKC form (so other widths and styled
// letters such as mathematical bold are the same name), case-folded, with
// runs of spaces as one.
func NameKey(s string) (string, error) {
	// U+FFFD stands for a character lost on the way (invalid UTF-8, a lone
	// surrogate in JSON): two different names would become one.
	if s == "" || strings.HasPrefix(s, " ") || strings.HasSuffix(s, " ") || strings.ContainsRune(s, '\uFFFD') {
		return "", ErrName
	}
	if printableASCII(s, true) {
		return strings.Join(strings.Fields(strings.ToLower(s)), " "), nil
	}
	k, err := precis.OpaqueString.String(s)
	if err != nil || strings.HasPrefix(k, " ") || strings.HasSuffix(k, " ") {
		return "", ErrName
	}
	return strings.Join(strings.Fields(cases.Fold().String(norm.NFKC.String(k))), " "), nil
}

// UserNameLookup is the key to find a user (or an email) by: the name's key,
// or, for a name the rule refuses, its plain case fold, which is also the key
// of the few names stored before the rule that it refuses.
func UserNameLookup(s string) string {
	if k, err := UserNameKey(s); err == nil {
		return k
	}
	return Fold(s)
}

// NameLookup is UserNameLookup for group and role names.
func NameLookup(s string) string {
	if k, err := NameKey(s); err == nil {
		return k
	}
	return Fold(s)
}

// printableASCII says whether s is printable ASCII (with spaces when spaces
// is set), for which the profiles reduce to lower-casing.
func printableASCII(s string, spaces bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c > 0x7e || c < 0x20 || (c == ' ' && !spaces) {
			return false
		}
	}
	return s != ""
}

// Fold is Unicode case folding, the key rule before RFC 8265 keys: kept for
// names the new rule refuses (see UserNameLookup).
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
