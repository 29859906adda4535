package saml

import (
	"net/netip"
	"testing"
)

// TestAllowed is the address rule of metadata fetches; it sends no traffic.
func TestAllowed(t *testing.T) {
	cases := []struct {
		addr                string
		byDefault, withFlag bool
	}{
		{"93.184.215.14", true, true},            // public IPv4
		{"2606:4700:4700::1111", true, true},     // public IPv6
		{"127.0.0.1", false, true},               // loopback
		{"127.8.9.10", false, true},              // loopback
		{"::1", false, true},                     // loopback
		{"::ffff:127.0.0.1", false, true},        // loopback, IPv4-mapped
		{"10.1.2.3", false, true},                // RFC 1918
		{"172.16.0.1", false, true},              // RFC 1918
		{"192.168.1.1", false, true},             // RFC 1918
		{"100.64.0.1", false, true},              // RFC 6598 shared address space
		{"fd00::1", false, true},                 // unique local
		{"169.254.169.254", false, false},        // link-local: cloud metadata
		{"::ffff:169.254.169.254", false, false}, // the same, IPv4-mapped
		{"fe80::1", false, false},                // link-local
		{"0.0.0.0", false, false},                // unspecified
		{"0.1.2.3", false, false},                // "this network"
		{"::", false, false},                     // unspecified
		{"224.0.0.1", false, false},              // multicast
		{"ff02::1", false, false},                // multicast
		{"255.255.255.255", false, false},        // broadcast
	}
	for _, c := range cases {
		ip := netip.MustParseAddr(c.addr)
		if got := Allowed(ip, false); got != c.byDefault {
			t.Errorf("%s by default: %v, want %v", c.addr, got, c.byDefault)
		}
		if got := Allowed(ip, true); got != c.withFlag {
			t.Errorf("%s with private allowed: %v, want %v", c.addr, got, c.withFlag)
		}
	}
}
