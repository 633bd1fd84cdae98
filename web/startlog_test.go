package web

import (
	"net/netip"
	"testing"
)

// The start-up line says where notification webhooks may post, so that an
// operator whose Mattermost is on a private network sees what to set.
func TestWebhookNetworksLog(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "public addresses only (KLAXON_WEBHOOK_NETWORKS allows private ones)"},
		{Config{WebhookNetworks: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16"), netip.MustParsePrefix("192.168.1.20/32")}},
			"public addresses and 10.20.0.0/16, 192.168.1.20/32"},
		{Config{WebhookAllowLoopback: true}, "public addresses and loopback"},
	} {
		if got := webhookNetworksLog(c.cfg); got != c.want {
			t.Errorf("webhookNetworksLog(%+v) = %q, want %q", c.cfg.WebhookNetworks, got, c.want)
		}
	}
}
