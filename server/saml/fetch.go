package saml

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"github.com/acme/identity/server/apierr"
)

const (
	// MetadataTimeout bounds a metadata fetch, redirects included.
	MetadataTimeout  = 10 * time.Second
	maxMetadataBytes = 1 << 20
	maxRedirects     = 3
)

// FetchOptions configure a Fetcher; the zero value is the safe default.
type FetchOptions struct {
	// Timeout bounds a fetch (0: MetadataTimeout).
	Timeout time.Duration
	// AllowPrivate also lets the server fetch from private (RFC 1918, RFC 6598,
	// unique local) and loopback addresses, for IdPs on the operator's own
	// network. Link-local (cloud metadata services), unspecified, multicast
	// and broadcast addresses stay refused.
	AllowPrivate bool
	// Log receives why a fetch failed; the caller learns only that it did.
	Log *slog.Logger
}

// Fetcher downloads IdP metadata from URLs that tenant administrators give.
// Because the server makes the request, the URL must not reach what only
// the server can reach: every connection (the first, and each of at most
// maxRedirects redirects) is checked against the address it actually dials,
// after name resolution, so neither a redirect nor a DNS answer that changes
// between check and use (rebinding) gets around the rule.
type Fetcher struct {
	client *http.Client
	log    *slog.Logger
}

// NewFetcher returns a fetcher with opts.
func NewFetcher(opts FetchOptions) *Fetcher {
	if opts.Timeout == 0 {
		opts.Timeout = MetadataTimeout
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	dialer := &net.Dialer{
		Timeout: opts.Timeout,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("dial %s: not an IP address", address)
			}
			if !Allowed(ap.Addr(), opts.AllowPrivate) {
				return fmt.Errorf("dial %s: %w", address, errRefusedAddress)
			}
			return nil
		},
	}
	transport := &http.Transport{
		Proxy:                 nil, // an environment proxy would dial on the server's behalf, unchecked
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   opts.Timeout,
		ResponseHeaderTimeout: opts.Timeout,
		MaxIdleConns:          1,
		DisableKeepAlives:     true,
	}
	client := &http.Client{
		Transport: transport,
		Timeout:   opts.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return fmt.Errorf("more than %d redirects", maxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to a %s URL", req.URL.Scheme)
			}
			return nil
		},
	}
	return &Fetcher{client: client, log: opts.Log}
}

var errRefusedAddress = errors.New("the address is not one metadata is fetched from")

// Allowed says whether metadata may be fetched from ip: a public unicast
// address, or with allowPrivate also a private (RFC 1918, RFC 6598, unique
// local) or loopback one. Special-purpose ranges (link-local, documentation,
// benchmarking, reserved, multicast, protocol assignments) and the cloud
// providers' metadata addresses are refused either way, and IPv6 forms that
// carry an IPv4 address (NAT64, 6to4, IPv4-compatible, IPv4-mapped) are
// judged by that address.
func Allowed(ip netip.Addr, allowPrivate bool) bool {
	ip = ip.Unmap()
	if v4, ok := embeddedIPv4(ip); ok {
		return Allowed(v4, allowPrivate)
	}
	switch {
	case !ip.IsValid(), ip.IsUnspecified(), ip.IsMulticast(), ip.IsLinkLocalUnicast(),
		ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast(), inAny(ip, refused):
		return false
	case ip.IsLoopback(), ip.IsPrivate(), inAny(ip, private):
		return allowPrivate
	}
	return true
}

var (
	// refused are special-purpose ranges (IANA's registries) and metadata
	// services that no IdP's metadata is served from.
	refused = prefixes(
		"0.0.0.0/8", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
		"240.0.0.0/4",                                                 // reserved, and the broadcast address
		"100.100.100.200/32", "168.63.129.16/32", "fd00:ec2::254/128", // Alibaba, Azure, AWS (IPv6) metadata
		"100::/64", "2001::/23", "2001:db8::/32", "fec0::/10",
	)
	// private are ranges private in effect beside those IsPrivate knows.
	private = prefixes("100.64.0.0/10") // carrier-grade NAT (RFC 6598)

	nat64      = prefixes("64:ff9b::/96", "64:ff9b:1::/48")
	sixToFour  = netip.MustParsePrefix("2002::/16")
	compatible = netip.MustParsePrefix("::/96") // IPv4-compatible (deprecated)
)

// embeddedIPv4 returns the IPv4 address an IPv6 address of a transition
// form carries.
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() {
		return netip.Addr{}, false
	}
	b := ip.As16()
	switch {
	case inAny(ip, nat64), compatible.Contains(ip) && !ip.IsUnspecified() && ip != netip.IPv6Loopback():
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	return netip.Addr{}, false
}

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func inAny(ip netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// errUnavailable is every failure to fetch: the caller learns that the URL
// could not be fetched, never why (closed port, non-HTTP service, status,
// refused address), so the server cannot be used to probe a network. The
// reason goes to the log.
var errUnavailable = apierr.InvalidField("metadata_url", "METADATA_UNAVAILABLE",
	"the metadata URL could not be fetched: check that it is a public http or https URL of your IdP's SAML metadata")

// Fetch downloads IdP metadata: http and https only, within the timeout and
// maxMetadataBytes, from allowed addresses only.
func (f *Fetcher) Fetch(ctx context.Context, rawURL string) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, apierr.InvalidField("metadata_url", "METADATA_UNAVAILABLE", "metadata_url must be an http or https URL")
	}
	body, reason := f.get(ctx, u)
	if reason != "" {
		f.log.WarnContext(ctx, "IdP metadata not fetched", "host", u.Host, "reason", reason)
		return nil, errUnavailable
	}
	return body, nil
}

// get fetches u, or says why it could not.
func (f *Fetcher) get(ctx context.Context, u *url.URL) ([]byte, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err.Error()
	}
	req.Header.Set("Accept", "application/samlmetadata+xml, application/xml, text/xml")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err.Error()
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataBytes+1))
	if err != nil {
		return nil, "read: " + err.Error()
	}
	if len(body) > maxMetadataBytes {
		return nil, fmt.Sprintf("larger than %d bytes", maxMetadataBytes)
	}
	return body, ""
}
