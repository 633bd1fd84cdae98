package handlers

import (
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"klaxon/models"
	"klaxon/web/mattermost"
)

// MattermostAction is POST /mattermost/actions, where Mattermost's server
// posts clicks on the Acknowledge and Resolve buttons. No session: the
// button's signed context is the authority. Every answer is JSON with an
// ephemeral_text for the clicker, since Mattermost shows nothing else.
func (h *Handler) MattermostAction(c echo.Context) error {
	refuse := func(status int, outcome, text string) error {
		AddLogAttrs(c, "outcome", outcome)
		h.Logger(c).Warn("mattermost action refused", "outcome", outcome, "source_ip", c.RealIP())
		return c.JSON(status, mattermost.Refusal(text))
	}
	if h.Actions != nil {
		if delay := h.Actions.Take(c.RealIP()); delay > 0 {
			c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(delay.Seconds()))))
			return refuse(http.StatusTooManyRequests, "rate_limited", "Klaxon is getting too many clicks from this Mattermost server; try again in a moment.")
		}
	}
	if h.Buttons == nil {
		return refuse(http.StatusOK, "no_buttons", "This Klaxon does not take button clicks.")
	}
	body, tooLarge, err := readAtMost(c.Request(), mattermost.MaxActionBody)
	switch {
	case tooLarge:
		return refuse(http.StatusOK, "too_large", "Klaxon refused this click: its request is larger than any button click.")
	case err != nil:
		return refuse(http.StatusOK, "invalid", "Klaxon could not read this click; try again.")
	}
	click, err := mattermost.ParseClick(body)
	if err != nil {
		return refuse(http.StatusOK, "invalid", "Klaxon refused this click: "+err.Error()+".")
	}
	AddLogAttrs(c, "alert", click.Context.Alert, "action", click.Context.Action, "mattermost_user", click.UserName)
	if !h.Buttons.Valid(click.Context) {
		return refuse(http.StatusOK, "bad_signature", "Klaxon refused this click: the button's signature is not valid, so nothing was changed.")
	}
	t, ok := click.Transition()
	accountID, err := strconv.ParseUint(click.Context.Team, 10, 64)
	if !ok || err != nil {
		// Signed by Klaxon, so only a Klaxon of another version makes these.
		return refuse(http.StatusOK, "invalid", "Klaxon does not know this button's action; nothing was changed.")
	}
	ctx := c.Request().Context()
	account := uint(accountID)
	allowed, err := h.allowedClickers(c, account, click.Context.Source)
	if errors.Is(err, models.ErrNotFound) {
		return refuse(http.StatusOK, "unknown_source", "The integration or channel behind this button was deleted; act on the alert in Klaxon.")
	}
	if err != nil {
		return err
	}
	if !models.UserAllowed(allowed, click.UserName) {
		return refuse(http.StatusOK, "not_allowed", "You are not allowed to "+click.Context.Action+" Klaxon alerts from this post; nothing was changed. Ask a teammate on its list, or act in Klaxon.")
	}
	actor := models.Actor{Name: click.ActorName(), ExternalID: click.UserID, Via: "mattermost"}
	err = h.DB.ApplyTransitionAs(ctx, account, actor, click.Context.Alert, t)
	var conflict *models.ConflictError
	switch {
	case errors.Is(err, models.ErrNotFound):
		return refuse(http.StatusOK, "unknown_alert", "Klaxon has no alert "+click.Context.Alert+" (it may have been deleted); nothing was changed.")
	case errors.As(err, &conflict):
	case err != nil:
		return err
	}
	det, err := h.DB.Alert(ctx, account, click.Context.Alert)
	if err != nil {
		return err
	}
	a := &det.Alert
	var text string
	if conflict != nil {
		AddLogAttrs(c, "outcome", "already")
		text = "Nothing to do: " + a.PublicID + " is already " + string(a.Status) + alreadyBy(a) + "."
	} else {
		AddLogAttrs(c, "outcome", "changed")
		text = "You " + pastTense(t) + " " + a.PublicID + ": " + a.Title
	}
	return c.JSON(http.StatusOK, h.Buttons.Updated(a, click.Context.Source, h.BaseURL, text))
}

// allowedClickers is the list of user names allowed on the button's source:
// an integration (its thread replies) or a notification channel (its posts),
// of account.
func (h *Handler) allowedClickers(c echo.Context, account uint, source string) (string, error) {
	ctx := c.Request().Context()
	switch {
	case strings.HasPrefix(source, "int_"):
		i, err := h.DB.Integration(ctx, account, source)
		if err != nil {
			return "", err
		}
		return i.AllowedUsers, nil
	case strings.HasPrefix(source, "chn_"):
		ch, err := h.DB.Channel(ctx, account, source)
		if err != nil {
			return "", err
		}
		return ch.AllowedUsers, nil
	}
	return "", models.ErrNotFound
}

func alreadyBy(a *models.Alert) string {
	switch a.Status {
	case models.StatusAcknowledged:
		return " (by " + a.AcknowledgedBy + ")"
	case models.StatusResolved:
		return " (by " + a.ResolvedBy + ")"
	}
	return ""
}

func pastTense(t models.Transition) string {
	if t == models.Acknowledge {
		return "acknowledged"
	}
	return "resolved"
}

// readAtMost reads a request body of at most limit bytes.
func readAtMost(r *http.Request, limit int64) (body []byte, tooLarge bool, err error) {
	if r.ContentLength > limit {
		return nil, true, nil
	}
	body, err = io.ReadAll(io.LimitReader(r.Body, limit+1))
	if int64(len(body)) > limit {
		return nil, true, nil
	}
	return body, false, err
}

// KeyedLimiter is a token bucket per key (a source address), at most
// maxKeys of them; when that many are held, they are all dropped, which
// only ever lets more through.
type KeyedLimiter struct {
	mu      sync.Mutex
	rate    rate.Limit
	burst   int
	buckets map[string]*rate.Limiter
}

const maxKeys = 10_000

// NewKeyedLimiter allows perSecond requests per key with bursts of burst;
// perSecond 0 allows everything.
func NewKeyedLimiter(perSecond float64, burst int) *KeyedLimiter {
	if perSecond <= 0 {
		return &KeyedLimiter{rate: rate.Inf}
	}
	return &KeyedLimiter{rate: rate.Limit(perSecond), burst: max(burst, 1), buckets: map[string]*rate.Limiter{}}
}

// Take spends one request of key's bucket and returns how long to wait
// first, 0 when it may go now (the request is then counted).
func (l *KeyedLimiter) Take(key string) time.Duration {
	if l.rate == rate.Inf {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxKeys {
			clear(l.buckets)
		}
		b = rate.NewLimiter(l.rate, l.burst)
		l.buckets[key] = b
	}
	now := time.Now()
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}
