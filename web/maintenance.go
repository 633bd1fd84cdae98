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
	if err := db.PruneSessions(ctx, cfg.SessionIdle); err != nil && ctx.Err() == nil {
		log.Warn("prune sessions", "err", err)
	}
	if n, err := db.PruneIntegrationLogs(ctx, cfg.LogKeep); err != nil && ctx.Err() == nil {
		log.Warn("prune request logs", "err", err)
	} else if n > 0 {
		log.Info("pruned request logs", "rows", n)
	}
	if cfg.RetentionDays > 0 {
		cutoff := time.Now().AddDate(0, 0, -cfg.RetentionDays)
		if n, err := db.PruneResolvedAlerts(ctx, cutoff); err != nil && ctx.Err() == nil {
			log.Warn("prune resolved alerts", "err", err)
		} else if n > 0 {
			log.Info("pruned resolved alerts", "alerts", n)
		}
	}
}
