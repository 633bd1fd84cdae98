package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"klaxon/models"
)

// targetInsightsP95 is the Insights page's target at 90 days of a million
// alerts.
const targetInsightsP95 = 200 * time.Millisecond

// insightsRun builds the Insights rollup of the seeded database, then times
// the page for each period through the real router.
func insightsRun(ctx context.Context, o options, db *models.DB, b *browser, noisy string, n int, out io.Writer) error {
	start := time.Now()
	if err := db.CatchUpInsights(ctx, 0); err != nil {
		return err
	}
	fmt.Fprintf(out, "  Insights rollup built from scratch in %.1f s\n", time.Since(start).Seconds())
	type insightsCase struct{ name, path, query string }
	cases := []insightsCase{
		{"Insights, last 24 hours", "", "period=24h"},
		{"Insights, last 7 days", "", "period=7d"},
		{"Insights, last 30 days", "", "period=30d"},
		{"Insights, last 90 days", "", "period=90d"},
		{"Insights, 90 days, 1 integration", "", "period=90d&integration=" + url.QueryEscape(noisy)},
	}
	// A chart's link: the list of one day 89 days ago.
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -89)
	cases = append(cases, insightsCase{"list of a day 89 days ago (chart link)", "list", url.Values{"status": {"all"},
		"from": {day.Format(time.RFC3339)}, "to": {day.AddDate(0, 0, 1).Format(time.RFC3339)}}.Encode()})
	requests := max(o.requests/2, 20)
	for _, c := range cases {
		u := "/insights?tz=Europe%2FBerlin&" + c.query
		if c.path == "list" {
			u = "/alerts?" + c.query
		}
		for range 5 {
			if _, _, err := b.get(u); err != nil {
				return err
			}
		}
		var lat []time.Duration
		// The server runs in this process and the requests go one at a
		// time: the CPU time used is the page's own cost, which the
		// machine's other load does not inflate as it does wall time.
		cpu0, _ := cpuTime(os.Getpid())
		for range requests {
			t0 := time.Now()
			_, status, err := b.get(u)
			lat = append(lat, time.Since(t0))
			if err != nil {
				return err
			}
			if status != http.StatusOK {
				return fmt.Errorf("GET %s: status %d", u, status)
			}
		}
		cpu1, _ := cpuTime(os.Getpid())
		cpu := (cpu1 - cpu0) / time.Duration(requests)
		p := percentiles(lat, 50, 95)
		note := ""
		if n >= 1_000_000 && c.query == "period=90d" {
			note = fmt.Sprintf("   target p95 ≤ %s %s", ms(targetInsightsP95), verdict(p[1] <= targetInsightsP95))
		}
		fmt.Fprintf(out, "  %-36s p50 %9s   p95 %9s   CPU %s/request (%d requests)%s\n", c.name, ms(p[0]), ms(p[1]), ms(cpu), requests, note)
	}
	return nil
}
