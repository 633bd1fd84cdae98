package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"klaxon/models"
	"klaxon/views"
)

// localPath returns next when it is a path on this site, else "/alerts",
// so that a log-in link cannot send people elsewhere.
func localPath(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n\t") {
		return "/alerts"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return "/alerts"
	}
	return next
}

// Home sends visitors where they belong: alerts when signed in, sign-up on
// a fresh install, log-in otherwise.
func (h *Handler) Home(c echo.Context) error {
	if CurrentUser(c) != nil {
		return c.Redirect(http.StatusSeeOther, "/alerts")
	}
	n, err := h.DB.CountAccounts(c.Request().Context())
	if err != nil {
		return err
	}
	if n == 0 {
		return c.Redirect(http.StatusSeeOther, "/signup")
	}
	return c.Redirect(http.StatusSeeOther, "/login")
}

// signupAllowed reports whether a new team may be created now.
func (h *Handler) signupAllowed(c echo.Context) (bool, error) {
	if h.SignupOpen {
		return true, nil
	}
	n, err := h.DB.CountAccounts(c.Request().Context())
	return n == 0, err
}

func (h *Handler) SignupPage(c echo.Context) error {
	if CurrentUser(c) != nil {
		return c.Redirect(http.StatusSeeOther, "/alerts")
	}
	ok, err := h.signupAllowed(c)
	if err != nil {
		return err
	}
	if !ok {
		return echo.NewHTTPError(http.StatusForbidden, "Sign-up is closed on this Klaxon. Ask a teammate to add you from the Team page.")
	}
	return render(c, http.StatusOK, views.SignupPage(h.page(c, "Sign up", ""), "", "", nil))
}

func (h *Handler) Signup(c echo.Context) error {
	ok, err := h.signupAllowed(c)
	if err != nil {
		return err
	}
	if !ok {
		return echo.NewHTTPError(http.StatusForbidden, "Sign-up is closed on this Klaxon. Ask a teammate to add you from the Team page.")
	}
	in := models.SignUp{
		Team: c.FormValue("team"), Email: c.FormValue("email"),
		Password: c.FormValue("password"), Confirm: c.FormValue("confirm"),
	}
	if err := in.Validate(); err != nil {
		return h.signupRefused(c, in, err)
	}
	if wait := h.Throttle.SignupAttempt(c.RealIP()); wait > 0 {
		c.Response().Header().Set("Retry-After", retryAfterSeconds(wait))
		errs := views.FormErrors{"form": "Too many sign-ups from your address. Wait " + humanDuration(wait) + " and try again."}
		return render(c, http.StatusTooManyRequests, views.SignupPage(h.page(c, "Sign up", ""), in.Team, in.Email, errs))
	}
	u, err := h.DB.CreateAccount(c.Request().Context(), in)
	if err != nil {
		return h.signupRefused(c, in, err)
	}
	u.Account.ID = u.AccountID
	if err := h.Sessions.Login(c, u); err != nil {
		return err
	}
	h.Logger(c).Info("team created", "account", u.AccountID, "user", u.ID)
	h.Sessions.Flash(c, "success", "Welcome to Klaxon! Create an integration to start receiving alerts from Mattermost.")
	return redirect(c, "/integrations")
}

// signupRefused shows the form again with what is wrong, or passes err on.
func (h *Handler) signupRefused(c echo.Context, in models.SignUp, err error) error {
	var verr models.ValidationErrors
	if errors.As(err, &verr) {
		return render(c, http.StatusUnprocessableEntity, views.SignupPage(h.page(c, "Sign up", ""), in.Team, in.Email, views.FormErrors(verr)))
	}
	return err
}

func (h *Handler) LoginPage(c echo.Context) error {
	if CurrentUser(c) != nil {
		return c.Redirect(http.StatusSeeOther, localPath(c.QueryParam("next")))
	}
	n, err := h.DB.CountAccounts(c.Request().Context())
	if err != nil {
		return err
	}
	if n == 0 {
		return c.Redirect(http.StatusSeeOther, "/signup")
	}
	open, err := h.signupAllowed(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.LoginPage(h.page(c, "Log in", ""), "", localPath(c.QueryParam("next")), nil, open))
}

func (h *Handler) Login(c echo.Context) error {
	email := models.NormalizeEmail(c.FormValue("email"))
	next := localPath(c.FormValue("next"))
	if wait := h.Throttle.LoginAttempt(email, c.RealIP()); wait > 0 {
		c.Response().Header().Set("Retry-After", retryAfterSeconds(wait))
		open, _ := h.signupAllowed(c)
		errs := views.FormErrors{"form": "Too many failed log-ins. Wait " + humanDuration(wait) + " and try again."}
		return render(c, http.StatusTooManyRequests, views.LoginPage(h.page(c, "Log in", ""), email, next, errs, open))
	}
	u, err := h.DB.Authenticate(c.Request().Context(), email, c.FormValue("password"))
	if errors.Is(err, models.ErrNotFound) {
		h.Logger(c).Info("log-in failed", "ip", c.RealIP())
		open, _ := h.signupAllowed(c)
		errs := views.FormErrors{"form": "That email and password do not match an account."}
		return render(c, http.StatusUnprocessableEntity, views.LoginPage(h.page(c, "Log in", ""), email, next, errs, open))
	}
	if err != nil {
		return err
	}
	h.Throttle.LoginSucceeded(email, c.RealIP())
	if err := h.Sessions.Login(c, u); err != nil {
		return err
	}
	h.Logger(c).Info("logged in", "user", u.ID)
	return redirect(c, next)
}

func (h *Handler) Logout(c echo.Context) error {
	if err := h.Sessions.Logout(c); err != nil {
		return err
	}
	h.Sessions.Flash(c, "success", "You are logged out.")
	return redirect(c, "/login")
}
