package web_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"klaxon/models"
)

// TestAlertSearchSaysWhatItSearched: repeated words count once, words past
// the limit are left out and too-short ones match whole words, and the
// list says so above the rows.
func TestAlertSearchSaysWhatItSearched(t *testing.T) {
	srv, cl := signedIn(t)
	id := cl.CreateIntegration("MM", models.UrgencyLow)
	disk := send(t, srv, id, "s1", "outage disk full on db-1")
	send(t, srv, id, "s2", "outage cpu high on web-3")

	p := cl.Get("/alerts?status=all&q=" + url.QueryEscape("disk DISK disk full"))
	if got := rowIDs(p); len(got) != 1 || got[0] != disk {
		t.Errorf("repeated words: rows %v, want the disk alert", got)
	}
	if n := p.Doc.Find(`[data-testid="search-notice"]`).Length(); n != 0 {
		t.Errorf("a plain search shows a notice: %q", p.Text(`[data-testid="search-notice"]`))
	}

	q := "disk full outage on db-1 ful dis outa disk w1 w2 w3"
	p = cl.Get("/alerts?status=all&q=" + url.QueryEscape(q))
	if got := rowIDs(p); p.Status != 200 || len(got) != 1 || got[0] != disk {
		t.Errorf("q=%q: %d, rows %v, want the disk alert", q, p.Status, got)
	}
	notice := p.Text(`[data-testid="search-notice"]`)
	for _, want := range []string{"first 8 different words only; left out: w1 w2 w3.", "shorter than 3 characters match whole words only: on db-1."} {
		if !strings.Contains(notice, want) {
			t.Errorf("notice %q lacks %q", notice, want)
		}
	}
	if v, _ := p.Doc.Find("#filter-q").Attr("value"); v != q {
		t.Errorf("the search field holds %q, want what was typed, %q", v, q)
	}

	p = cl.Get("/alerts?status=all&q=" + url.QueryEscape("-- **"))
	if rows := rowIDs(p); p.Status != 200 || len(rows) != 0 || !strings.Contains(p.Text(`[data-testid="search-notice"]`), "letters or digits") {
		t.Errorf("a search without letters: %d, rows %v, notice %q", p.Status, rows, p.Text(`[data-testid="search-notice"]`))
	}
}

// TestAlertSearchOverItsTimeIsReported: a search stopped at its time limit
// answers 503 with the reason, no counts and no live updates.
func TestAlertSearchOverItsTimeIsReported(t *testing.T) {
	srv, cl := signedIn(t)
	cl.CreateIntegration("MM", models.UrgencyLow)
	db := srv.App.DB
	var team struct{ AccountID, ID uint }
	if err := db.Raw(`SELECT account_id, id FROM integrations`).Scan(&team).Error; err != nil {
		t.Fatal(err)
	}
	const heavy = "abc abd abe abf abg abh abi abj" // 8 prefixes of 7,500 words each
	alerts := make([]models.Alert, 2500)
	for i := range alerts {
		pid := "alt_" + models.RandomToken(12)
		alerts[i] = models.Alert{PublicID: pid, AccountID: team.AccountID, IntegrationID: team.ID, Urgency: models.UrgencyLow, Status: models.StatusOpen,
			DedupKey: pid, CreatedAt: time.Now()}
		for _, p := range strings.Fields(heavy) {
			alerts[i].Title += fmt.Sprintf("%[1]s%[2]dx %[1]s%[2]dy %[1]s%[2]dz ", p, i)
		}
	}
	if err := db.CreateInBatches(alerts, 500).Error; err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if p := cl.Get("/alerts?q=" + url.QueryEscape(heavy)); p.Status != 200 || len(rowIDs(p)) != 50 {
		t.Fatalf("unhurried search: %d, %d rows", p.Status, len(rowIDs(p)))
	}
	// A tenth of what the page took, so that the search cannot finish.
	l := db.SearchLimits()
	l.Timeout = min(max(time.Since(t0)/10, 10*time.Microsecond), time.Millisecond)
	db.SetSearchLimits(l)

	p := cl.Get("/alerts?q=" + url.QueryEscape(heavy))
	if p.Status != 503 {
		t.Fatalf("a search over its time: status %d, want 503", p.Status)
	}
	if msg := p.Text(`[data-testid="search-failed"]`); !strings.Contains(msg, "longer than "+l.Timeout.String()+" and was stopped") {
		t.Errorf("the page says %q, want why the search stopped", msg)
	}
	if h := p.Text("#alerts-empty h2"); h != "No results" {
		t.Errorf("empty state heading %q, want No results", h)
	}
	if counts := p.Text(".tabs .count"); strings.Trim(counts, "–") != "" {
		t.Errorf("tab counts %q of a stopped search, want –", counts)
	}
	if p.Doc.Find("tbody[data-live]").Length() != 0 {
		t.Errorf("a stopped search's page polls for rows")
	}
	if rows := cl.Get("/alerts/rows?q=" + url.QueryEscape(heavy)); rows.Status != 503 {
		t.Errorf("live rows of a search over its time: %d, want 503", rows.Status)
	}
	if p := cl.Get("/alerts"); p.Status != 200 || len(rowIDs(p)) != 50 {
		t.Errorf("the list without a search: %d, %d rows", p.Status, len(rowIDs(p)))
	}
}
