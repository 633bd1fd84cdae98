package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Networks says which addresses beyond the public internet webhooks may be
// posted to. Webhook URLs come from users, and sign-up is open by default,
// so by default Klaxon posts only to public addresses.
type Networks struct {
	// AllowLoopback lets webhooks reach this machine's loopback addresses
	// (-webhook-allow-loopback: a Mattermost on the same host).
	AllowLoopback bool
	// Allowed are the operator's networks (-webhook-networks) that may be
	// posted to although they are private, shared, loopback or this
	// machine's own. They never open link-local, multicast or unspecified
	// addresses.
	Allowed []netip.Prefix
	// Own are this machine's addresses (see HostAddrs), refused unless
	// Allowed: services that listen on every interface answer on them, even
	// on a public one.
	Own []netip.Addr
}

// RefusedError is a post the client would not make because of the address
// the webhook's host resolved to. Its text is what the user reads in the
// delivery log, so it says what to do.
type RefusedError struct {
	Kind string // e.g. "private network", or ownKind
	// Allowable says whether the operator can allow the address with
	// -webhook-networks.
	Allowable bool
}

// ownKind is the Kind of this machine's own addresses.
const ownKind = "this machine's own"

func (e *RefusedError) Error() string {
	if !e.Allowable {
		return fmt.Sprintf("refused: the webhook's host is at %s, and Klaxon never posts to those", e.address())
	}
	return fmt.Sprintf("refused: the webhook's host is at %s, and Klaxon posts only to public addresses "+
		"unless its operator allows the network with KLAXON_WEBHOOK_NETWORKS (the -webhook-networks flag)", e.address())
}

func (e *RefusedError) address() string {
	if e.Kind == ownKind {
		return "one of this machine's own addresses"
	}
	return withArticle(e.Kind + " address")
}

// NewClient returns the HTTP client that posts to webhooks. It checks the
// address actually dialled, so that DNS tricks (a public name resolving to
// a private address, or changing between checks) do not get around nets.
// It never follows redirects and uses no proxy.
func NewClient(nets Networks) *http.Client {
	dialer := &net.Dialer{
		Timeout: 5 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip, err := netip.ParseAddr(host)
			if err != nil {
				return fmt.Errorf("webhook address %q is not an IP address", host)
			}
			if refused := nets.refuse(ip); refused != nil {
				return refused
			}
			return nil
		},
	}
	transport := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, addr)
		},
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       60 * time.Second,
	}
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// CheckWebhook tells, when a channel is saved, whether Klaxon would refuse to
// post to the webhook's host: every address it resolves to is refused. A
// host that does not resolve now is not judged (the test message and the
// delivery log will tell); the check at dial time stays what counts.
func (n Networks) CheckWebhook(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" {
		return nil // the form's own validation says what is wrong
	}
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if addrs, err = net.DefaultResolver.LookupNetIP(ctx, "ip", u.Hostname()); err != nil {
			return nil
		}
	}
	var refused *RefusedError
	for _, ip := range addrs {
		r := n.refuse(ip)
		if r == nil {
			return nil
		}
		refused = r
	}
	if refused == nil {
		return nil
	}
	return refused
}

// HostAddrs lists this machine's interface addresses, for Networks.Own.
func HostAddrs() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out, nil
}

var (
	sharedNet   = netip.MustParsePrefix("100.64.0.0/10") // carrier-grade NAT, often used inside clouds and VPNs
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")     // Linux dials 0.0.0.0 as this machine
	broadcast   = netip.MustParseAddr("255.255.255.255")
	azureHost   = netip.MustParseAddr("168.63.129.16") // Azure's host services (a public address, like metadata elsewhere)
)

// neverNets are never's ranges, for ParseNetworks to turn down.
var neverNets = []struct {
	net  netip.Prefix
	kind string
}{
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
	{thisNetwork, "unspecified"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.PrefixFrom(broadcast, 32), "broadcast"},
	{netip.PrefixFrom(azureHost, 32), "cloud host service"},
}

// refuse says why ip may not be posted to, or returns nil.
func (n Networks) refuse(ip netip.Addr) *RefusedError {
	ip = ip.Unmap().WithZone("")
	if v4, ok := embeddedIPv4(ip); ok {
		// An IPv6 address that carries an IPv4 one (NAT64 on an IPv6-only
		// host, 6to4…) reaches that IPv4 address: it is judged as such,
		// and opened by a setting that opens either spelling.
		refused := n.refuse(v4)
		if refused != nil && refused.Allowable && n.allows(ip) {
			return nil
		}
		return refused
	}
	if kind := never(ip); kind != "" {
		return &RefusedError{Kind: kind}
	}
	kind := n.internal(ip)
	if kind == "" || (kind == "loopback" && n.AllowLoopback) {
		return nil
	}
	if n.allows(ip) {
		return nil
	}
	return &RefusedError{Kind: kind, Allowable: true}
}

// allows says whether the operator's networks hold ip.
func (n Networks) allows(ip netip.Addr) bool {
	for _, p := range n.Allowed {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// IPv6 ranges whose addresses carry an IPv4 address.
var (
	nat64Net     = netip.MustParsePrefix("64:ff9b::/96")    // well-known NAT64 prefix: the last 32 bits
	compatNet    = netip.MustParsePrefix("::/96")           // IPv4-compatible (deprecated): the last 32 bits
	siitNet      = netip.MustParsePrefix("::ffff:0:0:0/96") // IPv4-translated (SIIT): the last 32 bits
	sixToFourNet = netip.MustParsePrefix("2002::/16")       // 6to4: bits 16 to 48
)

// embeddedIPv4 returns the IPv4 address that ip, an IPv6 address, carries.
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() {
		return netip.Addr{}, false
	}
	b := ip.As16()
	switch {
	case nat64Net.Contains(ip), siitNet.Contains(ip),
		compatNet.Contains(ip) && ip != netip.IPv6Unspecified() && ip != netip.IPv6Loopback():
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFourNet.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

// otherInternalNets are further ranges that are not the public internet:
// refused unless the operator's networks hold them.
var otherInternalNets = []struct {
	net  netip.Prefix
	kind string
}{
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64"}, // embeds IPv4 at a place of the operator's choosing
	{netip.MustParsePrefix("2001::/32"), "Teredo"},               // embeds an obfuscated IPv4 address
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking network"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"}, // TEST-NET-1, -2 and -3 and IPv6's: examples only
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
}

// never names ip's kind if no setting may open it, else returns "":
// link-local (cloud metadata services live there), multicast, unspecified.
func never(ip netip.Addr) string {
	switch {
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "link-local"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	case ip.IsUnspecified(), thisNetwork.Contains(ip):
		return "unspecified"
	case ip == broadcast:
		return "broadcast"
	case ip == azureHost:
		return "cloud host service"
	}
	return ""
}

// internal says which kind of non-public address ip is, or "". Loopback
// comes before Own, which lists the loopback addresses too, so that
// AllowLoopback opens them.
func (n Networks) internal(ip netip.Addr) string {
	switch {
	case ip.IsLoopback():
		return "loopback"
	case slices.Contains(n.Own, ip):
		return ownKind
	case ip.IsPrivate():
		return "private network"
	case sharedNet.Contains(ip):
		return "shared (carrier-grade NAT)"
	}
	for _, o := range otherInternalNets {
		if o.net.Contains(ip) {
			return o.kind
		}
	}
	return ""
}

// ParseNetworks reads -webhook-networks: comma-separated CIDRs or single
// addresses. An entry that lies wholly in a range Klaxon never posts to is
// an error, so that the operator does not believe it opened something.
func ParseNetworks(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var bad []string
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		p, err := parseNetwork(entry)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%q: %v", entry, err))
			continue
		}
		out = append(out, p)
	}
	if len(bad) > 0 {
		return nil, errors.New(strings.Join(bad, "; "))
	}
	return out, nil
}

func parseNetwork(entry string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(entry, "/") {
		var err error
		if p, err = netip.ParsePrefix(entry); err != nil {
			return p, errors.New("not a network such as 10.0.0.0/8 or fd00::/8")
		}
	} else {
		ip, err := netip.ParseAddr(entry)
		if err != nil || ip.Zone() != "" {
			return p, errors.New("not an address such as 192.168.1.20 or a network such as 10.0.0.0/8")
		}
		p = netip.PrefixFrom(ip, ip.BitLen())
	}
	// The client compares IPv4 addresses unmapped: a mapped network
	// would match nothing.
	if p.Addr().Is4In6() {
		return p, errors.New("write IPv4 networks as IPv4, such as 10.0.0.0/8")
	}
	p = p.Masked()
	for _, r := range neverNets {
		if r.net.Bits() <= p.Bits() && r.net.Contains(p.Addr()) {
			return p, fmt.Errorf("Klaxon never posts to %s addresses, whatever this setting says", r.kind)
		}
	}
	return p, nil
}
