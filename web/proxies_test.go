package web

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// -trusted-proxies takes addresses and CIDR ranges, from the flag or the
// environment; anything else stops Klaxon from starting, with the reason.
func TestTrustedProxiesConfig(t *testing.T) {
	for _, tc := range []struct {
		flag, env string
		want      string // the ranges, comma-separated
		err       string // part of the error, when one is expected
	}{
		{want: ""},
		{flag: "10.0.0.1", want: "10.0.0.1/32"},
		{env: "10.0.0.0/8, 192.0.2.10 ,fd00::/8,::1", want: "10.0.0.0/8,192.0.2.10/32,fd00::/8,::1/128"},
		{flag: "::ffff:10.0.0.1", want: "10.0.0.1/32"},
		{flag: "172.16.0.0/12", env: "10.0.0.1", want: "172.16.0.0/12"}, // the flag wins
		{flag: "10.0.0.300", err: `"10.0.0.300" is not an IP address`},
		{flag: "proxy.internal", err: "host names are not accepted"},
		{flag: "10.0.0.0/33", err: "is not a CIDR range"},
		{flag: "10.0.0.1/8", err: "write 10.0.0.0/8 for the range or 10.0.0.1 for the one address"},
		{flag: "0.0.0.0/0", err: "trusts every address"},
		{env: "::/0", err: "trusts every address"},
		{flag: "10.0.0.1,", err: "empty entry"},
		{flag: "fe80::1%eth0", err: "is not an IP address"},
	} {
		args := []string{}
		if tc.flag != "" {
			args = append(args, "-trusted-proxies", tc.flag)
		}
		env := map[string]string{"KLAXON_TRUSTED_PROXIES": tc.env}
		cfg, err := ParseConfig(args, func(k string) string { return env[k] }, io.Discard)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "-trusted-proxies") {
				t.Errorf("flag %q env %q: error %v, want one naming -trusted-proxies and saying %q", tc.flag, tc.env, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("flag %q env %q: %v", tc.flag, tc.env, err)
			continue
		}
		var got []string
		for _, n := range cfg.TrustedProxies {
			got = append(got, n.String())
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("flag %q env %q: ranges %v, want %s", tc.flag, tc.env, got, tc.want)
		}
	}
}

// The client's address is the TCP peer unless the peer is a listed proxy;
// then it is the first address in X-Forwarded-For, from the right, that is
// not a listed proxy. Unlisted loopback, link-local and private addresses
// are clients like any other (Echo's default would skip them).
func TestClientAddress(t *testing.T) {
	proxies, err := parseTrustedProxies("10.0.0.0/24, 2001:db8::1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		proxies bool
		peer    string
		xff     []string
		want    string
	}{
		{"no proxies configured: the header is ignored", false, "10.0.0.1:5000", []string{"203.0.113.7"}, "10.0.0.1"},
		{"through a proxy", true, "10.0.0.1:5000", []string{"203.0.113.7"}, "203.0.113.7"},
		{"through an IPv6 proxy", true, "[2001:db8::1]:5000", []string{"2001:db8:ffff::7"}, "2001:db8:ffff::7"},
		{"the client wrote its own header: the proxy appended the real address", true, "10.0.0.1:5000", []string{"198.51.100.1, 203.0.113.7"}, "203.0.113.7"},
		{"two proxies", true, "10.0.0.1:5000", []string{"203.0.113.7, 10.0.0.2"}, "203.0.113.7"},
		{"two headers", true, "10.0.0.1:5000", []string{"198.51.100.1", "203.0.113.7"}, "203.0.113.7"},
		{"a private client behind the proxy is not skipped", true, "10.0.0.1:5000", []string{"198.51.100.1, 192.168.1.20"}, "192.168.1.20"},
		{"a proxy that sent no header", true, "10.0.0.1:5000", nil, "10.0.0.1"},
		{"an unlisted private peer cannot claim an address", true, "192.168.1.5:5000", []string{"203.0.113.7"}, "192.168.1.5"},
		{"an unlisted loopback peer cannot claim an address", true, "127.0.0.1:5000", []string{"203.0.113.7"}, "127.0.0.1"},
		{"an unlisted link-local peer cannot claim an address", true, "[fe80::1]:5000", []string{"203.0.113.7"}, "fe80::1"},
		{"a public peer cannot claim an address", true, "198.51.100.9:5000", []string{"203.0.113.7"}, "198.51.100.9"},
	} {
		var list = proxies
		if !tc.proxies {
			list = nil
		}
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = tc.peer
		for _, v := range tc.xff {
			req.Header.Add("X-Forwarded-For", v)
		}
		if got := ipExtractor(list)(req); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
