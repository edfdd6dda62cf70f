package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrForbiddenAddress is the guard's refusal: the target resolved to (or
// names) an address flowbus never delivers to.
var ErrForbiddenAddress = errors.New("address is not allowed as a webhook target")

// AddressError says which address was refused and why; it unwraps to
// ErrForbiddenAddress.
type AddressError struct {
	Addr   netip.Addr
	Reason string
}

func (e *AddressError) Error() string {
	return fmt.Sprintf("%s: %s", e.Addr, e.Reason)
}

func (e *AddressError) Unwrap() error { return ErrForbiddenAddress }

// Policy says which addresses a target may reach. The zero Policy allows
// public addresses only.
type Policy struct {
	// AllowPlainLoopback allows loopback targets (127.0.0.0/8, ::1), over
	// http:// as well as https://. The local runtime sets it; a deployment
	// never does. Plain http:// is refused for every other address.
	AllowPlainLoopback bool
	// AllowPrivate allows private ranges: RFC 1918 (10/8, 172.16/12,
	// 192.168/16), IPv6 unique local fc00::/7 and shared 100.64/10, for a
	// deployment whose subscribers live in its own network.
	AllowPrivate bool
}

// Addresses refused whatever the policy: cloud metadata services that sit
// outside the ranges refused below.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("fd00:ec2::254"),   // AWS IMDS over IPv6
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
	netip.MustParseAddr("168.63.129.16"),   // Azure wire server
	netip.MustParseAddr("192.0.0.192"),     // Oracle Cloud (older)
}

// metadataHosts are names of metadata services; they are refused at
// validation, before any lookup (the dial check refuses their addresses
// anyway).
var metadataHosts = []string{
	"metadata.google.internal",
	"metadata.goog",
	"metadata",
	"instance-data",
	"instance-data.ec2.internal",
	"metadata.azure.internal",
	"metadata.tencentyun.com",
}

var (
	sharedRange = netip.MustParsePrefix("100.64.0.0/10")
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	reserved    = netip.MustParsePrefix("240.0.0.0/4")
	nat64       = netip.MustParsePrefix("64:ff9b::/96")
)

// Check says why a is refused under p, or "" when it is allowed.
func (p Policy) Check(a netip.Addr) string {
	a = a.Unmap()
	if nat64.Contains(a) { // judge the IPv4 address a NAT64 gateway would reach
		b := a.As16()
		a = netip.AddrFrom4([4]byte(b[12:]))
	}
	for _, m := range metadataAddrs {
		if a == m {
			return "cloud metadata service"
		}
	}
	switch {
	case !a.IsValid():
		return "not an IP address"
	case a.IsUnspecified(), a.Is4() && thisNetwork.Contains(a):
		return "unspecified address"
	case a.IsLinkLocalUnicast():
		return "link-local address (cloud metadata lives here)"
	case a.IsMulticast(), a.IsLinkLocalMulticast(), a.IsInterfaceLocalMulticast():
		return "multicast address"
	case a.Is4() && (reserved.Contains(a)):
		return "reserved or broadcast address"
	case a.IsLoopback():
		if !p.AllowPlainLoopback {
			return "loopback address"
		}
	case a.IsPrivate(), a.Is4() && sharedRange.Contains(a):
		if !p.AllowPrivate {
			return "private address"
		}
	}
	return ""
}

// control is the net.Dialer Control function: it runs after the name is
// resolved and before connect, on the address actually dialled, so a name
// that resolves to a public address when validated and to a metadata
// address when delivered (DNS rebinding) is still refused.
func (p Policy) control(loopbackOnly bool) func(network, address string, _ syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return &AddressError{Reason: fmt.Sprintf("cannot read dialled address %q", address)}
		}
		a := ap.Addr().WithZone("")
		if reason := p.Check(a); reason != "" {
			return &AddressError{Addr: a, Reason: reason}
		}
		if loopbackOnly && !a.Unmap().IsLoopback() {
			return &AddressError{Addr: a, Reason: "plain http:// is allowed to loopback only"}
		}
		return nil
	}
}

// LookupFunc resolves a host name to addresses; net.DefaultResolver's
// LookupNetIP(ctx, "ip", host) by default. Tests replace it to aim a name at
// any address without DNS.
type LookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

// dialer dials through p's control function, resolving with lookup.
type dialer struct {
	d      net.Dialer
	lookup LookupFunc
}

func (d *dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else if addrs, err = d.lookup(ctx, host); err != nil {
		return nil, err
	}
	var first error
	for _, a := range addrs {
		c, err := d.d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	if first == nil {
		first = fmt.Errorf("%s has no addresses", host)
	}
	return nil, first
}

// MaxURLBytes is the longest target URL a subscription may name.
const MaxURLBytes = 2048

// URLField is the field a target URL problem is reported under.
const URLField = "target.url"

// ErrInvalidTarget is what every *FieldError unwraps to.
var ErrInvalidTarget = errors.New("invalid webhook target")

// FieldError names the subscription field that is wrong and why.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
	Limit  int    `json:"limit,omitempty"`
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

func (e *FieldError) Unwrap() error { return ErrInvalidTarget }

// ValidateURL checks a target URL when a subscription is created or
// changed, without DNS: an absolute https URL (http only to a loopback
// host under AllowPlainLoopback), no credentials or fragment, and a host
// that is not a refused address or a metadata service's name. Names are
// checked again, address by address, on every connection.
func (p Policy) ValidateURL(raw string) error {
	bad := func(reason string) error { return &FieldError{Field: URLField, Reason: reason} }
	if raw == "" {
		return bad("is required")
	}
	if len(raw) > MaxURLBytes {
		return &FieldError{Field: URLField, Reason: fmt.Sprintf("is %d bytes, more than the limit", len(raw)), Limit: MaxURLBytes}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("is not a URL")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return bad("must be an https:// URL")
	}
	if u.Opaque != "" || u.Host == "" {
		return bad("must be an absolute URL with a host")
	}
	if u.User != nil {
		return bad("must not carry credentials")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return bad("must not have a fragment")
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" {
		return bad("must name a host")
	}
	if port := u.Port(); port != "" {
		if n, err := parsePort(port); err != nil || n == 0 {
			return bad("has an invalid port")
		}
	}
	loopbackName := host == "localhost" || strings.HasSuffix(host, ".localhost")
	a, err := netip.ParseAddr(host)
	isIP := err == nil
	if u.Scheme == "http" {
		switch {
		case !p.AllowPlainLoopback:
			return bad("must be an https:// URL (plain http:// only to loopback in the local runtime)")
		case !loopbackName && !(isIP && a.Unmap().IsLoopback()):
			return bad("plain http:// is allowed to loopback only; use https://")
		}
	}
	if isIP {
		if reason := p.Check(a); reason != "" {
			return bad("must not be a " + reason)
		}
		return nil
	}
	for _, m := range metadataHosts {
		if host == m {
			return bad("must not be a cloud metadata service")
		}
	}
	if loopbackName && !p.AllowPlainLoopback {
		return bad("must not be a loopback address")
	}
	return nil
}

// ResolveTimeout bounds the lookup CheckResolved makes.
const ResolveTimeout = 2 * time.Second

// CheckResolved resolves a target URL's host name, when it is one, and
// refuses it with a *FieldError on target.url when any address it resolves
// to is refused under p (or, for http://, is not loopback), naming the
// address and the reason. It runs when a subscription is created or
// changed, after ValidateURL, so a caller learns at once that
// https://metadata.example.com points at 169.254.169.254. A name that does
// not resolve now is accepted: DNS answers change, and the dial-time check
// (the Dialer's Control function) refuses every address actually dialled,
// whatever it resolved to at creation.
func (p Policy) CheckResolved(ctx context.Context, lookup LookupFunc, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return nil // ValidateURL reports it
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if _, err := netip.ParseAddr(host); err == nil || host == "" {
		return nil // an address: ValidateURL judged it
	}
	if lookup == nil {
		lookup = DefaultLookup
	}
	ctx, cancel := context.WithTimeout(ctx, ResolveTimeout)
	defer cancel()
	addrs, err := lookup(ctx, host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		a = a.WithZone("")
		if reason := p.Check(a); reason != "" {
			return &FieldError{Field: URLField, Reason: fmt.Sprintf("resolves to %s, which is not allowed: %s", a, reason)}
		}
		if u.Scheme == "http" && !a.Unmap().IsLoopback() {
			return &FieldError{Field: URLField, Reason: fmt.Sprintf("resolves to %s; plain http:// is allowed to loopback only", a)}
		}
	}
	return nil
}

// DefaultLookup resolves with net.DefaultResolver.
func DefaultLookup(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

func parsePort(s string) (int, error) {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errors.New("not a number")
		}
		n = n*10 + int(c-'0')
		if n > 65535 {
			return 0, errors.New("out of range")
		}
	}
	return n, nil
}
