package handlers

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"klaxon/models"
	"klaxon/web/mattermost"
)

// Healthz answers 200 while the database answers, 503 otherwise.
func (h *Handler) Healthz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := h.DB.Ping(ctx); err != nil {
		h.Logger(c).Error("health check: database", "err", err)
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": "the database does not answer"})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// NotFound renders the 404 page.
func (h *Handler) NotFound(c echo.Context) error {
	return echo.NewHTTPError(http.StatusNotFound, "There is no such page, or it belongs to another team.")
}

// BenchCeiling is the benchmark's yardstick: it reads the body and answers
// like the intake endpoint, without parsing or storing anything. It is
// routed only with -bench-endpoints.
func (h *Handler) BenchCeiling(c echo.Context) error {
	n, err := io.Copy(io.Discard, io.LimitReader(c.Request().Body, MaxIntakeBody+1))
	if err != nil {
		return err
	}
	if n > MaxIntakeBody {
		return c.JSON(http.StatusRequestEntityTooLarge, mattermost.IntakeAnswer{Error: "body too large"})
	}
	// The same answer as a new alert's, built the same way.
	res := models.IntakeResult{Outcome: models.OutcomeAccepted, AccountID: 1, AlertPublicID: "alt_ceilingceilingceilingceil", Urgency: models.UrgencyLow, ReplyInChannel: true}
	return c.JSON(http.StatusOK, mattermost.IntakeReply(res, h.BaseURL, h.Buttons, c.Param("id")))
}
