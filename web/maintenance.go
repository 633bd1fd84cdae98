package web

import (
	"context"
	"log/slog"
	"time"

	"klaxon/models"
)

// maintenanceEvery is how often the background clean-up runs.
const maintenanceEvery = 10 * time.Minute

// runMaintenance prunes old data until ctx ends: expired sessions, request
// logs beyond the newest cfg.LogKeep per integration and, when configured,
// resolved alerts older than cfg.RetentionDays.
func runMaintenance(ctx context.Context, db *models.DB, cfg Config, log *slog.Logger) {
	t := time.NewTicker(maintenanceEvery)
	defer t.Stop()
	for {
		maintain(ctx, db, cfg, log)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func maintain(ctx context.Context, db *models.DB, cfg Config, log *slog.Logger) {
	now := time.Now()
	jobs := []struct {
		what string
		run  func() (int64, error)
	}{
		{"expired sessions", func() (int64, error) { return 0, db.PruneSessions(ctx, cfg.SessionIdle) }},
		{"request-log rows", func() (int64, error) { return db.PruneIntegrationLogs(ctx, cfg.LogKeep) }},
		{"delivery-log rows", func() (int64, error) { return db.PruneDeliveries(ctx, cfg.LogKeep) }},
		{"resolved alerts", func() (int64, error) {
			if cfg.RetentionDays <= 0 {
				return 0, nil
			}
			return db.PruneResolvedAlerts(ctx, now.AddDate(0, 0, -cfg.RetentionDays))
		}},
		{"finished outbox items", func() (int64, error) { return db.PruneOutbox(ctx, now.AddDate(0, 0, -7)) }},
		{"Insights rollup hours", func() (int64, error) { return db.PruneInsights(ctx, now) }},
	}
	for _, j := range jobs {
		n, err := j.run()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Warn("prune "+j.what, "err", err)
		case n > 0:
			log.Info("pruned "+j.what, "rows", n)
		}
	}
}

// insightsEvery is how often the Insights rollup catches up; the page reads
// what it has not reached yet from the alerts, so this sets only how much
// that is.
const insightsEvery = 20 * time.Second

// runInsightsRollup keeps the Insights rollup close behind the alerts until
// ctx ends.
func runInsightsRollup(ctx context.Context, db *models.DB, log *slog.Logger) {
	t := time.NewTicker(insightsEvery)
	defer t.Stop()
	for {
		if err := db.CatchUpInsights(ctx, 20*time.Millisecond); err != nil && ctx.Err() == nil {
			log.Warn("insights rollup", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
