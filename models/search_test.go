package models_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"klaxon/models"
	"klaxon/web/webtest"
)

func TestParseSearch(t *testing.T) {
	l := models.DefaultSearchLimits()
	tests := []struct {
		text                  string
		words, dropped, whole []string
		notice                string
	}{
		{"disk full", []string{"disk", "full"}, nil, nil, ""},
		{strings.Repeat("d ", 100), []string{"d"}, nil, []string{"d"}, "Words shorter than 3 characters match whole words only: d."},
		{"Disk DISK disk full", []string{"disk", "full"}, nil, nil, ""},
		{"a1 b2 c3 d4 e5 f6 g7 h8 i9 j10 a1", []string{"a1", "b2", "c3", "d4", "e5", "f6", "g7", "h8"}, []string{"i9", "j10"},
			[]string{"a1", "b2", "c3", "d4", "e5", "f6", "g7", "h8"}, "Searched for the first 8 different words only; left out: i9 j10."},
		{"db-1 web-3 cri", []string{"db-1", "web-3", "cri"}, nil, []string{"db-1", "web-3"}, "match whole words only: db-1 web-3."},
		{"-- * ()", nil, nil, nil, "Search needs letters or digits"},
		{"", nil, nil, nil, ""},
	}
	for _, tt := range tests {
		s := models.ParseSearch(tt.text, l)
		if !slices.Equal(s.Words, tt.words) || !slices.Equal(s.Dropped, tt.dropped) || !slices.Equal(s.Whole, tt.whole) {
			t.Errorf("ParseSearch(%q) = words %q dropped %q whole %q, want %q %q %q", tt.text, s.Words, s.Dropped, s.Whole, tt.words, tt.dropped, tt.whole)
		}
		if n := s.Notice(); (tt.notice == "") != (n == "") || !strings.Contains(n, tt.notice) {
			t.Errorf("ParseSearch(%q).Notice() = %q, want %q", tt.text, n, tt.notice)
		}
	}
}

// searchTeam is a team with one integration, for search tests.
type searchTeam struct{ account, integration uint }

func newSearchTeam(tb testing.TB, db *models.DB, name string) searchTeam {
	tb.Helper()
	ctx := context.Background()
	u, err := db.CreateAccount(ctx, models.SignUp{Team: name, Email: strings.ToLower(name) + "@example.com", Password: "correct horse", Confirm: "correct horse"})
	if err != nil {
		tb.Fatal(err)
	}
	i, err := db.CreateIntegration(ctx, u.AccountID, models.IntegrationInput{Name: "Mattermost", DefaultUrgency: "medium"})
	if err != nil {
		tb.Fatal(err)
	}
	return searchTeam{u.AccountID, i.ID}
}

// seed stores one alert of team per title, in order, with status.
func (team searchTeam) seed(tb testing.TB, db *models.DB, status models.Status, titles ...string) {
	tb.Helper()
	alerts := make([]models.Alert, len(titles))
	for i, title := range titles {
		id := "alt_" + models.RandomToken(12)
		alerts[i] = models.Alert{PublicID: id, AccountID: team.account, IntegrationID: team.integration, Title: title,
			Urgency: models.UrgencyMedium, Status: status, DedupKey: id, CreatedAt: time.Now()}
	}
	if err := db.CreateInBatches(alerts, 500).Error; err != nil {
		tb.Fatal(err)
	}
}

func repeat(title string, n int) []string {
	titles := make([]string, n)
	for i := range titles {
		titles[i] = fmt.Sprintf("%s %d", title, i)
	}
	return titles
}

func TestSearchMatchesWordsOfItsTeamOnly(t *testing.T) {
	ctx := context.Background()
	for name, url := range webtest.Databases(t) {
		t.Run(name, func(t *testing.T) {
			db := webtest.OpenDB(t, url)
			a, b := newSearchTeam(t, db, "Alpha"), newSearchTeam(t, db, "Beta")
			b.seed(t, db, models.StatusOpen, "critical db down", "cr ticket open", "api latency on web-3")
			a.seed(t, db, models.StatusOpen, "critical db down at alpha")
			tests := []struct {
				q    string
				want []string
			}{
				{"cri", []string{"critical db down"}},
				{"cr", []string{"cr ticket open"}}, // too short for a prefix: whole words
				{"db db DB down", []string{"critical db down"}},
				{"web-3", []string{"api latency on web-3"}},
				{"alpha", nil}, // only the other team's alert has it
				{"-- *", nil},
				{"critical db down one two three four five six", nil}, // all 9 words
				{"critical db down zzz zzz zzz zzz zzz zzz zzz zzz zzz x1 x2 x3 x4 x5 x6", nil},
			}
			for _, tt := range tests {
				page, err := db.Alerts(ctx, b.account, models.AlertFilter{Text: tt.q})
				if err != nil {
					t.Fatalf("q=%q: %v", tt.q, err)
				}
				var got []string
				for _, al := range page.Alerts {
					got = append(got, al.Title)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("q=%q: %q, want %q", tt.q, got, tt.want)
				}
				n, err := db.CountAlerts(ctx, b.account, models.AlertFilter{Text: tt.q})
				if err != nil || n != int64(len(tt.want)) {
					t.Errorf("q=%q: count %d (%v), want %d", tt.q, n, err, len(tt.want))
				}
			}
			// Nine different words: the ninth is left out, so a word no
			// alert has does not make the search fail.
			q := "critical db down w4 w5 w6 w7 w8 nowhere"
			if s := db.ParseSearch(q); !slices.Equal(s.Dropped, []string{"nowhere"}) {
				t.Errorf("ParseSearch(%q).Dropped = %q", q, s.Dropped)
			}
			if n, err := db.CountAlerts(ctx, b.account, models.AlertFilter{Text: "critical db down nowhere"}); err != nil || n != 0 {
				t.Errorf("all four words: %d %v", n, err)
			}
		})
	}
}

// TestSearchCountsAreTheTeamsOwn: another team's many matches, newer than
// this team's, once filled the counts' scan of the newest matches, so that
// the counts said 0 beside rows.
func TestSearchCountsAreTheTeamsOwn(t *testing.T) {
	ctx := context.Background()
	for name, url := range webtest.Databases(t) {
		t.Run(name, func(t *testing.T) {
			db := webtest.OpenDB(t, url)
			l := models.DefaultSearchLimits()
			l.CountScan = 100
			db.SetSearchLimits(l)
			a, b := newSearchTeam(t, db, "Alpha"), newSearchTeam(t, db, "Beta")
			b.seed(t, db, models.StatusOpen, repeat("diskfull on b", 3)...)
			b.seed(t, db, models.StatusResolved, repeat("diskfull on b", 2)...)
			a.seed(t, db, models.StatusOpen, repeat("diskfull on a", 3*l.CountScan)...)
			counts, err := db.CountAlertsByStatus(ctx, b.account, models.AlertFilter{Text: "diskfull"})
			if err != nil {
				t.Fatal(err)
			}
			want := map[models.Status]int64{models.StatusOpen: 3, models.StatusResolved: 2}
			if len(counts) != len(want) || counts[models.StatusOpen] != 3 || counts[models.StatusResolved] != 2 {
				t.Errorf("team B's counts for diskfull: %v, want %v", counts, want)
			}
			page, err := db.Alerts(ctx, b.account, models.AlertFilter{Text: "diskf"})
			if err != nil || len(page.Alerts) != 5 {
				t.Errorf("team B's rows for diskf: %d %v, want 5", len(page.Alerts), err)
			}
			if n, err := db.CountAlerts(ctx, a.account, models.AlertFilter{Text: "diskfull", Statuses: []models.Status{models.StatusOpen}}); err != nil || n != int64(l.CountScan) {
				t.Errorf("team A's count: %d %v, want the scan's %d", n, err, l.CountScan)
			}
		})
	}
}

// heavySearch is a search that matches many different words of many
// alerts: 8 prefixes, each of 2,500 × perPrefix words (see seedHeavy).
const heavySearch = "abc abd abe abf abg abh abi abj"

func seedHeavy(tb testing.TB, db *models.DB, team searchTeam, perPrefix int) {
	tb.Helper()
	titles := make([]string, 2500)
	for i := range titles {
		var words []string
		for _, p := range strings.Fields(heavySearch) {
			for k := range perPrefix {
				words = append(words, fmt.Sprintf("%s%dx%d", p, i, k))
			}
		}
		titles[i] = strings.Join(words, " ")
	}
	team.seed(tb, db, models.StatusOpen, titles...)
}

func TestSearchIsStoppedAtItsTimeout(t *testing.T) {
	ctx := context.Background()
	for name, url := range webtest.Databases(t) {
		t.Run(name, func(t *testing.T) {
			db := webtest.OpenDB(t, url)
			team := newSearchTeam(t, db, "Alpha")
			seedHeavy(t, db, team, 3)
			l := models.DefaultSearchLimits()
			l.Timeout = time.Minute
			db.SetSearchLimits(l)
			t0 := time.Now()
			if page, err := db.Alerts(ctx, team.account, models.AlertFilter{Text: heavySearch}); err != nil || len(page.Alerts) != 50 {
				t.Fatalf("unhurried search: %d rows, %v", len(page.Alerts), err)
			}
			// A tenth of what the search takes, so that it cannot finish.
			l.Timeout = min(max(time.Since(t0)/10, 10*time.Microsecond), time.Millisecond)
			t.Logf("unhurried search %s, limit now %s", time.Since(t0), l.Timeout)
			db.SetSearchLimits(l)
			for range 3 {
				if _, err := db.Alerts(ctx, team.account, models.AlertFilter{Text: heavySearch}); !errors.Is(err, models.ErrSearchTimeout) {
					t.Errorf("page of a search over its time: %v, want ErrSearchTimeout", err)
				}
				if _, err := db.CountAlertsByStatus(ctx, team.account, models.AlertFilter{Text: heavySearch}); !errors.Is(err, models.ErrSearchTimeout) {
					t.Errorf("counts of a search over its time: %v, want ErrSearchTimeout", err)
				}
			}
			// The connections are fine afterwards.
			if n, err := db.CountAlerts(ctx, team.account, models.AlertFilter{}); err != nil || n != 2500 {
				t.Errorf("list after stopped searches: %d %v", n, err)
			}
		})
	}
}

// TestSearchesCannotTakeEveryConnection: many heavy searches of one team
// run at most half of Concurrent at a time, another team's list keeps
// answering and its search finds a slot.
func TestSearchesCannotTakeEveryConnection(t *testing.T) {
	ctx := context.Background()
	for name, url := range webtest.Databases(t) {
		t.Run(name, func(t *testing.T) {
			db := webtest.OpenDB(t, url)
			heavy, other := newSearchTeam(t, db, "Alpha"), newSearchTeam(t, db, "Beta")
			seedHeavy(t, db, heavy, 1)
			other.seed(t, db, models.StatusOpen, repeat("cpu high", 60)...)
			l := models.DefaultSearchLimits()
			l.Concurrent, l.Timeout = 4, time.Minute
			db.SetSearchLimits(l)

			const searches = 16
			var wg sync.WaitGroup
			errs := make(chan error, searches)
			done := make(chan struct{})
			for range searches {
				wg.Go(func() {
					if _, err := db.CountAlertsByStatus(ctx, heavy.account, models.AlertFilter{Text: heavySearch}); err != nil {
						errs <- err
					}
				})
			}
			go func() { wg.Wait(); close(done) }()
			lists := 0
			for running := true; running; {
				select {
				case <-done:
					running = false
				default:
					page, err := db.Alerts(ctx, other.account, models.AlertFilter{})
					if err != nil || len(page.Alerts) != 50 {
						t.Fatalf("other team's list during the searches: %d rows, %v", len(page.Alerts), err)
					}
					if lists++; lists%10 == 0 {
						if n, err := db.CountAlerts(ctx, other.account, models.AlertFilter{Text: "cpu"}); err != nil || n != 60 {
							t.Fatalf("other team's search during the searches: %d, %v", n, err)
						}
					}
				}
			}
			close(errs)
			for err := range errs {
				t.Errorf("search: %v", err)
			}
			all, team := db.SearchPeak()
			if all > l.Concurrent || team != l.Concurrent/2 {
				t.Errorf("%d searches ran at once, %d of one team, want at most %d and half of that", all, team, l.Concurrent)
			}
			t.Logf("%d list pages of the other team answered during %d searches; at most %d searches at once, %d of one team", lists, searches, all, team)
		})
	}
}

// TestSearchIndexMigrates: a database of the version before team-aware
// search gets the new index, filled with the alerts it already had, and
// loses the old one.
func TestSearchIndexMigrates(t *testing.T) {
	ctx := context.Background()
	old := map[string][]string{
		"sqlite": {`DROP TRIGGER alerts_text_ai`, `DROP TRIGGER alerts_text_ad`, `DROP TRIGGER alerts_text_au`, `DROP TABLE alerts_text`, `DROP VIEW alerts_text_source`,
			`CREATE VIRTUAL TABLE alerts_fts USING fts5(title, description, content='alerts', content_rowid='id')`,
			`CREATE TRIGGER alerts_fts_ai AFTER INSERT ON alerts BEGIN
				INSERT INTO alerts_fts(rowid, title, description) VALUES (new.id, new.title, new.description);
			END`},
		"postgres": {`DROP INDEX idx_alerts_search`, `CREATE INDEX idx_alerts_fts ON alerts USING GIN (to_tsvector('simple', title || ' ' || description))`},
	}
	for name, url := range webtest.Databases(t) {
		t.Run(name, func(t *testing.T) {
			db := webtest.OpenDB(t, url)
			for _, q := range old[name] {
				if err := db.Exec(q).Error; err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			team := newSearchTeam(t, db, "Alpha")
			team.seed(t, db, models.StatusOpen, "disk full on db-1", "cpu high")
			db.Close()

			db = webtest.OpenDB(t, url)
			if n, err := db.CountAlerts(ctx, team.account, models.AlertFilter{Text: "disk db-1"}); err != nil || n != 1 {
				t.Errorf("search after the migration: %d %v, want 1", n, err)
			}
			var leftovers int64
			q := `SELECT count(*) FROM sqlite_master WHERE name LIKE 'alerts_fts%'`
			if name == "postgres" {
				q = `SELECT count(*) FROM pg_indexes WHERE indexname = 'idx_alerts_fts' AND schemaname = current_schema()`
			}
			if err := db.Raw(q).Scan(&leftovers).Error; err != nil || leftovers != 0 {
				t.Errorf("old index objects left: %d %v", leftovers, err)
			}
		})
	}
}

// TestSearchWaitsForASlotWithinItsTime: with every slot taken, a search
// waits no longer than its time limit and says it did not run, while the
// list without a search is not held up.
func TestSearchWaitsForASlotWithinItsTime(t *testing.T) {
	ctx := context.Background()
	db := webtest.OpenDB(t, webtest.SQLiteURL(t))
	team := newSearchTeam(t, db, "Alpha")
	team.seed(t, db, models.StatusOpen, "disk full")
	l := models.DefaultSearchLimits()
	l.Timeout = 50 * time.Millisecond
	db.SetSearchLimits(l)
	release := db.HoldSearchSlots()
	if _, err := db.Alerts(ctx, team.account, models.AlertFilter{Text: "disk"}); !errors.Is(err, models.ErrSearchBusy) {
		t.Errorf("search with every slot taken: %v, want ErrSearchBusy", err)
	}
	if page, err := db.Alerts(ctx, team.account, models.AlertFilter{}); err != nil || len(page.Alerts) != 1 {
		t.Errorf("list with every search slot taken: %d %v", len(page.Alerts), err)
	}
	release()
	if page, err := db.Alerts(ctx, team.account, models.AlertFilter{Text: "disk"}); err != nil || len(page.Alerts) != 1 {
		t.Errorf("search once a slot is free: %d %v", len(page.Alerts), err)
	}
}
