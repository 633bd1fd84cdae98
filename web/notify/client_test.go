package notify

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
)

func TestClientRefusesLoopbackUnlessAllowed(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	_, err := NewClient(Networks{}).Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("post to loopback: %v, want a refusal", err)
	}
	if hits.Load() != 0 {
		t.Fatalf("the request reached the server")
	}
	for _, nets := range []Networks{{AllowLoopback: true}, {Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}} {
		resp, err := NewClient(nets).Post(srv.URL, "application/json", strings.NewReader("{}"))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("allowed loopback (%+v): %v", nets, err)
		}
		resp.Body.Close()
	}
}

// Private, shared and link-local addresses are refused by default; the
// operator's networks open private, shared, loopback and own addresses,
// never link-local, multicast or unspecified ones.
func TestRefusedAddresses(t *testing.T) {
	own := netip.MustParseAddr("192.0.2.2")
	def := Networks{Own: []netip.Addr{own, netip.MustParseAddr("127.0.0.1")}}
	allowed := def
	allowed.Allowed = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	for _, tt := range []struct {
		addr, kind     string
		openedByConfig bool
	}{
		{"10.1.2.3", "private network", true},
		{"172.16.0.1", "private network", true},
		{"172.31.255.254", "private network", true},
		{"192.168.1.10", "private network", true},
		{"fd12:3456::1", "private network", true},
		{"fc00::1", "private network", true},
		{"::ffff:10.1.2.3", "private network", true},
		{"100.64.0.1", "shared (carrier-grade NAT)", true},
		{"100.127.255.254", "shared (carrier-grade NAT)", true},
		{"192.0.2.2", "this machine's own", true},
		{"127.0.0.1", "loopback", true},
		{"127.1.2.3", "loopback", true},
		{"::1", "loopback", true},
		{"169.254.169.254", "link-local", false},
		{"fe80::1", "link-local", false},
		{"fe80::1%eth0", "link-local", false},
		{"224.0.0.1", "link-local", false},
		{"239.1.1.1", "multicast", false},
		{"ff02::1", "link-local", false},
		{"ff05::1", "multicast", false},
		{"0.0.0.0", "unspecified", false},
		{"0.1.2.3", "unspecified", false},
		{"::", "unspecified", false},
		{"8.8.8.8", "", false},
		{"2606:4700:4700::1111", "", false},
		{"192.0.2.1", "documentation", true},
		{"198.51.100.20", "documentation", true},
		{"203.0.113.7", "documentation", true},
		{"2001:db8::1", "documentation", true},
		{"2001:db8:ffff::1", "documentation", true},
		{"172.32.0.1", "", false},
		{"100.128.0.1", "", false},
		// IPv6 addresses that carry an IPv4 one are judged by it.
		{"64:ff9b::a00:1", "private network", true},
		{"64:ff9b::7f00:1", "loopback", true},
		{"64:ff9b::c000:202", "this machine's own", true},
		{"64:ff9b::a9fe:a9fe", "link-local", false},
		{"64:ff9b::808:808", "", false}, // 8.8.8.8 through NAT64: public
		{"64:ff9b::cb00:7107", "documentation", true},
		{"::127.0.0.1", "loopback", true},
		{"::10.1.2.3", "private network", true},
		{"::ffff:0:7f00:1", "loopback", true},
		{"2002:7f00:1::1", "loopback", true},
		{"2002:a9fe:a9fe::1", "link-local", false},
		{"2002:808:808::1", "", false},
		{"2002:cb00:7107::1", "documentation", true},
		{"64:ff9b:1::a00:1", "local-use NAT64", true},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo", true},
		{"fec0::1", "site-local", true},
		{"198.18.0.1", "benchmarking network", true},
		{"192.0.0.8", "IETF protocol", true},
		{"240.0.0.1", "reserved", true},
		{"255.255.255.255", "broadcast", false},
		{"168.63.129.16", "cloud host service", false},
	} {
		ip := netip.MustParseAddr(tt.addr)
		got := def.refuse(ip)
		switch {
		case tt.kind == "" && got != nil:
			t.Errorf("%s: refused as %q, want allowed", tt.addr, got.Kind)
		case tt.kind != "" && (got == nil || got.Kind != tt.kind || got.Allowable != tt.openedByConfig):
			t.Errorf("%s: %+v, want a refusal as %q (allowable %v)", tt.addr, got, tt.kind, tt.openedByConfig)
		}
		if opened := allowed.refuse(ip) == nil; opened != (tt.kind == "" || tt.openedByConfig) {
			t.Errorf("%s with -webhook-networks allowing everything: allowed %v", tt.addr, opened)
		}
	}
	// Only the listed networks open.
	some := Networks{Allowed: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16"), netip.MustParsePrefix("192.168.1.5/32")}}
	for addr, want := range map[string]bool{"10.20.3.4": true, "10.21.0.1": false, "192.168.1.5": true, "192.168.1.6": false, "127.0.0.1": false} {
		if got := some.refuse(netip.MustParseAddr(addr)) == nil; got != want {
			t.Errorf("%s with %v: allowed %v, want %v", addr, some.Allowed, got, want)
		}
	}
}

// The client refuses a server on one of this machine's own non-loopback
// addresses, which is what a public address of the host looks like, and
// the refusal says what happened and how the operator can allow it.
func TestClientRefusesOwnAddresses(t *testing.T) {
	own, err := HostAddrs()
	if err != nil {
		t.Fatalf("list this machine's addresses: %v", err)
	}
	var ip netip.Addr
	for _, a := range own {
		if !a.IsLoopback() && !a.IsLinkLocalUnicast() {
			ip = a
			break
		}
	}
	if !ip.IsValid() {
		t.Fatalf("this machine has no non-loopback address to listen on (%v): the test needs one, as every machine on a network has", own)
	}
	ln, err := net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
	if err != nil {
		t.Fatalf("listen on %s: %v", ip, err)
	}
	var hits atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	defer srv.Close()

	_, err = NewClient(Networks{AllowLoopback: true, Own: own}).Post(srv.URL+"/hooks/x", "application/json", strings.NewReader("{}"))
	var refused *RefusedError
	if !errors.As(err, &refused) || hits.Load() != 0 {
		t.Fatalf("post to this machine's %s: %v, %d requests arrived; want a refusal", ip, err, hits.Load())
	}
	if msg := refused.Error(); !strings.Contains(msg, "the webhook's host is at one of this machine's own addresses") || !strings.Contains(msg, "KLAXON_WEBHOOK_NETWORKS") {
		t.Errorf("refusal %q does not say what happened and how to allow it", msg)
	}
	resp, err := NewClient(Networks{Own: own, Allowed: []netip.Prefix{netip.PrefixFrom(ip, ip.BitLen())}}).Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("post to an allowed own address: %v", err)
	}
	resp.Body.Close()
}

// A refused post reads as the refusal in the delivery log, not as a
// dial error with the webhook URL in it.
func TestPostErrorOfRefusal(t *testing.T) {
	webhook := "http://10.9.8.7/hooks/abcdefghijklmnopqrstuvwxyz"
	_, err := NewClient(Networks{}).Post(webhook, "application/json", strings.NewReader("{}"))
	got := postError(err, webhook)
	want := "refused: the webhook's host is at a private network address, and Klaxon posts only to public addresses unless its operator allows the network with KLAXON_WEBHOOK_NETWORKS (the -webhook-networks flag)"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	_, err = NewClient(Networks{}).Post("http://169.254.169.254/latest/meta-data/", "application/json", strings.NewReader("{}"))
	if got := postError(err, ""); got != "refused: the webhook's host is at a link-local address, and Klaxon never posts to those" {
		t.Errorf("link-local: %q", got)
	}
}

func TestParseNetworks(t *testing.T) {
	got, err := ParseNetworks(" 10.0.0.0/8, 192.168.1.20 ,fd00::/8,172.16.5.9/12,,2001:db8::1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.168.1.20/32", "fd00::/8", "172.16.0.0/12", "2001:db8::1/128"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("entry %d: %s, want %s", i, got[i], want[i])
		}
	}
	if got, err := ParseNetworks(""); err != nil || got != nil {
		t.Errorf("empty: %v, %v", got, err)
	}
	for in, wantErr := range map[string]string{
		"10.0.0.0/33":            `"10.0.0.0/33": not a network`,
		"10.0.0.0/8,chat.local":  `"chat.local": not an address`,
		"10.0.0.0/8;192.168.0.0": `"10.0.0.0/8;192.168.0.0": not a network`,
		"169.254.169.254":        `"169.254.169.254": Klaxon never posts to link-local addresses`,
		"169.254.0.0/16":         "link-local",
		"fe80::/64":              "link-local",
		"224.0.0.0/4":            "multicast",
		"0.0.0.0":                "unspecified",
		"::ffff:10.0.0.0/104":    "write IPv4 networks as IPv4",
		"fe80::1%eth0":           "not an address",
	} {
		if _, err := ParseNetworks(in); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%q: %v, want an error with %q", in, err, wantErr)
		}
	}
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	var secret atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/secret" {
			secret.Add(1)
			w.Write([]byte("internal"))
			return
		}
		http.Redirect(w, r, "/secret", http.StatusFound)
	}))
	defer srv.Close()
	resp, err := NewClient(Networks{AllowLoopback: true}).Post(srv.URL+"/hook", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || secret.Load() != 0 {
		t.Errorf("status %d, %d requests to the redirect target", resp.StatusCode, secret.Load())
	}
}

// CheckWebhook judges the host a channel's webhook names when it is saved:
// addresses as the client would, names by what they resolve to; a name
// that does not resolve now is left to the post itself.
func TestCheckWebhook(t *testing.T) {
	ctx := context.Background()
	def := Networks{}
	for _, tt := range []struct {
		url, refusedAs string
	}{
		{"http://10.1.2.3/hooks/x", "private network"},
		{"https://[fd00::1]:8065/hooks/x", "private network"},
		{"http://localhost/hooks/x", "loopback"},
		{"http://169.254.169.254/latest", "link-local"},
		{"https://203.0.113.7/hooks/x", "documentation"},
		{"https://[2001:db8::7]/hooks/x", "documentation"},
		{"https://8.8.8.8/hooks/x", ""},
		{"https://klaxon-webhook-host.invalid/hooks/x", ""}, // does not resolve
		{"not a url", ""},
	} {
		err := def.CheckWebhook(ctx, tt.url)
		var refused *RefusedError
		switch {
		case tt.refusedAs == "" && err != nil:
			t.Errorf("%s: %v, want no objection", tt.url, err)
		case tt.refusedAs != "" && (!errors.As(err, &refused) || refused.Kind != tt.refusedAs):
			t.Errorf("%s: %v, want refused as %s", tt.url, err, tt.refusedAs)
		}
	}
	allowed := Networks{Allowed: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	if err := allowed.CheckWebhook(ctx, "http://10.1.2.3/hooks/x"); err != nil {
		t.Errorf("with 10.0.0.0/8 allowed: %v", err)
	}
}
