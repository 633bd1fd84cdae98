package web_test

import (
	"encoding/csv"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"klaxon/models"
	"klaxon/web"
	"klaxon/web/webtest"
)

func TestInsightsPage(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		srv := webtest.Start(t, func(c *web.Config) { c.DatabaseURL = dbURL })
		cl := srv.NewClient()
		cl.SignUp("Ops", "ops@example.com", password)

		empty := cl.Get("/insights")
		if empty.Status != 200 || empty.Doc.Find(`[data-testid="insights-empty"]`).Length() != 1 {
			t.Fatalf("a team without alerts: status %d, empty state %d", empty.Status, empty.Doc.Find(`[data-testid="insights-empty"]`).Length())
		}

		a := cl.CreateIntegration("Alpha", models.UrgencyLow)
		b := cl.CreateIntegration("Beta", models.UrgencyMedium)
		dbDown := send(t, srv, a, "p1", "outage critical db down")
		send(t, srv, a, "p2", "outage critical db down")
		cpu := send(t, srv, b, "p3", "outage high cpu on web-3")
		formula := send(t, srv, b, "p4", "=HYPERLINK(\"http://evil\") outage")
		cl.Submit("/alerts/"+cpu, "/alerts/"+cpu+"/acknowledge", nil)
		cl.Submit("/alerts/"+dbDown, "/alerts/"+dbDown+"/resolve", nil)

		// Another team's alerts and integration change nothing.
		other := srv.NewClient()
		other.SignUp("Other", "other@example.com", password)
		theirs := other.CreateIntegration("Theirs", models.UrgencyHigh)
		send(t, srv, theirs, "q1", "outage critical db down")

		p := cl.Get("/insights?period=24h&tz=UTC")
		if p.Status != 200 {
			t.Fatalf("GET /insights: %d", p.Status)
		}
		if got := p.Text(`[data-testid="summary-total"]`); got != "4" {
			t.Errorf("total %q, want 4", got)
		}
		for _, chart := range []string{"chart-volume", "chart-ack", "chart-resolve", "chart-integrations", "chart-titles", "chart-heat", "chart-acks"} {
			s := p.Doc.Find(`[data-testid="` + chart + `"]`)
			if s.Find("svg[role=img] title").Length() == 0 || s.Find("details table").Length() != 1 || s.Find(`a[download][href*="chart="]`).Length() != 1 {
				t.Errorf("%s: an SVG with a title, a data table and a CSV link expected", chart)
			}
		}
		critical := p.Doc.Find(`[data-testid="chart-volume"] rect.u-critical title`).Text()
		if !strings.Contains(critical, "2 critical of 4 alerts") {
			t.Errorf("critical bar's tooltip %q", critical)
		}
		if !strings.Contains(p.Text(`[data-testid="chart-titles"] table`), "outage critical db down") ||
			!strings.Contains(p.Text(`[data-testid="chart-titles"] table`), "50.0%") {
			t.Errorf("titles table: %q", p.Text(`[data-testid="chart-titles"] table`))
		}
		if got := p.Text(`[data-testid="chart-acks"] table`); !strings.Contains(got, "Browser1100.0%") {
			t.Errorf("acknowledged-from table: %q", got)
		}

		// The critical bar links to the list of exactly those alerts.
		href, _ := p.Doc.Find(`[data-testid="chart-volume"] svg a:has(rect.u-critical)`).Attr("href")
		list := cl.Get(href)
		if ids := rowIDs(list); list.Status != 200 || len(ids) != 2 || list.Doc.Find(`[data-testid="created-range"]`).Length() != 1 {
			t.Errorf("%s: status %d, rows %v", href, list.Status, ids)
		}
		// The integration chart's row for Beta lists Beta's alerts.
		href, _ = p.Doc.Find(`[data-testid="chart-integrations"] table a:contains("Beta")`).Attr("href")
		if ids := rowIDs(cl.Get(href)); len(ids) != 2 || !slices.Contains(ids, cpu) || !slices.Contains(ids, formula) {
			t.Errorf("%s: rows %v", href, ids)
		}

		// One integration; another team's integration id is ignored.
		if got := cl.Get("/insights?period=24h&tz=UTC&integration=" + b).Text(`[data-testid="summary-total"]`); got != "2" {
			t.Errorf("Beta only: total %q", got)
		}
		if got := cl.Get("/insights?period=24h&tz=UTC&integration=" + theirs).Text(`[data-testid="summary-total"]`); got != "4" {
			t.Errorf("another team's integration: total %q, want all 4 of ours", got)
		}
		// A bad zone or period falls back to UTC and 7 days.
		bad := cl.Get("/insights?period=1y&tz=../../etc/passwd")
		if bad.Status != 200 || bad.Doc.Find(`#insights-tz option[selected]`).Text() != "UTC" || bad.Doc.Find(`#insights-period option[selected]`).AttrOr("value", "") != "7d" {
			t.Errorf("bad period and zone: status %d", bad.Status)
		}

		// CSV: one per chart; a title that a spreadsheet would run is quoted.
		exp := cl.Get("/insights/export?period=24h&tz=UTC&chart=titles")
		if exp.Status != 200 || !strings.HasPrefix(exp.Header.Get("Content-Type"), "text/csv") || !strings.Contains(exp.Header.Get("Content-Disposition"), "attachment") {
			t.Fatalf("CSV: status %d, %v", exp.Status, exp.Header)
		}
		rows, err := csv.NewReader(strings.NewReader(exp.Body)).ReadAll()
		if err != nil || len(rows) != 4 || rows[1][0] != "outage critical db down" || rows[1][1] != "2" || rows[1][2] != "0.5000" {
			t.Errorf("titles CSV: %v %v", rows, err)
		}
		for _, r := range rows {
			if strings.HasPrefix(r[0], "=") {
				t.Errorf("a formula in the CSV: %q", r[0])
			}
		}
		vol := cl.Get("/insights/export?period=24h&tz=UTC&chart=volume")
		rows, _ = csv.NewReader(strings.NewReader(vol.Body)).ReadAll()
		if len(rows) != 25 || strings.Join(rows[0], ",") != "start,end,low,medium,high,critical,total" || rows[24][6] != "4" {
			t.Errorf("volume CSV: %d rows, %v … %v", len(rows), rows[0], rows[len(rows)-1])
		}
		if got := cl.Get("/insights/export?chart=nope"); got.Status != 400 {
			t.Errorf("unknown chart: %d", got.Status)
		}
		if got := srv.NewClient().Get("/insights/export?chart=volume"); got.Status != 303 {
			t.Errorf("signed out: %d, want a redirect to log in", got.Status)
		}
	})
}

// TestAlertListCreatedRange checks the list's from/to filter that the
// Insights charts link to.
func TestAlertListCreatedRange(t *testing.T) {
	srv, cl := signedIn(t)
	a := cl.CreateIntegration("Alpha", models.UrgencyLow)
	first := send(t, srv, a, "p1", "outage one")
	second := send(t, srv, a, "p2", "outage two")
	var created time.Time
	if err := srv.DB().Model(&models.Alert{}).Where("public_id = ?", second).Pluck("created_at", &created).Error; err != nil {
		t.Fatal(err)
	}
	if err := srv.DB().Model(&models.Alert{}).Where("public_id = ?", first).Update("created_at", created.Add(-2*time.Hour)).Error; err != nil {
		t.Fatal(err)
	}
	q := url.Values{"status": {"all"}, "from": {created.Add(-time.Hour).Format(time.RFC3339)}, "to": {created.Add(time.Hour).Format(time.RFC3339)}}
	p := cl.Get("/alerts?" + q.Encode())
	if ids := rowIDs(p); len(ids) != 1 || ids[0] != second {
		t.Errorf("last hour: %v, want [%s]", ids, second)
	}
	if got := p.Text(`[data-testid="tab-all"]`); !strings.HasSuffix(got, "1") {
		t.Errorf("All tab %q should count 1", got)
	}
	q.Set("to", created.Add(-time.Hour).Format(time.RFC3339))
	q.Set("from", created.Add(-3*time.Hour).Format(time.RFC3339))
	if ids := rowIDs(cl.Get("/alerts?" + q.Encode())); len(ids) != 1 || ids[0] != first {
		t.Errorf("earlier: %v, want [%s]", ids, first)
	}
}
