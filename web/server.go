package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"

	"klaxon/handlers"
	"klaxon/models"
	"klaxon/static"
	"klaxon/views"
)

// Server is Klaxon's HTTP application with its dependencies.
type Server struct {
	Echo     *echo.Echo
	Handlers *handlers.Handler
	cfg      Config
	log      *slog.Logger
}

// NewServer wires the middleware stack and routes around db and writer.
func NewServer(cfg Config, log *slog.Logger, db *models.DB, writer *models.Writer, sessionSecret string) *Server {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	// The source address is the TCP peer, or what the trusted proxies
	// say it is (see ipExtractor).
	e.IPExtractor = ipExtractor(cfg.TrustedProxies)
	h := &handlers.Handler{
		DB:         db,
		Writer:     writer,
		Sessions:   handlers.NewSessions(db, sessionSecret, cfg.SessionIdle, cfg.SecureCookies()),
		Log:        log,
		BaseURL:    cfg.BaseURL,
		SignupOpen: cfg.Signup == "open",
		Throttle:   handlers.NewThrottle(),
		// Button clicks come from Mattermost's server: one address.
		Actions: handlers.NewKeyedLimiter(cfg.RateLimit, cfg.RateBurst),
		// At most 10 rows a second (bursts of 50) for requests given up
		// in the writer's queue.
		UnstoredLogs: rate.NewLimiter(10, 50),
	}
	if db.Dialect == "postgres" {
		// Nodes sharing the database share the throttle's counts too.
		h.Throttle.UseDatabase(db)
	}
	s := &Server{Echo: e, Handlers: h, cfg: cfg, log: log}
	e.HTTPErrorHandler = s.errorHandler
	e.Use(requestLogger(log))
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
		h.Logger(c).Error("panic", "err", err, "stack", string(stack))
		return err
	}}))
	e.Use(securityHeaders(cfg.SecureCookies()))
	e.StaticFS("/static", static.FS)
	s.routes()
	return s
}

// requestLogger gives every request an id (echoed in X-Request-Id) and a
// logger carrying it, and logs one line per request (with what the handler
// added through handlers.AddLogAttrs).
func requestLogger(log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			id := models.RandomToken(10)
			c.Response().Header().Set(echo.HeaderXRequestID, id)
			l := log.With("request_id", id)
			req := c.Request()
			c.SetRequest(req.WithContext(handlers.WithLogger(req.Context(), l)))
			// net/http removes the temporary files of a multipart form
			// parsed on the request it made, not on this copy.
			defer func() {
				if f := c.Request().MultipartForm; f != nil {
					_ = f.RemoveAll()
				}
			}()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			level := slog.LevelInfo
			if c.Response().Status >= 500 {
				level = slog.LevelError
			}
			args := append([]any{"method", req.Method, "path", req.URL.Path, "status", c.Response().Status, "bytes", c.Response().Size,
				"duration_ms", float64(time.Since(start).Microseconds()) / 1000, "ip", c.RealIP()}, handlers.LogAttrs(c)...)
			l.Log(req.Context(), level, "request", args...)
			return nil
		}
	}
}

// securityHeaders keeps pages from being framed, sniffed or leaking URLs, and
// lets them run only Klaxon's own scripts and styles.
// Over https, browsers are also told to keep to https (HSTS).
func securityHeaders(https bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			hdr := c.Response().Header()
			if https {
				hdr.Set("Strict-Transport-Security", "max-age=31536000")
			}
			hdr.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'")
			hdr.Set("X-Content-Type-Options", "nosniff")
			hdr.Set("X-Frame-Options", "DENY")
			hdr.Set("Referrer-Policy", "strict-origin-when-cross-origin")
			return next(c)
		}
	}
}

// errorHandler answers errors: JSON on the intake endpoint and for API
// clients, a page inside the layout otherwise. Users see safe text; the log
// gets the detail.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status := http.StatusInternalServerError
	msg := "Something went wrong on Klaxon's side. The error was logged; try again in a moment."
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he):
		status = he.Code
		if m, ok := he.Message.(string); ok && status < 500 {
			msg = m
		}
		if status == http.StatusNotFound && he.Message == http.StatusText(http.StatusNotFound) {
			msg = "There is no such page, or it belongs to another team."
		}
	case errors.Is(err, models.ErrNotFound):
		status = http.StatusNotFound
		msg = "There is no such page, or it belongs to another team."
	case errors.Is(err, context.Canceled):
		status = 499
	}
	if status >= 500 {
		s.Handlers.Logger(c).Error("request failed", "err", err)
	}
	if strings.HasPrefix(c.Path(), "/integration/") || strings.Contains(c.Request().Header.Get("Accept"), "application/json") && !strings.Contains(c.Request().Header.Get("Accept"), "text/html") {
		_ = c.JSON(status, map[string]string{"error": msg})
		return
	}
	titles := map[int]string{
		http.StatusNotFound: "Not found", http.StatusForbidden: "Not allowed",
		http.StatusTooManyRequests: "Too many requests", http.StatusMethodNotAllowed: "Not allowed",
		http.StatusRequestEntityTooLarge: "Form too large", http.StatusUnsupportedMediaType: "Form not accepted",
	}
	title := titles[status]
	if title == "" {
		title = http.StatusText(status)
		if status >= 500 {
			title = "Something went wrong"
		}
	}
	p := views.Page{Title: title, User: handlers.CurrentUser(c), CSRF: s.Handlers.Sessions.CSRFToken(c)}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	var buf strings.Builder
	if err := views.ErrorPage(p, status, msg).Render(c.Request().Context(), &buf); err != nil {
		_ = c.String(status, msg)
		return
	}
	_ = c.HTML(status, buf.String())
}
