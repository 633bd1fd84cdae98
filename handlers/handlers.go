// Package handlers turns HTTP requests into calls on the models and renders
// the answers. Handlers are thin and return errors; the server's error
// handler decides what the user sees.
package handlers

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"klaxon/models"
	"klaxon/views"
	"klaxon/web/mattermost"
)

// Handler holds what every handler needs.
type Handler struct {
	DB       *models.DB
	Writer   *models.Writer
	Sessions *Sessions
	Log      *slog.Logger
	// BaseURL is Klaxon's public address, without a trailing slash.
	BaseURL string
	// SignupOpen lets anyone create a new team; when false only the first
	// team can be created.
	SignupOpen bool
	// Buttons signs and checks Mattermost's Acknowledge and Resolve
	// buttons; nil offers none.
	Buttons *mattermost.Signer
	// Actions paces button clicks per source address.
	Actions *KeyedLimiter
	// Notifier posts alert events to notification channels.
	Notifier Notifier
	// Throttle slows repeated failed log-ins and current-password checks.
	Throttle *Throttle
	// kinds caches integration kinds for the intake endpoint.
	kinds kindCache
	// UnstoredLogs paces the request-log rows written for intake requests
	// given up before the writer took them; nil means no limit.
	UnstoredLogs *rate.Limiter
}

type ctxKey int

const (
	loggerKey ctxKey = iota
)

// WithLogger returns ctx carrying a request's logger.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey, l)
}

// logAttrsKey is where handlers leave attributes for their request's line in
// the log.
const logAttrsKey = "klaxon.log_attrs"

// AddLogAttrs adds key-value pairs to the one line logged for the request.
func AddLogAttrs(c echo.Context, args ...any) {
	prev, _ := c.Get(logAttrsKey).([]any)
	c.Set(logAttrsKey, append(prev, args...))
}

// LogAttrs returns the pairs handlers added with AddLogAttrs.
func LogAttrs(c echo.Context) []any {
	attrs, _ := c.Get(logAttrsKey).([]any)
	return attrs
}

// Logger returns the request's logger (with its request id).
func (h *Handler) Logger(c echo.Context) *slog.Logger {
	if l, ok := c.Request().Context().Value(loggerKey).(*slog.Logger); ok {
		return l
	}
	return h.Log
}

// render writes a templ component with status, buffering it first so that
// a rendering error becomes a clean 500 instead of half a page.
func render(c echo.Context, status int, comp templ.Component) error {
	var buf bytes.Buffer
	if err := comp.Render(c.Request().Context(), &buf); err != nil {
		return err
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// page builds the shell's view model for the current request.
func (h *Handler) page(c echo.Context, title, nav string) views.Page {
	p := views.Page{Title: title, Nav: nav, CSRF: h.Sessions.CSRFToken(c)}
	if u := CurrentUser(c); u != nil {
		p.User = u
	}
	p.Flashes = h.Sessions.Flashes(c)
	return p
}

// redirect answers a form POST with 303 See Other.
func redirect(c echo.Context, to string) error {
	return c.Redirect(http.StatusSeeOther, to)
}
