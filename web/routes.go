package web

import (
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/labstack/echo/v4"

	"klaxon/handlers"
	"klaxon/web/mattermost"
)

// routes lists every route Klaxon serves.
func (s *Server) routes() {
	e, h := s.Echo, s.Handlers

	// Machine endpoints: no session, no CSRF.
	e.GET("/healthz", h.Healthz)
	e.POST("/integration/:id", h.Intake)
	e.Match([]string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPatch, http.MethodDelete}, "/integration/:id", h.IntakeWrongMethod)
	e.POST(mattermost.ActionsPath, h.MattermostAction)
	if s.cfg.BenchEndpoints {
		e.POST("/bench/ceiling/:id", h.BenchCeiling)
		// CPU profiles of the server under the benchmark's load.
		e.GET("/bench/pprof/profile", echo.WrapHandler(http.HandlerFunc(pprof.Profile)))
		e.GET("/bench/pprof/trace", echo.WrapHandler(http.HandlerFunc(pprof.Trace)))
	}

	// Pages: small url-encoded forms only, from Klaxon's own pages; a
	// session (possibly anonymous) and CSRF on every form.
	skipCSRF := func(c echo.Context) bool { return strings.HasPrefix(c.Path(), "/integration/") }
	pages := e.Group("", crossOrigin(s.cfg.BaseURL), pageForms, h.Sessions.Middleware, h.Sessions.CSRF(skipCSRF), noStore)
	pages.GET("/", h.Home)
	pages.GET("/signup", h.SignupPage)
	pages.POST("/signup", h.Signup)
	pages.GET("/login", h.LoginPage)
	pages.POST("/login", h.Login)
	pages.POST("/logout", h.Logout)

	app := pages.Group("", handlers.RequireUser)
	app.GET("/account", h.Account)
	app.POST("/account/password", h.ChangePassword)
	app.GET("/team", h.Team)
	app.POST("/team", h.AddTeammate)
	app.GET("/team/:id/remove", h.ConfirmRemoveTeammate)
	app.POST("/team/:id/remove", h.RemoveTeammate)

	app.GET("/integrations", h.Integrations)
	app.GET("/integrations/new", h.NewIntegrationCatalog)
	app.GET("/integrations/new/mattermost", h.NewIntegration)
	app.GET("/integrations/new/mattermost-slash", h.NewSlashIntegration)
	app.POST("/integrations", h.CreateIntegration)
	app.GET("/integrations/:id", h.ShowIntegration)
	app.GET("/integrations/:id/edit", h.EditIntegration)
	app.POST("/integrations/:id", h.UpdateIntegration)
	app.POST("/integrations/:id/enable", h.EnableIntegration)
	app.POST("/integrations/:id/disable", h.DisableIntegration)
	app.GET("/integrations/:id/delete", h.ConfirmDeleteIntegration)
	app.POST("/integrations/:id/delete", h.DeleteIntegration)
	app.POST("/integrations/:id/test", h.SendTestAlert)
	app.GET("/integrations/:id/logs/:log", h.ShowIntegrationLog)

	app.GET("/channels", h.Channels)
	app.GET("/channels/new", h.NewChannel)
	app.POST("/channels", h.CreateChannel)
	app.GET("/channels/:id", h.ShowChannel)
	app.GET("/channels/:id/edit", h.EditChannel)
	app.POST("/channels/:id", h.UpdateChannel)
	app.POST("/channels/:id/enable", h.EnableChannel)
	app.POST("/channels/:id/disable", h.DisableChannel)
	app.GET("/channels/:id/delete", h.ConfirmDeleteChannel)
	app.POST("/channels/:id/delete", h.DeleteChannel)
	app.POST("/channels/:id/test", h.SendTestMessage)

	app.GET("/alerts", h.Alerts)
	app.GET("/alerts/rows", h.AlertRows)
	app.POST("/alerts/bulk", h.BulkAlerts)
	app.GET("/alerts/:id", h.ShowAlert)
	app.POST("/alerts/:id/acknowledge", h.AcknowledgeAlert)
	app.POST("/alerts/:id/resolve", h.ResolveAlert)

	app.GET("/insights", h.Insights)
	app.GET("/insights/export", h.InsightsExport)

	pages.RouteNotFound("/*", h.NotFound)
}

// noStore keeps pages with account data out of shared caches.
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		return next(c)
	}
}
