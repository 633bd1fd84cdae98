// Package web assembles Klaxon's HTTP server: configuration, middleware and
// routes.
package web

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"klaxon/web/notify"
)

// Config is everything Klaxon can be told at start.
type Config struct {
	Addr          string
	BaseURL       string
	DatabaseURL   string
	SessionSecret string
	Signup        string // "open" or "closed"
	SessionIdle   time.Duration
	// RateLimit is the per-integration intake limit in requests per second
	// (0 turns it off); RateBurst is how many may come at once.
	RateLimit float64
	RateBurst int
	// TeamRateLimit and TeamRateBurst are the same across all of a team's
	// integrations; MaxIntegrations and MaxChannels cap what a team
	// creates (0: no cap); RawRequestKeep is how many bytes of a request
	// an alert keeps.
	TeamRateLimit   float64
	TeamRateBurst   int
	MaxIntegrations int
	MaxChannels     int
	RawRequestKeep  int
	// RetentionDays prunes resolved alerts older than this (0 keeps them);
	// LogKeep is how many request-log rows each integration keeps.
	RetentionDays int
	LogKeep       int
	// The HTTP server's limits, so that slow or huge requests cannot hold
	// it: time to read the headers, the whole request, to write the answer,
	// how long a kept-alive connection may idle, and the header size.
	// ParseConfig sets the defaults; zero values mean the defaults too.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	// TrustedProxies are the reverse proxies in front of Klaxon: requests
	// from them take the client's address from X-Forwarded-For. Empty: the
	// TCP peer is the client.
	TrustedProxies []*net.IPNet
	// WebhookAllowLoopback lets notification channels post to this
	// machine's loopback addresses (a Mattermost on the same host).
	WebhookAllowLoopback bool
	// WebhookNetworks are networks that notification channels may post to
	// although they are private, shared, loopback or this machine's own
	// (by default only public addresses are): where Mattermost lives.
	WebhookNetworks []netip.Prefix
	// BenchEndpoints adds the benchmark's ceiling handler.
	BenchEndpoints bool
}

// ParseConfig reads flags from args, each defaulting to its environment
// variable and then to a value that works on a fresh machine.
func ParseConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("klaxon", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs.StringVar(&c.Addr, "addr", env("KLAXON_ADDR", ":8080"), "listen address (KLAXON_ADDR)")
	fs.StringVar(&c.BaseURL, "base-url", env("KLAXON_BASE_URL", "http://localhost:8080"), "public URL of Klaxon, used in endpoint URLs and links (KLAXON_BASE_URL)")
	fs.StringVar(&c.DatabaseURL, "database", env("KLAXON_DATABASE_URL", "sqlite:data/klaxon.db"), "sqlite:PATH or postgres://… (KLAXON_DATABASE_URL)")
	fs.StringVar(&c.SessionSecret, "session-secret", env("KLAXON_SESSION_SECRET", ""), "secret for session cookies; generated and kept in the database when empty (KLAXON_SESSION_SECRET)")
	fs.StringVar(&c.Signup, "signup", env("KLAXON_SIGNUP", "open"), "open: anyone can sign up a team; closed: only the first team (KLAXON_SIGNUP)")
	idle := fs.String("session-idle", env("KLAXON_SESSION_IDLE", "168h"), "log out sessions idle for this long (KLAXON_SESSION_IDLE)")
	rateLimit := fs.String("rate-limit", env("KLAXON_RATE_LIMIT", "50"), "intake requests per second per integration, 0 for no limit (KLAXON_RATE_LIMIT)")
	rateBurst := fs.String("rate-burst", env("KLAXON_RATE_BURST", "500"), "intake requests per integration allowed at once (KLAXON_RATE_BURST)")
	teamRateLimit := fs.String("team-rate-limit", env("KLAXON_TEAM_RATE_LIMIT", "100"), "intake requests per second across all of a team's integrations, 0 for no limit (KLAXON_TEAM_RATE_LIMIT)")
	teamRateBurst := fs.String("team-rate-burst", env("KLAXON_TEAM_RATE_BURST", "1000"), "intake requests per team allowed at once (KLAXON_TEAM_RATE_BURST)")
	maxIntegrations := fs.String("max-integrations", env("KLAXON_MAX_INTEGRATIONS", "50"), "integrations per team, 0 for no limit (KLAXON_MAX_INTEGRATIONS)")
	maxChannels := fs.String("max-channels", env("KLAXON_MAX_CHANNELS", "50"), "notification channels per team, 0 for no limit (KLAXON_MAX_CHANNELS)")
	rawKeep := fs.String("raw-request-keep", env("KLAXON_RAW_REQUEST_KEEP", "65536"), "bytes of a request's body kept with its alert; the rest is cut (KLAXON_RAW_REQUEST_KEEP)")
	retention := fs.String("retention-days", env("KLAXON_RETENTION_DAYS", "0"), "delete resolved alerts older than this many days, 0 to keep them (KLAXON_RETENTION_DAYS)")
	logKeep := fs.String("log-keep", env("KLAXON_LOG_KEEP", "1000"), "request-log rows kept per integration (KLAXON_LOG_KEEP)")
	proxies := fs.String("trusted-proxies", env("KLAXON_TRUSTED_PROXIES", ""), "comma-separated addresses or CIDR ranges of reverse proxies whose X-Forwarded-For is believed; empty: the TCP peer is the client (KLAXON_TRUSTED_PROXIES)")
	fs.BoolVar(&c.WebhookAllowLoopback, "webhook-allow-loopback", env("KLAXON_WEBHOOK_ALLOW_LOOPBACK", "") == "1", "let notification channels post to loopback addresses, for a Mattermost on this machine (KLAXON_WEBHOOK_ALLOW_LOOPBACK=1)")
	webhookNetworks := fs.String("webhook-networks", env("KLAXON_WEBHOOK_NETWORKS", ""), "comma-separated networks (CIDRs or single addresses) that notification channels may post to although they are private or this machine's, e.g. where Mattermost runs (KLAXON_WEBHOOK_NETWORKS)")
	fs.BoolVar(&c.BenchEndpoints, "bench-endpoints", env("KLAXON_BENCH_ENDPOINTS", "") == "1", "serve the benchmark's ceiling endpoint and CPU profiles, unauthenticated (for make bench only; never in production)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	c.ReadHeaderTimeout, c.ReadTimeout, c.WriteTimeout, c.IdleTimeout, c.MaxHeaderBytes = DefaultReadHeaderTimeout, DefaultReadTimeout, DefaultWriteTimeout, DefaultIdleTimeout, DefaultMaxHeaderBytes
	var err error
	if c.SessionIdle, err = time.ParseDuration(*idle); err != nil || c.SessionIdle <= 0 {
		return c, fmt.Errorf("-session-idle %q: want a duration such as 168h", *idle)
	}
	if c.RateLimit, err = strconv.ParseFloat(*rateLimit, 64); err != nil || c.RateLimit < 0 {
		return c, fmt.Errorf("-rate-limit %q: want a number of requests per second, 0 for none", *rateLimit)
	}
	if c.RateBurst, err = strconv.Atoi(*rateBurst); err != nil || c.RateBurst < 1 {
		return c, fmt.Errorf("-rate-burst %q: want a whole number of at least 1", *rateBurst)
	}
	if c.TeamRateLimit, err = strconv.ParseFloat(*teamRateLimit, 64); err != nil || c.TeamRateLimit < 0 {
		return c, fmt.Errorf("-team-rate-limit %q: want a number of requests per second, 0 for none", *teamRateLimit)
	}
	if c.TeamRateBurst, err = strconv.Atoi(*teamRateBurst); err != nil || c.TeamRateBurst < 1 {
		return c, fmt.Errorf("-team-rate-burst %q: want a whole number of at least 1", *teamRateBurst)
	}
	if c.MaxIntegrations, err = strconv.Atoi(*maxIntegrations); err != nil || c.MaxIntegrations < 0 {
		return c, fmt.Errorf("-max-integrations %q: want a whole number, 0 for no limit", *maxIntegrations)
	}
	if c.MaxChannels, err = strconv.Atoi(*maxChannels); err != nil || c.MaxChannels < 0 {
		return c, fmt.Errorf("-max-channels %q: want a whole number, 0 for no limit", *maxChannels)
	}
	if c.RawRequestKeep, err = strconv.Atoi(*rawKeep); err != nil || c.RawRequestKeep < 1024 || c.RawRequestKeep > 1<<20 {
		return c, fmt.Errorf("-raw-request-keep %q: want a number of bytes from 1024 to 1048576 (the largest body Klaxon takes)", *rawKeep)
	}
	if c.RetentionDays, err = strconv.Atoi(*retention); err != nil || c.RetentionDays < 0 {
		return c, fmt.Errorf("-retention-days %q: want a whole number of days, 0 to keep everything", *retention)
	}
	if c.LogKeep, err = strconv.Atoi(*logKeep); err != nil || c.LogKeep < 1 {
		return c, fmt.Errorf("-log-keep %q: want a whole number of at least 1", *logKeep)
	}
	if c.WebhookNetworks, err = notify.ParseNetworks(*webhookNetworks); err != nil {
		return c, fmt.Errorf("-webhook-networks (KLAXON_WEBHOOK_NETWORKS): %w", err)
	}
	if c.Signup != "open" && c.Signup != "closed" {
		return c, fmt.Errorf("-signup %q: want open or closed", c.Signup)
	}
	if c.TrustedProxies, err = parseTrustedProxies(*proxies); err != nil {
		return c, err
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, errors.New("-base-url: want an absolute http(s) URL such as https://klaxon.example.com")
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	return c, nil
}

// The HTTP server's default limits (see Config).
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
)

// SecureCookies reports whether cookies must only travel over https.
func (c Config) SecureCookies() bool {
	return len(c.BaseURL) >= 8 && strings.EqualFold(c.BaseURL[:8], "https://")
}
