package handlers

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"klaxon/models"
	"klaxon/views"
)

func (h *Handler) teamPage(c echo.Context, status int, email string, errs views.FormErrors) error {
	users, err := h.DB.Teammates(c.Request().Context(), CurrentUser(c).AccountID)
	if err != nil {
		return err
	}
	return render(c, status, views.TeamPage(h.page(c, "Team", "team"), users, email, errs))
}

func (h *Handler) Team(c echo.Context) error {
	return h.teamPage(c, http.StatusOK, "", nil)
}

func (h *Handler) AddTeammate(c echo.Context) error {
	in := models.NewTeammate{Email: c.FormValue("email"), Password: c.FormValue("password"), Confirm: c.FormValue("confirm")}
	if err := in.Validate(); err != nil {
		return h.teammateRefused(c, in, err)
	}
	me := CurrentUser(c)
	if wait := h.Throttle.TeammateAttempt(me.AccountID, c.RealIP()); wait > 0 {
		c.Response().Header().Set("Retry-After", retryAfterSeconds(wait))
		errs := views.FormErrors{"form": "Too many teammates added in a short time. Wait " + humanDuration(wait) + " and try again."}
		return h.teamPage(c, http.StatusTooManyRequests, in.Email, errs)
	}
	u, err := h.DB.AddTeammate(c.Request().Context(), me.AccountID, in)
	if err != nil {
		return h.teammateRefused(c, in, err)
	}
	h.Sessions.Flash(c, "success", u.Email+" can now log in to your team.")
	return redirect(c, "/team")
}

// teammateRefused shows the form again with what is wrong, or passes err on.
func (h *Handler) teammateRefused(c echo.Context, in models.NewTeammate, err error) error {
	var verr models.ValidationErrors
	if errors.As(err, &verr) {
		return h.teamPage(c, http.StatusUnprocessableEntity, in.Email, views.FormErrors(verr))
	}
	return err
}

// ConfirmRemoveTeammate asks before removing a teammate.
func (h *Handler) ConfirmRemoveTeammate(c echo.Context) error {
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil {
		return models.ErrNotFound
	}
	me := CurrentUser(c)
	u, err := h.DB.Teammate(c.Request().Context(), me.AccountID, uint(id))
	if err != nil {
		return err
	}
	if u.ID == me.ID {
		h.Sessions.Flash(c, "error", "You cannot remove yourself.")
		return redirect(c, "/team")
	}
	return render(c, http.StatusOK, views.ConfirmRemoveTeammatePage(h.page(c, "Remove "+u.Email, "team"), u))
}

func (h *Handler) RemoveTeammate(c echo.Context) error {
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil {
		return models.ErrNotFound
	}
	me := CurrentUser(c)
	err = h.DB.RemoveTeammate(c.Request().Context(), me.AccountID, me.ID, uint(id))
	var verr models.ValidationErrors
	if errors.As(err, &verr) {
		h.Sessions.Flash(c, "error", verr["user"])
		return redirect(c, "/team")
	}
	if err != nil {
		return err
	}
	h.Sessions.Flash(c, "success", "Teammate removed.")
	return redirect(c, "/team")
}

// Account is the signed-in user's own page: who they are, and a form to
// change their password.
func (h *Handler) Account(c echo.Context) error {
	return render(c, http.StatusOK, views.AccountPage(h.page(c, "Your account", ""), nil))
}

// ChangePassword checks the current password, sets the new one and logs the
// user's other sessions out. Wrong current passwords are throttled per user,
// apart from log-ins.
func (h *Handler) ChangePassword(c echo.Context) error {
	u := CurrentUser(c)
	if wait := h.Throttle.PasswordAttempt(u.ID); wait > 0 {
		c.Response().Header().Set("Retry-After", retryAfterSeconds(wait))
		errs := views.FormErrors{"current": "Too many wrong passwords. Wait " + humanDuration(wait) + " and try again."}
		return render(c, http.StatusTooManyRequests, views.AccountPage(h.page(c, "Your account", ""), errs))
	}
	in := models.PasswordChange{Current: c.FormValue("current"), Password: c.FormValue("password"), Confirm: c.FormValue("confirm")}
	err := h.DB.ChangePassword(c.Request().Context(), u.ID, h.Sessions.SessionID(c), in)
	var verr models.ValidationErrors
	if errors.As(err, &verr) {
		if verr["current"] == "" {
			h.Throttle.PasswordSucceeded(u.ID)
		}
		return render(c, http.StatusUnprocessableEntity, views.AccountPage(h.page(c, "Your account", ""), views.FormErrors(verr)))
	}
	if err != nil {
		return err
	}
	h.Throttle.PasswordSucceeded(u.ID)
	// A fresh session id and CSRF token, as at log-in.
	if err := h.Sessions.Login(c, u); err != nil {
		return err
	}
	h.Logger(c).Info("password changed", "user", u.ID)
	h.Sessions.Flash(c, "success", "Your password is changed. Your other sessions are logged out.")
	return redirect(c, "/account")
}
