package models_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"gorm.io/gorm"

	"klaxon/models"
	"klaxon/web/webtest"
)

var errRollback = errors.New("rollback")

// insightsNow is "now" for the Insights tests: a Tuesday afternoon.
var insightsNow = time.Date(2026, 11, 10, 15, 20, 0, 0, time.UTC)

type insightsFixture struct {
	t       *testing.T
	db      *models.DB
	account uint
	user    uint
	integ   []*models.Integration
	n       int
}

func newInsightsFixture(t *testing.T, dbURL, team string) *insightsFixture {
	t.Helper()
	ctx := context.Background()
	db, err := models.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return addInsightsTeam(t, db, team)
}

func addInsightsTeam(t *testing.T, db *models.DB, team string) *insightsFixture {
	t.Helper()
	ctx := context.Background()
	u, err := db.CreateAccount(ctx, models.SignUp{Team: team, Email: team + "@example.com", Password: "correct horse battery", Confirm: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	f := &insightsFixture{t: t, db: db, account: u.AccountID, user: u.ID}
	for i := range 2 {
		integ, err := db.CreateIntegration(ctx, u.AccountID, models.IntegrationInput{Name: fmt.Sprintf("%s MM %d", team, i), DefaultUrgency: "high"})
		if err != nil {
			t.Fatal(err)
		}
		f.integ = append(f.integ, integ)
	}
	return f
}

// alert stores an alert created at created, acknowledged ack later (0: not)
// from via ("browser": by the user), resolved res later (0: not).
func (f *insightsFixture) alert(integ int, title string, urgency models.Urgency, created time.Time, ack, res time.Duration, via string) *models.Alert {
	f.t.Helper()
	f.n++
	a := &models.Alert{PublicID: fmt.Sprintf("alt_%s_%d_%d", title[:1], f.account, f.n), AccountID: f.account, IntegrationID: f.integ[integ].ID,
		Title: title, Urgency: urgency, Status: models.StatusOpen, DedupKey: fmt.Sprintf("k%d", f.n), CreatedAt: created}
	if ack > 0 {
		at := created.Add(ack)
		a.Status, a.AcknowledgedAt = models.StatusAcknowledged, &at
	}
	if res > 0 {
		at := created.Add(res)
		a.Status, a.ResolvedAt = models.StatusResolved, &at
	}
	if err := f.db.Create(a).Error; err != nil {
		f.t.Fatal(err)
	}
	events := []models.AlertEvent{{AlertID: a.ID, Kind: models.EventCreated, CreatedAt: created}}
	if ack > 0 {
		ev := models.AlertEvent{AlertID: a.ID, Kind: models.EventAcknowledged, Via: via, CreatedAt: *a.AcknowledgedAt}
		if via == "browser" {
			uid := f.user
			ev.UserID, ev.Via = &uid, ""
		}
		events = append(events, ev)
	}
	if res > 0 {
		events = append(events, models.AlertEvent{AlertID: a.ID, Kind: models.EventResolved, CreatedAt: *a.ResolvedAt})
	}
	if err := f.db.Create(&events).Error; err != nil {
		f.t.Fatal(err)
	}
	return a
}

func (f *insightsFixture) report(period models.Period, loc *time.Location, integ uint) *models.InsightsReport {
	f.t.Helper()
	r, err := f.db.Insights(context.Background(), f.account, models.InsightsQuery{Period: period, Location: loc, IntegrationID: integ, Now: insightsNow})
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func catchUp(t *testing.T, db *models.DB) {
	t.Helper()
	catchUpAt(t, db, time.Now())
}

// catchUpAt steps the rollup as if the time were now.
func catchUpAt(t *testing.T, db *models.DB, now time.Time) {
	t.Helper()
	for {
		more, err := db.RefreshInsights(context.Background(), now)
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			return
		}
	}
}

func mins(n int) time.Duration { return time.Duration(n) * time.Minute }

func TestInsightsFigures(t *testing.T) {
	for name, url := range webtest.Databases(t) {
		t.Run(name, func(t *testing.T) {
			f := newInsightsFixture(t, url, "ops")
			other := addInsightsTeam(t, f.db, "other")
			today := time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)
			// Today: ten alerts acknowledged after 1…10 minutes and
			// resolved after 10…100; the first at midnight sharp.
			for i := 1; i <= 10; i++ {
				via := "browser"
				if i <= 3 {
					via = "mattermost"
				}
				f.alert(0, "disk full on db-1", models.UrgencyHigh, today.Add(time.Duration(i-1)*time.Hour), mins(i), mins(10*i), via)
			}
			// Yesterday: its last millisecond, and four alerts whose
			// nearest-rank p50 is the 2nd value and p90 the 4th.
			f.alert(1, "cpu at 100%", models.UrgencyLow, today.Add(-time.Millisecond), 0, 0, "")
			for i := 1; i <= 4; i++ {
				f.alert(1, "cpu at 100%", models.UrgencyCritical, today.Add(-12*time.Hour), mins(i), 0, "")
			}
			// The week before: one alert, acknowledged after 30 minutes.
			f.alert(0, "queue backlog", models.UrgencyMedium, today.AddDate(0, 0, -10), mins(30), mins(60), "browser")
			// Before both periods, and another team's alerts: never counted.
			f.alert(0, "ancient", models.UrgencyHigh, today.AddDate(0, 0, -30), mins(1), 0, "browser")
			other.alert(0, "disk full on db-1", models.UrgencyHigh, today.Add(time.Hour), mins(1), mins(2), "browser")

			check := func(t *testing.T, r *models.InsightsReport) {
				t.Helper()
				if len(r.Buckets) != 7 || !r.Buckets[6].Start.Equal(today) || !r.From.Equal(today.AddDate(0, 0, -6)) || !r.PrevFrom.Equal(today.AddDate(0, 0, -13)) {
					t.Fatalf("buckets: %d, last from %s, period from %s, previous from %s", len(r.Buckets), r.Buckets[6].Start, r.From, r.PrevFrom)
				}
				if r.Total != 15 || r.PrevTotal != 1 {
					t.Errorf("total %d, previous %d; want 15 and 1", r.Total, r.PrevTotal)
				}
				if got := r.Buckets[6]; got.Total != 10 || got.ByUrgency != [4]int{0, 0, 10, 0} {
					t.Errorf("today: %+v", got)
				}
				if got := r.Buckets[5]; got.Total != 5 || got.ByUrgency != [4]int{1, 0, 0, 4} {
					t.Errorf("yesterday: %+v", got)
				}
				if got := r.Buckets[6].Ack; got != (models.Durations{N: 10, P50: mins(5), P90: mins(9)}) {
					t.Errorf("today's time to acknowledge: %+v", got)
				}
				if got := r.Buckets[6].Resolve; got != (models.Durations{N: 10, P50: mins(50), P90: mins(90)}) {
					t.Errorf("today's time to resolve: %+v", got)
				}
				if got := r.Buckets[5].Ack; got != (models.Durations{N: 4, P50: mins(2), P90: mins(4)}) {
					t.Errorf("yesterday's time to acknowledge: %+v", got)
				}
				if got := r.Ack; got != (models.Durations{N: 14, P50: mins(4), P90: mins(9)}) {
					t.Errorf("period's time to acknowledge: %+v", got)
				}
				if got := r.PrevAck; got != (models.Durations{N: 1, P50: mins(30), P90: mins(30)}) {
					t.Errorf("previous period's time to acknowledge: %+v", got)
				}
				if got := r.PrevResolve; got != (models.Durations{N: 1, P50: mins(60), P90: mins(60)}) {
					t.Errorf("previous period's time to resolve: %+v", got)
				}
				if len(r.Integrations) != 2 || r.Integrations[0].IntegrationID != f.integ[0].ID || r.Integrations[0].Count != 10 || r.Integrations[1].Count != 5 ||
					r.Integrations[1].Share != 5.0/15 {
					t.Errorf("integrations: %+v", r.Integrations)
				}
				if len(r.Titles) != 2 || r.Titles[0].Title != "disk full on db-1" || r.Titles[0].Count != 10 || r.Titles[1].Title != "cpu at 100%" || r.Titles[1].Count != 5 {
					t.Errorf("titles: %+v", r.Titles)
				}
				// 10 November 2026 is a Tuesday (index 1), the 9th a Monday.
				if r.Heat[1][0] != 1 || r.Heat[1][9] != 1 || r.Heat[0][23] != 1 || r.Heat[0][12] != 4 {
					t.Errorf("heat map: Tuesday 00h %d, 09h %d; Monday 23h %d, 12h %d", r.Heat[1][0], r.Heat[1][9], r.Heat[0][23], r.Heat[0][12])
				}
				if r.Acks[models.AckMattermost] != 3 || r.Acks[models.AckBrowser] != 7 || r.Acks[models.AckOther] != 4 {
					t.Errorf("acknowledged from: %v", r.Acks)
				}
			}
			t.Run("direct", func(t *testing.T) { check(t, f.report("7d", time.UTC, 0)) })
			catchUp(t, f.db)
			t.Run("rollup", func(t *testing.T) { check(t, f.report("7d", time.UTC, 0)) })

			one := f.report("7d", time.UTC, f.integ[1].ID)
			if one.Total != 5 || len(one.Integrations) != 1 || one.Ack != (models.Durations{N: 4, P50: mins(2), P90: mins(4)}) {
				t.Errorf("one integration: total %d, %+v, %+v", one.Total, one.Integrations, one.Ack)
			}
			// The 24-hour view: 24 local hours ending with the current one, from
			// 16:00 yesterday (so yesterday's last millisecond is in it).
			day := f.report("24h", time.UTC, 0)
			if len(day.Buckets) != 24 || !day.Buckets[23].Start.Equal(insightsNow.Truncate(time.Hour)) || day.Total != 11 || day.Buckets[8].Total != 1 {
				t.Errorf("24h: %d buckets, last from %s, total %d, 00:00 bucket %d", len(day.Buckets), day.Buckets[23].Start, day.Total, day.Buckets[8].Total)
			}
			if other := other.report("7d", time.UTC, 0); other.Total != 1 || len(other.Titles) != 1 {
				t.Errorf("other team: total %d, titles %+v", other.Total, other.Titles)
			}
		})
	}
}

func TestInsightsTimeZones(t *testing.T) {
	for name, url := range webtest.Databases(t) {
		t.Run(name, func(t *testing.T) {
			f := newInsightsFixture(t, url, "ops")
			// 19:00 UTC on Monday 9 November is 00:30 on Tuesday in India.
			f.alert(0, "late", models.UrgencyHigh, time.Date(2026, 11, 9, 19, 0, 0, 0, time.UTC), 0, 0, "")
			// 05:30 UTC on 1 November is 01:30 EDT, before New York's clocks go back.
			f.alert(0, "dst", models.UrgencyHigh, time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC), 0, 0, "")
			catchUp(t, f.db)
			kolkata, _ := time.LoadLocation("Asia/Kolkata")
			newYork, _ := time.LoadLocation("America/New_York")
			utc := f.report("7d", time.UTC, 0)
			if utc.Buckets[5].Total != 1 || utc.Heat[0][19] != 1 {
				t.Errorf("UTC: Monday bucket %d, Monday 19h %d", utc.Buckets[5].Total, utc.Heat[0][19])
			}
			in := f.report("7d", kolkata, 0)
			if in.Buckets[6].Total != 1 || in.Heat[1][0] != 1 || in.Buckets[6].Start.UTC() != time.Date(2026, 11, 9, 18, 30, 0, 0, time.UTC) {
				t.Errorf("Kolkata: today %d from %s, Tuesday 00h %d", in.Buckets[6].Total, in.Buckets[6].Start.UTC(), in.Heat[1][0])
			}
			// Hourly buckets in a half-hour zone start at :30 UTC.
			if d := f.report("24h", kolkata, 0); d.Total != 1 || d.Buckets[0].Start.UTC().Minute() != 30 {
				t.Errorf("Kolkata 24h: total %d, first bucket %s", d.Total, d.Buckets[0].Start.UTC())
			}
			us := f.report("30d", newYork, 0)
			// 1 November in New York lasts 25 hours.
			var nov1 models.InsightBucket
			for _, b := range us.Buckets {
				if b.Start.Month() == 11 && b.Start.Day() == 1 {
					nov1 = b
				}
			}
			if nov1.Total != 1 || nov1.End.Sub(nov1.Start) != 25*time.Hour || us.Heat[6][1] != 1 {
				t.Errorf("New York: 1 November %+v (%s long), Sunday 01h %d", nov1, nov1.End.Sub(nov1.Start), us.Heat[6][1])
			}
		})
	}
}

func TestInsightsEmptyAndOne(t *testing.T) {
	for name, url := range webtest.Databases(t) {
		t.Run(name, func(t *testing.T) {
			f := newInsightsFixture(t, url, "ops")
			for _, p := range models.Periods {
				r := f.report(p, time.UTC, 0)
				n := map[models.Period]int{"24h": 24, "7d": 7, "30d": 30, "90d": 90}[p]
				if r.Total != 0 || r.PrevTotal != 0 || len(r.Buckets) != n || r.Ack.N != 0 || len(r.Titles) != 0 || len(r.Integrations) != 0 {
					t.Errorf("%s, empty: %+v", p, r)
				}
			}
			f.alert(1, "only one", models.UrgencyLow, insightsNow.Add(-time.Hour), 90*time.Second, mins(7), "browser")
			catchUp(t, f.db)
			r := f.report("90d", time.UTC, 0)
			want := models.Durations{N: 1, P50: 90 * time.Second, P90: 90 * time.Second}
			if r.Total != 1 || r.Ack != want || r.Buckets[89].Ack != want || r.Resolve.P90 != mins(7) || r.Titles[0].Share != 1 {
				t.Errorf("one alert: total %d, ack %+v, last bucket %+v, resolve %+v, titles %+v", r.Total, r.Ack, r.Buckets[89].Ack, r.Resolve, r.Titles)
			}
		})
	}
}

// TestInsightsRollupMatchesDirect changes alerts after the rollup has read
// them (acknowledge, resolve, delete by retention, new alerts) and checks
// that the report equals one computed from the alerts alone, and that the
// bucket counts equal a count(*) over the alerts.
func TestInsightsRollupMatchesDirect(t *testing.T) {
	for name, url := range webtest.Databases(t) {
		t.Run(name, func(t *testing.T) {
			f := newInsightsFixture(t, url, "ops")
			ctx := context.Background()
			base := insightsNow.AddDate(0, 0, -80)
			var ids []*models.Alert
			for i := range 300 {
				created := base.Add(time.Duration(i) * 6 * time.Hour).Add(time.Duration(i*7919%3600) * time.Second)
				title := fmt.Sprintf("title %d", i%13)
				ack, res := time.Duration(0), time.Duration(0)
				if i%3 > 0 {
					ack = time.Duration(30+i*37%900) * time.Second
				}
				if i%4 > 0 {
					res = ack + time.Duration(60+i*101%7200)*time.Second
				}
				ids = append(ids, f.alert(i%2, title, models.Urgencies[i%4], created, ack, res, []string{"browser", "mattermost", "api"}[i%3]))
			}
			catchUp(t, f.db)
			// After the rollup: an old open alert is acknowledged and
			// resolved in the browser, old resolved ones are pruned.
			u := &models.User{ID: f.user, Email: "ops@example.com"}
			for _, a := range ids[:20] {
				if a.Status == models.StatusOpen {
					if err := f.db.ApplyTransition(ctx, f.account, u, a.PublicID, models.Acknowledge); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := f.db.ApplyTransition(ctx, f.account, u, ids[36].PublicID, models.Resolve); err != nil {
				t.Fatal(err)
			}
			pruned, err := f.db.PruneResolvedAlerts(ctx, base.Add(5*24*time.Hour))
			if err != nil || pruned == 0 {
				t.Fatalf("pruned %d: %v", pruned, err)
			}
			f.alert(1, "title 1", models.UrgencyHigh, insightsNow.Add(-time.Hour), mins(2), 0, "mattermost")

			// Part of the way (the changes past the watermarks), then all
			// the way.
			for _, stepped := range []bool{false, true} {
				if stepped {
					catchUpAt(t, f.db, time.Now().Add(2*time.Minute))
				}
				for _, p := range models.Periods {
					for _, integ := range []uint{0, f.integ[1].ID} {
						rolled, direct := f.report(p, time.UTC, integ), directReport(t, f, p, integ)
						if !reflect.DeepEqual(rolled, direct) {
							t.Fatalf("%s, integration %d, caught up %v: rollup and direct reports differ:\n%+v\n%+v", p, integ, stepped, rolled, direct)
						}
					}
				}
			}
			r := f.report("90d", time.UTC, 0)
			total := 0
			for _, b := range r.Buckets {
				var n int64
				if err := f.db.Model(&models.Alert{}).Where("account_id = ? AND created_at >= ? AND created_at < ?", f.account, b.Start, b.End).Count(&n).Error; err != nil {
					t.Fatal(err)
				}
				if int(n) != b.Total {
					t.Errorf("bucket %s: %d, count(*) %d", b.Start, b.Total, n)
				}
				total += b.Total
			}
			if total != r.Total || total < 200 {
				t.Errorf("total %d, sum of buckets %d", r.Total, total)
			}
		})
	}
}

// directReport computes the report with the rollup emptied, from the
// alerts alone, then puts the rollup back.
func directReport(t *testing.T, f *insightsFixture, p models.Period, integ uint) *models.InsightsReport {
	t.Helper()
	var r *models.InsightsReport
	err := f.db.Transaction(func(tx *gorm.DB) error {
		for _, q := range []string{"DELETE FROM insight_hours", "DELETE FROM settings WHERE key LIKE 'insights_%'"} {
			if err := tx.Exec(q).Error; err != nil {
				return err
			}
		}
		var err error
		r, err = (&models.DB{DB: tx, Dialect: f.db.Dialect, FullText: f.db.FullText}).Insights(context.Background(), f.account,
			models.InsightsQuery{Period: p, Location: time.UTC, IntegrationID: integ, Now: insightsNow})
		if err != nil {
			return err
		}
		return errRollback
	})
	if err != errRollback {
		t.Fatal(err)
	}
	return r
}

func TestPruneInsights(t *testing.T) {
	for name, url := range webtest.Databases(t) {
		t.Run(name, func(t *testing.T) {
			f := newInsightsFixture(t, url, "ops")
			now := time.Now()
			f.alert(0, "recent", models.UrgencyHigh, now.Add(-181*24*time.Hour), 0, 0, "")
			catchUp(t, f.db)
			old := models.InsightHour{AccountID: f.account, Hour: now.Add(-183 * 24 * time.Hour).Truncate(time.Hour).Unix(), Facts: []byte{}}
			if err := f.db.Create(&old).Error; err != nil {
				t.Fatal(err)
			}
			n, err := f.db.PruneInsights(context.Background(), now)
			var left []models.InsightHour
			f.db.Find(&left)
			if err != nil || n != 1 || len(left) != 1 || left[0].Hour == old.Hour {
				t.Errorf("pruned %d (%v), left %+v", n, err, left)
			}
		})
	}
}
