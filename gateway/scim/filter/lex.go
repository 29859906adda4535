package filter

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

type tokKind int

const (
	tokEOF tokKind = iota
	tokWord
	tokString
	tokLParen
	tokRParen
	tokLBracket
	tokRBracket
)

type token struct {
	kind tokKind
	text string
	pos  int
}

// MaxLength bounds a filter or path.
const MaxLength = 4096

// lex splits a filter into words (attribute paths, operators, literals),
// JSON strings and brackets. A "." right after "]" starts a word of its own
// (the sub-attribute of a value path).
func lex(s string) ([]token, error) {
	if len(s) > MaxLength {
		return nil, &Error{Pos: MaxLength, Msg: fmt.Sprintf("longer than %d bytes", MaxLength)}
	}
	if !utf8.ValidString(s) {
		return nil, &Error{Pos: 0, Msg: "the filter is not valid UTF-8"}
	}
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')' || c == '[' || c == ']':
			kind := map[byte]tokKind{'(': tokLParen, ')': tokRParen, '[': tokLBracket, ']': tokRBracket}[c]
			out = append(out, token{kind: kind, text: string(c), pos: i})
			i++
		case c == '"':
			j, str, err := lexString(s, i)
			if err != nil {
				return nil, err
			}
			out = append(out, token{kind: tokString, text: str, pos: i})
			i = j
		default:
			j := i + 1
			for j < len(s) && !isDelim(s[j]) {
				j++
			}
			out = append(out, token{kind: tokWord, text: s[i:j], pos: i})
			i = j
		}
	}
	return append(out, token{kind: tokEOF, pos: len(s)}), nil
}

func isDelim(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '(', ')', '[', ']', '"':
		return true
	}
	return false
}

// lexString reads a JSON string literal starting at s[i] == '"'.
func lexString(s string, i int) (int, string, error) {
	j := i + 1
	for j < len(s) {
		switch s[j] {
		case '\\':
			j += 2
			continue
		case '"':
			var out string
			if err := json.Unmarshal([]byte(s[i:j+1]), &out); err != nil {
				return 0, "", &Error{Pos: i, Msg: "the string is not valid JSON: " + err.Error()}
			}
			return j + 1, out, nil
		}
		j++
	}
	return 0, "", &Error{Pos: i, Msg: "the string is not closed"}
}
