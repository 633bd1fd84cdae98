package web

import (
	"context"
	"io"
	"strings"
	"testing"
)

// Cookies are Secure (and HSTS sent) for an https base URL however its
// scheme is spelled.
func TestSecureCookies(t *testing.T) {
	for url, want := range map[string]bool{
		"https://klaxon.example.com": true,
		"HTTPS://klaxon.example.com": true,
		"http://localhost:8080":      false,
		"":                           false,
	} {
		if got := (Config{BaseURL: url}).SecureCookies(); got != want {
			t.Errorf("SecureCookies(%q) = %v, want %v", url, got, want)
		}
	}
}

// -webhook-networks (or KLAXON_WEBHOOK_NETWORKS) lists networks webhooks
// may post to; a bad entry stops Klaxon from starting, saying which.
func TestWebhookNetworksConfig(t *testing.T) {
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	c, err := ParseConfig(nil, env(map[string]string{"KLAXON_WEBHOOK_NETWORKS": "10.0.0.0/8, 192.168.1.20"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.WebhookNetworks) != 2 || c.WebhookNetworks[0].String() != "10.0.0.0/8" || c.WebhookNetworks[1].String() != "192.168.1.20/32" {
		t.Errorf("from the environment: %v", c.WebhookNetworks)
	}
	c, err = ParseConfig([]string{"-webhook-networks", "fd00::/8"}, env(map[string]string{"KLAXON_WEBHOOK_NETWORKS": "10.0.0.0/8"}), io.Discard)
	if err != nil || len(c.WebhookNetworks) != 1 || c.WebhookNetworks[0].String() != "fd00::/8" {
		t.Errorf("the flag wins over the environment: %v, %v", c.WebhookNetworks, err)
	}
	if c, err := ParseConfig(nil, env(nil), io.Discard); err != nil || c.WebhookNetworks != nil {
		t.Errorf("default: %v, %v", c.WebhookNetworks, err)
	}
	// Should the setting be accepted, Run starts and stops at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	args := []string{"-addr", "127.0.0.1:0", "-database", "sqlite:" + t.TempDir() + "/k.db"}
	for _, bad := range []string{"10.0.0.0/33", "10.0.0.0/8,mattermost.internal", "169.254.169.254"} {
		err := Run(ctx, args, env(map[string]string{"KLAXON_WEBHOOK_NETWORKS": bad}), io.Discard)
		if err == nil || !strings.HasPrefix(err.Error(), "-webhook-networks (KLAXON_WEBHOOK_NETWORKS): ") {
			t.Errorf("start with %q: %v, want a configuration error", bad, err)
		}
	}
}

// The per-team limits have defaults, take their environment variables and
// flags, and refuse values that make no sense.
func TestTeamLimitsConfig(t *testing.T) {
	c, err := ParseConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil || c.TeamRateLimit != 100 || c.TeamRateBurst != 1000 || c.MaxIntegrations != 50 || c.MaxChannels != 50 || c.RawRequestKeep != 64<<10 {
		t.Errorf("defaults: %+v, %v", c, err)
	}
	vars := map[string]string{"KLAXON_TEAM_RATE_LIMIT": "0", "KLAXON_MAX_INTEGRATIONS": "0", "KLAXON_RAW_REQUEST_KEEP": "2048"}
	c, err = ParseConfig([]string{"-max-channels", "3", "-team-rate-burst", "7"}, func(k string) string { return vars[k] }, io.Discard)
	if err != nil || c.TeamRateLimit != 0 || c.MaxIntegrations != 0 || c.RawRequestKeep != 2048 || c.MaxChannels != 3 || c.TeamRateBurst != 7 {
		t.Errorf("from the environment and flags: %+v, %v", c, err)
	}
	for _, bad := range [][]string{{"-team-rate-limit", "-1"}, {"-team-rate-burst", "0"}, {"-max-integrations", "x"},
		{"-max-channels", "-2"}, {"-raw-request-keep", "100"}, {"-raw-request-keep", "2000000"}} {
		if _, err := ParseConfig(bad, func(string) string { return "" }, io.Discard); err == nil || !strings.HasPrefix(err.Error(), bad[0]) {
			t.Errorf("%v: %v, want an error naming the flag", bad, err)
		}
	}
}
