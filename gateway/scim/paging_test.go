package scim_test

import (
	"strconv"
	"strings"
	"testing"
)

// TestStartIndexPastTheEnd: any startIndex past the last resource answers an
// empty page with the right totalResults (RFC 7644 3.4.2.4), however large,
// including values that overflow 32 and 64 bits; a startIndex that is not an
// integer is invalidValue.
func TestStartIndexPastTheEnd(t *testing.T) {
	e := newEnv(t)
	createUser(t, e, "ada@example.com")
	createUser(t, e, "grace@example.com")
	cases := []struct {
		startIndex string
		wantItems  int
	}{
		{"-5", 2},
		{"-99999999999999999999999", 2},
		{"2", 1},
		{"3", 0},
		{"10000001", 0},
		{"10000002", 0},
		{"2147483648", 0},
		{"4294967297", 0},
		{"99999999999999999999999", 0},
	}
	for _, c := range cases {
		t.Run(c.startIndex, func(t *testing.T) {
			for _, kind := range []string{"/Users", "/Groups"} {
				r := call(t, e, e.token, "GET", kind+"?count=2&startIndex="+c.startIndex, "").want(t, 200)
				total := map[string]string{"/Users": "2", "/Groups": "0"}[kind]
				want := c.wantItems
				if kind == "/Groups" {
					want = 0
				}
				if r.str("totalResults") != total || len(r.resources()) != want || r.str("itemsPerPage") != strconv.Itoa(want) {
					t.Fatalf("%s: %s", kind, r.raw)
				}
			}
		})
	}
	call(t, e, e.token, "GET", "/Users?startIndex=first", "").want(t, 400)
}

// TestLongOrFilter: a filter of many "or" terms, as IdPs build to look up a
// batch of users, is a deep chain, and works.
func TestLongOrFilter(t *testing.T) {
	e := newEnv(t)
	id := createUser(t, e, "ada@example.com")
	terms := []string{`id eq "` + id + `"`}
	for range 60 {
		terms = append(terms, `userName eq "nobody@example.com"`)
	}
	r := call(t, e, e.token, "GET", "/Users"+q(strings.Join(terms, " or ")), "").want(t, 200)
	if r.str("totalResults") != "1" {
		t.Fatalf("%s", r.raw)
	}
}
