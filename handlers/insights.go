package handlers

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // zones for viewers on a machine without them

	"github.com/labstack/echo/v4"

	"klaxon/models"
	"klaxon/views"
)

// insightZones are offered in the time-zone menu, besides the viewer's own
// (which the page's script picks when the URL names none).
var insightZones = []string{"UTC", "America/Los_Angeles", "America/Denver", "America/Chicago", "America/New_York", "America/Sao_Paulo",
	"Europe/London", "Europe/Berlin", "Europe/Helsinki", "Africa/Johannesburg", "Asia/Dubai", "Asia/Kolkata", "Asia/Singapore",
	"Asia/Tokyo", "Australia/Sydney", "Pacific/Auckland"}

// insightsRequest is the page's state, all of it in the URL.
type insightsRequest struct {
	period      models.Period
	integration string // public id
	integID     uint
	zone        string
	loc         *time.Location
	names       map[uint]string
	all         []models.Integration
}

// parseInsights reads period, integration and tz; unknown values fall back
// to the defaults (7 days, all integrations, UTC).
func (h *Handler) parseInsights(c echo.Context) (insightsRequest, error) {
	r := insightsRequest{period: models.Period(c.QueryParam("period")), zone: c.QueryParam("tz"), names: map[uint]string{}}
	if !r.period.Valid() {
		r.period = "7d"
	}
	r.loc = time.UTC
	if z := r.zone; z != "" && z != "Local" && len(z) <= 64 {
		if loc, err := time.LoadLocation(z); err == nil {
			r.loc = loc
		}
	}
	r.zone = r.loc.String()
	list, err := h.DB.AllIntegrations(c.Request().Context(), CurrentUser(c).AccountID)
	if err != nil {
		return r, err
	}
	for _, i := range list {
		r.names[i.ID] = i.Name
		if i.DeletedAt.Valid {
			r.names[i.ID] += " (deleted)"
		}
		if i.PublicID == c.QueryParam("integration") {
			r.integration, r.integID = i.PublicID, i.ID
		}
	}
	r.all = list
	return r, nil
}

func (r insightsRequest) values() url.Values {
	v := url.Values{"period": {string(r.period)}, "tz": {r.zone}}
	if r.integration != "" {
		v.Set("integration", r.integration)
	}
	return v
}

// listURL links to the alert list: every status, created in [from, to),
// the page's integration unless integ names another.
func (r insightsRequest) listURL(from, to time.Time, set url.Values) string {
	v := url.Values{"status": {"all"}, "from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}}
	if r.integration != "" {
		v.Set("integration", r.integration)
	}
	for k, vals := range set {
		v[k] = vals
	}
	return "/alerts?" + v.Encode()
}

func (h *Handler) insightsReport(c echo.Context) (insightsRequest, *models.InsightsReport, error) {
	r, err := h.parseInsights(c)
	if err != nil {
		return r, nil, err
	}
	rep, err := h.DB.Insights(c.Request().Context(), CurrentUser(c).AccountID, models.InsightsQuery{
		Period: r.period, IntegrationID: r.integID, Location: r.loc, Now: time.Now()})
	return r, rep, err
}

// Insights draws the team's alert volume, response times and noisiest
// sources for a period.
func (h *Handler) Insights(c echo.Context) error {
	r, rep, err := h.insightsReport(c)
	if err != nil {
		return err
	}
	publicIDs := map[uint]string{}
	for _, i := range r.all {
		publicIDs[i.ID] = i.PublicID
	}
	zones := insightZones
	if !slices.Contains(zones, r.zone) {
		zones = append([]string{r.zone}, zones...)
	}
	v := views.InsightsView{
		Period: r.period, Integration: r.integration, Integrations: r.all, Zone: r.zone, Zones: zones, Hourly: rep.Hourly, Report: rep,
		ListURL: r.listURL(rep.From, rep.To, nil), CSVBase: "/insights/export?" + r.values().Encode(), Names: r.names,
		BucketURL: func(b models.InsightBucket, u models.Urgency) string {
			set := url.Values{}
			if u != "" {
				set.Set("urgency", string(u))
			}
			return r.listURL(b.Start, b.End, set)
		},
		IntegrationURL: func(id uint) string {
			return r.listURL(rep.From, rep.To, url.Values{"integration": {publicIDs[id]}})
		},
		TitleURL: func(title string) string { return r.listURL(rep.From, rep.To, url.Values{"q": {searchText(title)}}) },
	}
	return render(c, http.StatusOK, views.InsightsPage(h.page(c, "Insights", "insights"), v))
}

// InsightsExport answers one chart's numbers as CSV.
func (h *Handler) InsightsExport(c echo.Context) error {
	chart := c.QueryParam("chart")
	if !slices.Contains([]string{"volume", "ack", "resolve", "integrations", "titles", "heatmap", "acks"}, chart) {
		return echo.NewHTTPError(http.StatusBadRequest, "Unknown chart: choose volume, ack, resolve, integrations, titles, heatmap or acks.")
	}
	r, rep, err := h.insightsReport(c)
	if err != nil {
		return err
	}
	var rows [][]string
	secs := func(d time.Duration, n int) string {
		if n == 0 {
			return ""
		}
		return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
	}
	switch chart {
	case "volume":
		head := []string{"start", "end"}
		for _, u := range models.Urgencies {
			head = append(head, string(u))
		}
		rows = append(rows, append(head, "total"))
		for _, b := range rep.Buckets {
			row := []string{b.Start.Format(time.RFC3339), b.End.Format(time.RFC3339)}
			for _, n := range b.ByUrgency {
				row = append(row, strconv.Itoa(n))
			}
			rows = append(rows, append(row, strconv.Itoa(b.Total)))
		}
	case "ack", "resolve":
		rows = append(rows, []string{"start", "end", "alerts_measured", "p50_seconds", "p90_seconds"})
		for _, b := range rep.Buckets {
			d := b.Ack
			if chart == "resolve" {
				d = b.Resolve
			}
			rows = append(rows, []string{b.Start.Format(time.RFC3339), b.End.Format(time.RFC3339), strconv.Itoa(d.N), secs(d.P50, d.N), secs(d.P90, d.N)})
		}
	case "integrations", "titles":
		rows = append(rows, []string{strings.TrimSuffix(chart, "s"), "alerts", "share"})
		list := rep.Titles
		if chart == "integrations" {
			list = rep.Integrations
		}
		for _, s := range list {
			name := s.Title
			if chart == "integrations" {
				name = r.names[s.IntegrationID]
			}
			rows = append(rows, []string{name, strconv.Itoa(s.Count), strconv.FormatFloat(s.Share, 'f', 4, 64)})
		}
	case "heatmap":
		head := []string{"day"}
		for h := range 24 {
			head = append(head, fmt.Sprintf("%02d", h))
		}
		rows = append(rows, head)
		for d, day := range views.Weekdays {
			row := []string{day}
			for _, n := range rep.Heat[d] {
				row = append(row, strconv.Itoa(n))
			}
			rows = append(rows, row)
		}
	case "acks":
		rows = append(rows, []string{"acknowledged_from", "alerts"})
		for _, via := range models.AckVias {
			rows = append(rows, []string{via.String(), strconv.Itoa(rep.Acks[via])})
		}
	}
	var b strings.Builder
	w := csv.NewWriter(&b)
	for _, row := range rows {
		for i, cell := range row {
			row[i] = csvSafe(cell)
		}
		w.Write(row)
	}
	w.Flush()
	name := fmt.Sprintf("klaxon-insights-%s-%s.csv", chart, r.period)
	c.Response().Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	return c.Blob(http.StatusOK, "text/csv; charset=utf-8", []byte(b.String()))
}

// csvSafe keeps a spreadsheet from reading a cell (an alert title, which
// anyone who can post in Mattermost chooses) as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
