package notify

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"
)

// NewClient returns the HTTP client that posts to webhooks. Webhook URLs
// come from users, so the client refuses to reach this machine's loopback
// (unless allowLoopback), link-local addresses (cloud metadata services
// live there), multicast and unspecified addresses, checked on the address
// actually dialled so that DNS tricks do not get around it. It never
// follows redirects. Private networks stay allowed: Mattermost often lives
// on one.
func NewClient(allowLoopback bool) *http.Client {
	dialer := &net.Dialer{
		Timeout: 5 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip := net.ParseIP(host)
			if ip == nil {
				return fmt.Errorf("webhook address %q is not an IP address", host)
			}
			if reason := blocked(ip, allowLoopback); reason != "" {
				return fmt.Errorf("Klaxon does not post to %s addresses (%s)", reason, ip)
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

// blocked says why ip may not be posted to, or "".
func blocked(ip net.IP, allowLoopback bool) string {
	switch {
	case ip.IsLoopback() && !allowLoopback:
		return "loopback"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "link-local"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	case ip.IsUnspecified():
		return "unspecified"
	}
	return ""
}
