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
// address, or with allowPrivate also a private or loopback one.
func Allowed(ip netip.Addr, allowPrivate bool) bool {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid(), ip.IsUnspecified(), ip.IsMulticast(), ip.IsLinkLocalUnicast(),
		ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast(), ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}),
		thisNetwork.Contains(ip):
		return false
	case ip.IsLoopback(), ip.IsPrivate(), sharedAddressSpace.Contains(ip):
		return allowPrivate
	}
	return true
}

var (
	// sharedAddressSpace is carrier-grade NAT (RFC 6598), private in effect.
	sharedAddressSpace = netip.MustParsePrefix("100.64.0.0/10")
	// thisNetwork is 0.0.0.0/8 (RFC 1122), which some systems route to
	// the host itself.
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
)

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
