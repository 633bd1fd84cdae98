package handlers

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/gob"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"klaxon/models"
	"klaxon/views"
)

const (
	sessionCookie = "klaxon_session"
	keySessionID  = "sid"
	keyCSRF       = "csrf"
	keyFlashes    = "flashes"
	ctxSession    = "klaxon.session"
	ctxUser       = "klaxon.user"
	csrfField     = "_csrf"
)

func init() {
	gob.Register([]views.Flash{})
}

// Sessions keeps log-in state in a cookie that is both signed and encrypted,
// and holding only a random session id: the sessions table decides whether
// it is still valid, so log-out and idle expiry hold on every instance.
type Sessions struct {
	store *sessions.CookieStore
	db    *models.DB
	idle  time.Duration
}

// NewSessions derives the signing and encryption keys from secret.
func NewSessions(db *models.DB, secret string, idle time.Duration, secure bool) *Sessions {
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	store := sessions.NewCookieStore(derive("klaxon session signing key"), derive("klaxon session encryption key"))
	store.Options = &sessions.Options{
		Path:     "/",
		MaxAge:   int(idle / time.Second),
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	}
	return &Sessions{store: store, db: db, idle: idle}
}

// Middleware loads the session and its user, makes sure it has a CSRF
// token, and saves the cookie just before the response is written.
func (s *Sessions) Middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sess, err := s.store.Get(c.Request(), sessionCookie)
		if err != nil {
			// A cookie from an old secret or tampered with: start afresh.
			sess, _ = s.store.New(c.Request(), sessionCookie)
		}
		c.Set(ctxSession, sess)
		if _, ok := sess.Values[keyCSRF].(string); !ok {
			sess.Values[keyCSRF] = models.RandomToken(32)
		}
		if sid, ok := sess.Values[keySessionID].(string); ok {
			u, err := s.db.SessionUser(c.Request().Context(), sid, s.idle)
			switch {
			case err == nil:
				c.Set(ctxUser, u)
			case errors.Is(err, models.ErrNotFound):
				delete(sess.Values, keySessionID)
			default:
				return err
			}
		}
		c.Response().Before(func() {
			if err := sess.Save(c.Request(), c.Response().Writer); err != nil {
				c.Logger().Error(err)
			}
		})
		return next(c)
	}
}

func session(c echo.Context) *sessions.Session {
	sess, _ := c.Get(ctxSession).(*sessions.Session)
	if sess == nil {
		sess = sessions.NewSession(nil, sessionCookie)
		sess.Options = &sessions.Options{}
		c.Set(ctxSession, sess)
	}
	return sess
}

// CurrentUser returns the signed-in user, or nil.
func CurrentUser(c echo.Context) *models.User {
	u, _ := c.Get(ctxUser).(*models.User)
	return u
}

// CSRFToken returns the session's CSRF token for forms.
func (s *Sessions) CSRFToken(c echo.Context) string {
	t, _ := session(c).Values[keyCSRF].(string)
	return t
}

// Login starts a fresh session for u: a new session id and CSRF token, so
// that nothing from before the log-in carries over.
func (s *Sessions) Login(c echo.Context, u *models.User) error {
	sess := session(c)
	if old, ok := sess.Values[keySessionID].(string); ok {
		_ = s.db.DeleteSession(c.Request().Context(), old)
	}
	row, err := s.db.CreateSession(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	flashes := sess.Values[keyFlashes]
	for k := range sess.Values {
		delete(sess.Values, k)
	}
	sess.Values[keySessionID] = row.ID
	sess.Values[keyCSRF] = models.RandomToken(32)
	if flashes != nil {
		sess.Values[keyFlashes] = flashes
	}
	c.Set(ctxUser, u)
	return nil
}

// SessionID returns the id of the request's server-side session ("" when
// there is none).
func (s *Sessions) SessionID(c echo.Context) string {
	sid, _ := session(c).Values[keySessionID].(string)
	return sid
}

// Logout ends the session on the server and clears the cookie.
func (s *Sessions) Logout(c echo.Context) error {
	sess := session(c)
	if sid, ok := sess.Values[keySessionID].(string); ok {
		if err := s.db.DeleteSession(c.Request().Context(), sid); err != nil {
			return err
		}
	}
	for k := range sess.Values {
		delete(sess.Values, k)
	}
	sess.Values[keyCSRF] = models.RandomToken(32)
	c.Set(ctxUser, nil)
	return nil
}

// Flash queues a message for the next page the user sees.
func (s *Sessions) Flash(c echo.Context, kind, text string) {
	sess := session(c)
	list, _ := sess.Values[keyFlashes].([]views.Flash)
	sess.Values[keyFlashes] = append(list, views.Flash{Kind: kind, Text: text})
}

// Flashes takes the queued messages.
func (s *Sessions) Flashes(c echo.Context) []views.Flash {
	sess := session(c)
	list, _ := sess.Values[keyFlashes].([]views.Flash)
	delete(sess.Values, keyFlashes)
	return list
}

// CSRF refuses state-changing requests whose _csrf field (or X-CSRF-Token
// header) does not match the session's token. It reads the form that the
// page middleware parsed and never parses a body itself; a token in the URL
// does not count.
func (s *Sessions) CSRF(skip func(c echo.Context) bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			switch c.Request().Method {
			case http.MethodGet, http.MethodHead, http.MethodOptions:
				return next(c)
			}
			if skip(c) {
				return next(c)
			}
			want := s.CSRFToken(c)
			got := c.Request().Header.Get("X-CSRF-Token")
			if got == "" {
				got = c.Request().PostForm.Get(csrfField)
			}
			if want == "" || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(want)) != 1 {
				return echo.NewHTTPError(http.StatusForbidden, "This form has expired or did not come from Klaxon. Go back, reload the page and try again.")
			}
			return next(c)
		}
	}
}

// RequireUser sends visitors without a session to log in, and back here
// afterwards.
func RequireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if CurrentUser(c) == nil {
			target := "/login"
			if c.Request().Method == http.MethodGet {
				target += "?next=" + url.QueryEscape(c.Request().URL.RequestURI())
			}
			return c.Redirect(http.StatusSeeOther, target)
		}
		return next(c)
	}
}
