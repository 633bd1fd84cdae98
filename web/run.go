package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"klaxon/models"
	"klaxon/web/mattermost"
	"klaxon/web/notify"
)

// Run starts Klaxon with args and environment, serves until ctx ends, then
// shuts down gracefully: it stops accepting, lets requests in flight finish,
// commits what the intake writer holds and closes the database.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := ParseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stdout, nil))
	app, err := Start(ctx, cfg, log, nil)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return app.Shutdown(30 * time.Second)
}

// App is a started Klaxon.
type App struct {
	Server   *Server
	DB       *models.DB
	Writer   *models.Writer
	HTTP     *http.Server
	Addr     string
	log      *slog.Logger
	served   chan error
	stopJobs context.CancelFunc
	jobsDone chan struct{}
}

// Start opens the database, starts the intake writer and the background
// jobs, and serves HTTP on cfg.Addr (or on ln when given).
func Start(ctx context.Context, cfg Config, log *slog.Logger, ln net.Listener) (*App, error) {
	db, err := models.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	secret := cfg.SessionSecret
	if secret == "" {
		if secret, err = db.SettingOrCreate(ctx, "session_secret", func() string { return models.RandomToken(32) }); err != nil {
			db.Close()
			return nil, fmt.Errorf("session secret: %w", err)
		}
	}
	// Buttons are signed with a key kept in the database, so that every
	// instance sharing it checks the others' buttons.
	buttonKey, err := db.SettingOrCreate(ctx, "mattermost_button_key", func() string { return models.RandomToken(32) })
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("button key: %w", err)
	}
	buttons := mattermost.NewSigner(buttonKey, cfg.BaseURL)
	notifier := notify.NewWorker(db, cfg.BaseURL, log, notify.Networks{AllowLoopback: cfg.WebhookAllowLoopback, Allowed: cfg.WebhookNetworks})
	db.Limits = models.TeamLimits{Integrations: cfg.MaxIntegrations, Channels: cfg.MaxChannels}
	notifier.Buttons = buttons
	writer, err := models.NewWriter(db, models.WriterOptions{RatePerSecond: cfg.RateLimit, Burst: cfg.RateBurst,
		TeamRatePerSecond: cfg.TeamRateLimit, TeamBurst: cfg.TeamRateBurst, RawRequestKeep: cfg.RawRequestKeep,
		OnEnqueue: notifier.Wake})
	if err != nil {
		db.Close()
		return nil, err
	}
	srv := NewServer(cfg, log, db, writer, secret)
	srv.Handlers.Notifier = notifier
	srv.Handlers.Buttons = buttons
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			writer.Close()
			db.Close()
			return nil, err
		}
	}
	hs := &http.Server{
		Handler:           srv.Echo,
		ReadHeaderTimeout: orDefault(cfg.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		ReadTimeout:       orDefault(cfg.ReadTimeout, DefaultReadTimeout),
		WriteTimeout:      orDefault(cfg.WriteTimeout, DefaultWriteTimeout),
		IdleTimeout:       orDefault(cfg.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:    orDefault(cfg.MaxHeaderBytes, DefaultMaxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	jobsCtx, stopJobs := context.WithCancel(context.Background())
	app := &App{Server: srv, DB: db, Writer: writer, HTTP: hs, Addr: ln.Addr().String(), log: log,
		served: make(chan error, 1), stopJobs: stopJobs, jobsDone: make(chan struct{})}
	go func() {
		defer close(app.jobsDone)
		done := make(chan struct{})
		go func() { defer close(done); notifier.Run(jobsCtx) }()
		insightsDone := make(chan struct{})
		go func() { defer close(insightsDone); runInsightsRollup(jobsCtx, db, log) }()
		runMaintenance(jobsCtx, db, cfg, log)
		<-done
		<-insightsDone
	}()
	go func() { app.served <- hs.Serve(ln) }()
	log.Info("klaxon started", "addr", app.Addr, "base_url", cfg.BaseURL, "database", models.RedactURL(cfg.DatabaseURL), "dialect", db.Dialect, "full_text", db.FullText, "signup", cfg.Signup, "webhook_networks", webhookNetworksLog(cfg))
	return app, nil
}

// webhookNetworksLog says, in the start-up line, where notification webhooks
// may post: an upgrade that starts refusing a Mattermost on a private
// network then says why, and what to set.
func webhookNetworksLog(cfg Config) string {
	var also []string
	for _, n := range cfg.WebhookNetworks {
		also = append(also, n.String())
	}
	if cfg.WebhookAllowLoopback {
		also = append(also, "loopback")
	}
	if len(also) == 0 {
		return "public addresses only (KLAXON_WEBHOOK_NETWORKS allows private ones)"
	}
	return "public addresses and " + strings.Join(also, ", ")
}

// Shutdown stops the server within timeout and closes everything.
func (a *App) Shutdown(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	a.log.Info("shutting down")
	err := a.HTTP.Shutdown(ctx)
	if serveErr := <-a.served; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	a.Writer.Close()
	a.stopJobs()
	<-a.jobsDone
	if cerr := a.DB.Close(); err == nil {
		err = cerr
	}
	a.log.Info("stopped")
	return err
}

// orDefault keeps a zero limit from meaning "no limit" in http.Server.
func orDefault[T time.Duration | int](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
