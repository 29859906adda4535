package main

import (
	"runtime/debug"
	"testing"

	"golang.org/x/mod/semver"
)

// securityFloors are the lowest versions of the security-critical modules
// identityd may be built with: each is the release that fixed the module's
// last known advisory, named beside it. govulncheck cannot reach its database
// from the build machines, so this test stands in for it; raise a floor when
// an advisory is published.
var securityFloors = []struct {
	module, floor, advisory string
	linked                  bool // identityd must link it (SAML, HTTP/2)
}{
	{"github.com/russellhaering/goxmldsig", "v1.6.1", "CVE-2026-33487 / GHSA-479m-364c-43vc (signature bypass, fixed in v1.6.0; v1.6.1 also bounds canonicalization work)", true},
	{"github.com/crewjam/saml", "v0.4.14", "CVE-2023-45683 / GHSA-267v-3v32-g6q5 (javascript: URLs in the POST binding form)", true},
	{"github.com/go-jose/go-jose/v4", "v4.0.5", "CVE-2025-27144 / GHSA-c6gw-w398-hv78 (memory exhaustion on compact tokens with many dots)", false},
	{"golang.org/x/net", "v0.45.0", "CVE-2025-58190 and CVE-2025-47911 (html tokenizer and parser, quadratic work)", true},
	{"golang.org/x/crypto", "v0.45.0", "CVE-2025-58181 and CVE-2025-47914 (ssh and ssh/agent, unbounded memory and out-of-bounds read)", false},
}

// TestSecurityFloors reads the build information of this binary (which links
// what identityd links) and fails when a security-critical module is below
// its floor.
func TestSecurityFloors(t *testing.T) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("no build information in the test binary")
	}
	versions := map[string]string{}
	for _, d := range info.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		versions[d.Path] = d.Version
	}
	for _, f := range securityFloors {
		v, found := versions[f.module]
		switch {
		case !found && f.linked:
			t.Errorf("%s is not linked: the floor check would prove nothing", f.module)
		case !found:
			t.Logf("%s: not linked", f.module)
		case !semver.IsValid(v) || semver.Compare(v, f.floor) < 0:
			t.Errorf("%s %s is below %s, which fixed %s", f.module, v, f.floor, f.advisory)
		default:
			t.Logf("%s %s >= %s", f.module, v, f.floor)
		}
	}
}
