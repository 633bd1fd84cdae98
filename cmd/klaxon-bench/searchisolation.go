package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/PuerkitoBio/goquery"
	"gorm.io/gorm"

	"klaxon/models"
)

// Searches of the isolation measurement. worstSearch is eight different
// three-letter prefixes of words in most seeded alerts (trigger, urgency
// and region words); oldWorstSearch is the one-letter flood of issue 16.
var (
	worstSearch    = "ale inc out dow sev cri hig med"
	oldWorstSearch = strings.TrimSpace(strings.Repeat("d ", 100))
)

const (
	isolationSearchers = 16
	// otherTeamMatches is how many alerts of the big team hold each of
	// its own words, newer than the small team's.
	otherTeamMatches = 50_000
)

// benchSearchIsolation puts a small team beside the seeded one (the big
// team, signed in as big) and measures what the big team's searches do to
// it: the small team's counts for a word both use, its search times for a
// word only the big team uses, and its list while 16 worst-case searches
// of the big team run.
func benchSearchIsolation(ctx context.Context, o options, db *models.DB, handler http.Handler, big *browser, bigAccount uint, bigIntegration *models.Integration, out io.Writer) (bool, error) {
	password := "bench-password"
	user, err := db.CreateAccount(ctx, models.SignUp{Team: "Small", Email: "small@example.com", Password: password, Confirm: password})
	if err != nil {
		return false, err
	}
	integ, err := db.CreateIntegration(ctx, user.AccountID, models.IntegrationInput{Name: "Mattermost #small", DefaultUrgency: "high", SiteURL: "https://chat.example.com"})
	if err != nil {
		return false, err
	}
	if err := seedAlerts(ctx, db, user.AccountID, []*models.Integration{integ}, 1_000, io.Discard); err != nil {
		return false, err
	}
	if err := seedTitles(ctx, db, user.AccountID, integ.ID, "diskfull on storage-%d", 5); err != nil {
		return false, err
	}
	start := time.Now()
	for _, title := range []string{"diskfull on storage-%d", "quotaexceeded on bucket-%d"} {
		if err := seedTitles(ctx, db, bigAccount, bigIntegration.ID, title, otherTeamMatches); err != nil {
			return false, err
		}
	}
	fmt.Fprintf(out, "search isolation: a small team (1,005 alerts) beside the big one, which got %d alerts with diskfull and %d with quotaexceeded (%.1f s)\n",
		otherTeamMatches, otherTeamMatches, time.Since(start).Seconds())
	small := &browser{handler: handler, cookies: map[string]string{}}
	if err := small.login("small@example.com", password); err != nil {
		return false, err
	}

	body, status, _ := small.get("/alerts?status=all&q=diskfull")
	all, rows := tabCount(body, "all"), strings.Count(body, `data-testid="alert-row"`)
	exact := status == http.StatusOK && all == "5" && rows == 5
	fmt.Fprintf(out, "  small team's q=diskfull: tab All %s, %d rows (want 5 and 5: the big team's %d newer matches must not count) %s\n", all, rows, otherTeamMatches, verdict(exact))

	for _, s := range []struct{ label, q string }{
		{"its own word (postgres)", "postgres"},
		{"a word only the big team has", "quotaexceeded"},
		{"a word no one has", "zzqqxx"},
	} {
		lat, err := timeGets(small, "/alerts?"+url.Values{"status": {"all"}, "q": {s.q}}.Encode(), o.requests)
		if err != nil {
			return false, err
		}
		p := percentiles(lat, 50, 95)
		fmt.Fprintf(out, "  small team's search, %-30s p50 %9s   p95 %9s\n", s.label+":", ms(p[0]), ms(p[1]))
	}
	for _, s := range []struct{ label, q string }{{"100 × d", oldWorstSearch}, {"8 short prefixes", worstSearch}} {
		lat, err := timeGets(big, "/alerts?"+url.Values{"status": {"all"}, "q": {s.q}}.Encode(), 10)
		if err != nil {
			return false, err
		}
		p := percentiles(lat, 50, 100)
		fmt.Fprintf(out, "  big team's worst-case search, %-18s p50 %9s   max %9s\n", s.label+":", ms(p[0]), ms(p[1]))
	}

	quiet, err := timeGets(small, "/alerts", o.requests)
	if err != nil {
		return false, err
	}
	var (
		stop                   atomic.Bool
		wg                     sync.WaitGroup
		mu                     sync.Mutex
		searchLat              []time.Duration
		searches, stopped, off atomic.Int64
	)
	worstURL := "/alerts?" + url.Values{"status": {"all"}, "q": {worstSearch}}.Encode()
	for range isolationSearchers {
		wg.Go(func() {
			for !stop.Load() {
				t0 := time.Now()
				code := big.fetch(worstURL)
				d := time.Since(t0)
				searches.Add(1)
				switch code {
				case http.StatusOK:
				case http.StatusServiceUnavailable:
					stopped.Add(1)
				default:
					off.Add(1)
				}
				mu.Lock()
				searchLat = append(searchLat, d)
				mu.Unlock()
			}
		})
	}
	time.Sleep(200 * time.Millisecond) // let every searcher start
	loaded, err := timeGets(small, "/alerts", o.requests)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		return false, err
	}
	q, l, sp := percentiles(quiet, 50, 95), percentiles(loaded, 50, 95), percentiles(searchLat, 50, 95)
	fmt.Fprintf(out, "  small team's list (/alerts), quiet:                        p50 %9s   p95 %9s\n", ms(q[0]), ms(q[1]))
	fmt.Fprintf(out, "  small team's list while %d worst-case searches run:        p50 %9s   p95 %9s\n", isolationSearchers, ms(l[0]), ms(l[1]))
	_, teamPeak := db.SearchPeak()
	fmt.Fprintf(out, "  the %d searchers meanwhile: %d searches, p50 %s, p95 %s; %d stopped or refused (503), %d other answers; at most %d ran at once (one team's limit: half of %d)\n",
		isolationSearchers, searches.Load(), ms(sp[0]), ms(sp[1]), stopped.Load(), off.Load(), teamPeak, db.SearchLimits().Concurrent)
	fmt.Fprintf(out, "  small team's list p95 under the searches ≤ %s %s\n", ms(targetListP95), verdict(l[1] <= targetListP95))
	return exact && off.Load() == 0, nil
}

// seedTitles stores n open alerts of one integration titled by format
// (given the alert's number), newest last.
func seedTitles(ctx context.Context, db *models.DB, accountID, integrationID uint, format string, n int) error {
	now := time.Now().UTC()
	alerts := make([]models.Alert, n)
	for i := range alerts {
		id := "alt_" + models.RandomToken(12)
		alerts[i] = models.Alert{PublicID: id, AccountID: accountID, IntegrationID: integrationID, Title: fmt.Sprintf(format, i),
			Urgency: models.UrgencyHigh, Status: models.StatusOpen, DedupKey: id, CreatedAt: now}
	}
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return tx.CreateInBatches(alerts, 250).Error })
}

// timeGets times n GETs of path (after a few to warm up).
func timeGets(b *browser, path string, n int) ([]time.Duration, error) {
	for range 3 {
		b.get(path)
	}
	lat := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		_, status, _ := b.get(path)
		lat = append(lat, time.Since(t0))
		if status != http.StatusOK {
			return nil, fmt.Errorf("GET %s: status %d", path, status)
		}
	}
	return lat, nil
}

// fetch GETs path with the session as it is, without keeping cookies, so
// that many goroutines can share one browser.
func (b *browser) fetch(path string) int {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range b.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	req.RemoteAddr = "127.0.0.1:40001"
	req.Header.Set("Accept", "text/html")
	rec := httptest.NewRecorder()
	b.handler.ServeHTTP(rec, req)
	return rec.Code
}

// tabCount reads a status tab's count from an alert-list page.
func tabCount(body, tab string) string {
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(doc.Find(`[data-testid="tab-` + tab + `"] .count`).Text())
}
