package handlers

import (
	"context"

	"github.com/labstack/echo/v4"

	"klaxon/models"
	"klaxon/views"
)

// limitPage is h.page with a note when the team has as many integrations or
// channels as it may (reached says so), so that users learn it before they
// fill in a form.
func (h *Handler) limitPage(c echo.Context, title, nav string, reached func(context.Context, uint) (*models.LimitError, error)) (views.Page, error) {
	p := h.page(c, title, nav)
	limit, err := reached(c.Request().Context(), CurrentUser(c).AccountID)
	if limit != nil {
		p.Flashes = append(p.Flashes, views.Flash{Kind: "info", Text: limit.Error()})
	}
	return p, err
}
