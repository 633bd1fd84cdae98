package web

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/labstack/echo/v4"
)

// parseTrustedProxies reads -trusted-proxies: comma-separated IP addresses
// and CIDR ranges of the reverse proxies in front of Klaxon. Empty means
// none. Anything odd is refused rather than guessed at, since a wrong value
// either lets clients claim any address or hides every client behind the
// proxy's.
func parseTrustedProxies(s string) ([]*net.IPNet, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var nets []*net.IPNet
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		p, err := parseProxy(item)
		if err != nil {
			return nil, fmt.Errorf("-trusted-proxies %q: %w", s, err)
		}
		nets = append(nets, &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())})
	}
	return nets, nil
}

// parseProxy reads one address (a range of one) or CIDR range.
func parseProxy(item string) (netip.Prefix, error) {
	if item == "" {
		return netip.Prefix{}, fmt.Errorf("empty entry: want IP addresses or CIDR ranges separated by commas, such as 10.0.0.0/8,192.0.2.10")
	}
	if !strings.Contains(item, "/") {
		a, err := netip.ParseAddr(item)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR range (host names are not accepted)", item)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(item)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR range such as 10.0.0.0/8", item)
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("%q: write IPv4 ranges as IPv4, such as 10.0.0.0/8", item)
	}
	if p.Masked() != p {
		// 10.0.0.1/8 could mean the host or the whole /8: ask.
		return netip.Prefix{}, fmt.Errorf("%q has bits set after the prefix: write %s for the range or %s for the one address", item, p.Masked(), p.Addr())
	}
	if p.Bits() == 0 {
		return netip.Prefix{}, fmt.Errorf("%q trusts every address, so any client could claim to be anyone: list your proxies", item)
	}
	return p, nil
}

// ipExtractor returns how Klaxon finds a request's source address (log-in
// throttle, request log, intake request log). Without trusted proxies it is
// the TCP peer, and headers are ignored: any client can write them. With
// them, X-Forwarded-For is read from the right, past the listed proxies
// only, and the first address that is not one of them is the client's. Echo
// would by default also skip every loopback, link-local and private address,
// which would let any machine on the LAN claim to be anyone: that is turned
// off.
func ipExtractor(proxies []*net.IPNet) echo.IPExtractor {
	if len(proxies) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range proxies {
		opts = append(opts, echo.TrustIPRange(p))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}
