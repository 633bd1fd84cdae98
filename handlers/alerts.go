package handlers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"klaxon/models"
	"klaxon/views"
)

// statusTabs are the alert list's tabs, in order, with the statuses each
// shows. "active" (open and acknowledged) is the default.
var statusTabs = []struct {
	key, label string
	statuses   []models.Status
}{
	{"active", "Active", []models.Status{models.StatusOpen, models.StatusAcknowledged}},
	{"open", "Open", []models.Status{models.StatusOpen}},
	{"acknowledged", "Acknowledged", []models.Status{models.StatusAcknowledged}},
	{"resolved", "Resolved", []models.Status{models.StatusResolved}},
	{"all", "All", nil},
}

// alertQuery is the alert list's state, all of it in the URL.
type alertQuery struct {
	status, urgency, integration, text string
	before, after                      uint
	// from and to keep alerts created in [from, to) (RFC 3339 in the URL).
	from, to time.Time
}

func parseAlertQuery(c echo.Context) alertQuery {
	q := alertQuery{
		status:      c.QueryParam("status"),
		urgency:     c.QueryParam("urgency"),
		integration: c.QueryParam("integration"),
		text:        strings.TrimSpace(c.QueryParam("q")),
	}
	valid := false
	for _, t := range statusTabs {
		valid = valid || t.key == q.status
	}
	if !valid {
		q.status = "active"
	}
	if !models.Urgency(q.urgency).Valid() {
		q.urgency = ""
	}
	q.text = searchText(q.text)
	q.from, _ = time.Parse(time.RFC3339, c.QueryParam("from"))
	q.to, _ = time.Parse(time.RFC3339, c.QueryParam("to"))
	if n, err := strconv.ParseUint(c.QueryParam("before"), 10, 64); err == nil {
		q.before = uint(n)
	}
	if n, err := strconv.ParseUint(c.QueryParam("after"), 10, 64); err == nil {
		q.after = uint(n)
	}
	return q
}

// searchText keeps what a search can use: valid text without control
// characters, at most 200 characters.
func searchText(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, " "))
	if r := []rune(strings.TrimSpace(s)); len(r) > 200 {
		s = string(r[:200])
	}
	return strings.TrimSpace(s)
}

// url builds the list URL for q with the given status and cursors.
func (q alertQuery) url(path, status string, before, after uint) string {
	v := url.Values{}
	v.Set("status", status)
	if q.urgency != "" {
		v.Set("urgency", q.urgency)
	}
	if q.integration != "" {
		v.Set("integration", q.integration)
	}
	if q.text != "" {
		v.Set("q", q.text)
	}
	if !q.from.IsZero() {
		v.Set("from", q.from.Format(time.RFC3339))
	}
	if !q.to.IsZero() {
		v.Set("to", q.to.Format(time.RFC3339))
	}
	if before != 0 {
		v.Set("before", strconv.FormatUint(uint64(before), 10))
	}
	if after != 0 {
		v.Set("after", strconv.FormatUint(uint64(after), 10))
	}
	return path + "?" + v.Encode()
}

// filter turns q into a model filter for the tab with statuses.
func (h *Handler) filter(c echo.Context, q alertQuery, statuses []models.Status) (models.AlertFilter, error) {
	f := models.AlertFilter{Statuses: statuses, Urgency: models.Urgency(q.urgency), Text: q.text, Before: q.before, After: q.after,
		CreatedFrom: q.from, CreatedTo: q.to}
	if q.integration != "" {
		list, err := h.DB.AllIntegrations(c.Request().Context(), CurrentUser(c).AccountID)
		if err != nil {
			return f, err
		}
		f.IntegrationID = ^uint(0) // unknown id: match nothing
		for _, i := range list {
			if i.PublicID == q.integration {
				f.IntegrationID = i.ID
			}
		}
	}
	return f, nil
}

func tabStatuses(key string) []models.Status {
	for _, t := range statusTabs {
		if t.key == key {
			return t.statuses
		}
	}
	return nil
}

// searchContext gives a page's searches one time budget between them.
func (h *Handler) searchContext(c echo.Context, text string) (context.Context, context.CancelFunc) {
	if text == "" {
		return c.Request().Context(), func() {}
	}
	return context.WithTimeout(c.Request().Context(), h.DB.SearchLimits().Timeout)
}

// searchFailure explains a search that did not finish, or returns "" for
// other errors.
func (h *Handler) searchFailure(c echo.Context, err error) string {
	switch {
	case errors.Is(err, models.ErrSearchTimeout):
		return fmt.Sprintf("The search took longer than %s and was stopped. Search for longer or fewer words, or narrow it with the status, urgency or integration.", h.DB.SearchLimits().Timeout)
	case errors.Is(err, models.ErrSearchBusy):
		c.Response().Header().Set("Retry-After", "2")
		return "Too many searches are running right now, so this one did not run. Try again in a moment."
	}
	return ""
}

// Alerts is the alert list: tabs with counts, filters, keyset pages and
// bulk actions. A search that does not finish in time is answered 503 with
// the page and the reason.
func (h *Handler) Alerts(c echo.Context) error {
	ctx := c.Request().Context()
	account := CurrentUser(c).AccountID
	q := parseAlertQuery(c)
	f, err := h.filter(c, q, tabStatuses(q.status))
	if err != nil {
		return err
	}
	sctx, cancel := h.searchContext(c, q.text)
	defer cancel()
	status := http.StatusOK
	page, err := h.DB.Alerts(sctx, account, f)
	failed := h.searchFailure(c, err)
	if err != nil && failed == "" {
		return err
	}
	var counts map[models.Status]int64
	if failed == "" {
		counts, err = h.DB.CountAlertsByStatus(sctx, account, f)
		if failed = h.searchFailure(c, err); err != nil && failed == "" {
			return err
		}
	}
	integrations, err := h.DB.AllIntegrations(ctx, account)
	if err != nil {
		return err
	}
	v := views.AlertsView{
		Alerts: page.Alerts, Status: q.status, Urgency: q.urgency, Integration: q.integration, Text: q.text,
		Integrations: integrations, Filtered: q.urgency != "" || q.integration != "" || q.text != "" || !q.from.IsZero() || !q.to.IsZero(),
		From: q.from, To: q.to,
		ReturnURL: c.Request().URL.RequestURI(), Now: time.Now(),
		SearchNotice: h.DB.ParseSearch(q.text).Notice(), SearchFailed: failed,
	}
	if failed != "" {
		status = http.StatusServiceUnavailable
	}
	for _, t := range statusTabs {
		statuses := t.statuses
		if statuses == nil {
			statuses = models.Statuses
		}
		var n int64
		for _, s := range statuses {
			n += counts[s]
		}
		v.Tabs = append(v.Tabs, views.AlertTab{Key: t.key, Label: t.label, URL: q.url("/alerts", t.key, 0, 0), Count: n, Active: t.key == q.status})
	}
	if page.Older != 0 {
		v.OlderURL = q.url("/alerts", q.status, page.Older, 0)
	}
	if page.Newer != 0 {
		v.NewerURL = q.url("/alerts", q.status, 0, page.Newer)
	} else if q.before != 0 || q.after != 0 {
		v.NewerURL = q.url("/alerts", q.status, 0, 0)
	}
	if q.before == 0 && q.after == 0 && failed == "" {
		v.LiveURL = q.url("/alerts/rows", q.status, 0, 0)
	}
	return render(c, status, views.AlertsPage(h.page(c, "Alerts", "alerts"), v))
}

// AlertRows serves the first page's rows alone, for live updates.
func (h *Handler) AlertRows(c echo.Context) error {
	q := parseAlertQuery(c)
	q.before, q.after = 0, 0
	f, err := h.filter(c, q, tabStatuses(q.status))
	if err != nil {
		return err
	}
	sctx, cancel := h.searchContext(c, q.text)
	defer cancel()
	page, err := h.DB.Alerts(sctx, CurrentUser(c).AccountID, f)
	if h.searchFailure(c, err) != "" {
		return c.NoContent(http.StatusServiceUnavailable) // the page keeps the rows it shows
	}
	if err != nil {
		return err
	}
	// The rows come inside a table so that they parse as rows on their own.
	var buf bytes.Buffer
	buf.WriteString("<table>")
	if err := views.AlertRows(page.Alerts, time.Now(), q.url("/alerts/rows", q.status, 0, 0)).Render(c.Request().Context(), &buf); err != nil {
		return err
	}
	buf.WriteString("</table>")
	return c.HTMLBlob(http.StatusOK, buf.Bytes())
}

func (h *Handler) ShowAlert(c echo.Context) error {
	det, err := h.DB.Alert(c.Request().Context(), CurrentUser(c).AccountID, c.Param("id"))
	if err != nil {
		return err
	}
	v := views.AlertView{Alert: det.Alert, Events: det.Events, RawRequest: prettyBody(det.Alert.RawRequest, det.Alert.RawContentType), Now: time.Now()}
	return render(c, http.StatusOK, views.AlertPage(h.page(c, det.Alert.Title, "alerts"), v))
}

func (h *Handler) transition(c echo.Context, t models.Transition, done string) error {
	id := c.Param("id")
	err := h.DB.ApplyTransition(c.Request().Context(), CurrentUser(c).AccountID, CurrentUser(c), id, t)
	var conflict *models.ConflictError
	switch {
	case errors.As(err, &conflict):
		h.Sessions.Flash(c, "error", "This alert is already "+string(conflict.Status)+", so it cannot be "+done+" now; someone may have got there first.")
	case err != nil:
		return err
	default:
		h.Sessions.Flash(c, "success", "Alert "+done+".")
		h.wakeNotifier()
	}
	return redirect(c, "/alerts/"+id)
}

func (h *Handler) AcknowledgeAlert(c echo.Context) error {
	return h.transition(c, models.Acknowledge, "acknowledged")
}

func (h *Handler) ResolveAlert(c echo.Context) error {
	return h.transition(c, models.Resolve, "resolved")
}

// BulkAlerts acknowledges or resolves the selected alerts.
func (h *Handler) BulkAlerts(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "The form could not be read.")
	}
	back := localPath(form.Get("return"))
	if back == "/alerts" || !strings.HasPrefix(back, "/alerts") {
		back = "/alerts"
	}
	ids := form["ids"]
	var t models.Transition
	var done string
	switch form.Get("action") {
	case "acknowledge":
		t, done = models.Acknowledge, "acknowledged"
	case "resolve":
		t, done = models.Resolve, "resolved"
	default:
		return echo.NewHTTPError(http.StatusBadRequest, "Choose Acknowledge or Resolve.")
	}
	if len(ids) == 0 {
		h.Sessions.Flash(c, "error", "Select at least one alert first.")
		return redirect(c, back)
	}
	if len(ids) > 500 {
		ids = ids[:500]
	}
	res, err := h.DB.ApplyTransitionMany(c.Request().Context(), CurrentUser(c).AccountID, CurrentUser(c), ids, t)
	if err != nil {
		return err
	}
	if res.Changed > 0 {
		h.wakeNotifier()
	}
	msg := views.Plural(res.Changed, "alert") + " " + done + "."
	if res.Skipped > 0 {
		msg += " " + views.Plural(res.Skipped, "alert") + " skipped: already " + done + " or past that."
	}
	if res.NotFound > 0 {
		msg += " " + views.Plural(res.NotFound, "alert") + " not found."
	}
	h.Sessions.Flash(c, "success", msg)
	return redirect(c, back)
}
