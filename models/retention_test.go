package models_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"klaxon/models"
	"klaxon/web/webtest"
)

// retentionFixture is a database holding alerts in every state and age, and
// a long request log.
type retentionFixture struct {
	db      *models.DB
	busy    *models.Integration // many request-log rows
	quiet   *models.Integration // a few
	live    *models.Integration // receives intake while pruning runs
	now     time.Time
	oldDone int // resolved long ago: to prune
}

// seedRetention fills db with oldDone resolved alerts 40 days old (with
// their timelines), 10 resolved 5 days ago, 10 open and 10 acknowledged
// alerts 100 days old, logs request-log rows for busy and 5 for quiet.
func seedRetention(t *testing.T, db *models.DB, oldDone, logs int) *retentionFixture {
	t.Helper()
	ctx := context.Background()
	u, err := db.CreateAccount(ctx, models.SignUp{Team: "Ops", Email: "ops@example.com", Password: "correct horse battery", Confirm: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	f := &retentionFixture{db: db, now: time.Now().UTC(), oldDone: oldDone}
	for _, p := range []**models.Integration{&f.busy, &f.quiet, &f.live} {
		if *p, err = db.CreateIntegration(ctx, u.AccountID, models.IntegrationInput{Name: "MM", DefaultUrgency: "high"}); err != nil {
			t.Fatal(err)
		}
	}
	day := 24 * time.Hour
	alerts := func(prefix string, n int, status models.Status, created time.Time, resolved *time.Time) {
		t.Helper()
		err := db.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
			INSERT INTO alerts (public_id, account_id, integration_id, title, description, urgency, status, dedup_key, dedup_count,
				additional_data, raw_request, raw_content_type, created_at, acknowledged_by, resolved_at, resolved_by)
			SELECT ? || i, ?, ?, 'outage ' || ? || i, '', 'high', ?, ? || i, 0, '{}', '', '', ?, '', ?, '' FROM n`,
			n, prefix, u.AccountID, f.busy.ID, prefix, status, prefix, created, resolved).Error
		if err != nil {
			t.Fatalf("seed %s alerts: %v", prefix, err)
		}
	}
	oldResolved, recentResolved := f.now.Add(-40*day), f.now.Add(-5*day)
	alerts("alt_old_done_", oldDone, models.StatusResolved, f.now.Add(-41*day), &oldResolved)
	alerts("alt_new_done_", 10, models.StatusResolved, f.now.Add(-6*day), &recentResolved)
	alerts("alt_old_open_", 10, models.StatusOpen, f.now.Add(-100*day), nil)
	alerts("alt_old_ack_", 10, models.StatusAcknowledged, f.now.Add(-100*day), nil)
	if err := db.Exec(`INSERT INTO alert_events (alert_id, kind, actor, created_at) SELECT id, 'created', '', created_at FROM alerts`).Error; err != nil {
		t.Fatal(err)
	}
	requestLog := func(integ *models.Integration, n int) {
		t.Helper()
		err := db.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
			INSERT INTO integration_logs (integration_id, created_at, source, outcome, status, message, alert_public_id, content_type, body)
			SELECT ?, ?, '127.0.0.1', 'accepted', 200, '', '', 'application/json', '{}' FROM n`, n, integ.ID, f.now.Add(-time.Hour)).Error
		if err != nil {
			t.Fatalf("seed request log: %v", err)
		}
	}
	requestLog(f.busy, logs)
	requestLog(f.quiet, 5)
	return f
}

func (f *retentionFixture) count(t *testing.T, table, where string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := f.db.Table(table).Where(where, args...).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// check asserts what pruning must leave: no alert resolved more than 30
// days ago, every other alert with its timeline, the newest keep rows of
// each request log.
func (f *retentionFixture) check(t *testing.T, keep int, logsBefore int64) {
	t.Helper()
	if n := f.count(t, "alerts", "public_id LIKE ?", "alt_old_done_%"); n != 0 {
		t.Errorf("%d alerts resolved 40 days ago are left", n)
	}
	for prefix, want := range map[string]int64{"alt_new_done_%": 10, "alt_old_open_%": 10, "alt_old_ack_%": 10} {
		if n := f.count(t, "alerts", "public_id LIKE ?", prefix); n != want {
			t.Errorf("%s: %d alerts, want %d untouched", prefix, n, want)
		}
	}
	if orphans := f.count(t, "alert_events", "alert_id NOT IN (SELECT id FROM alerts)"); orphans != 0 {
		t.Errorf("%d timeline events of pruned alerts are left", orphans)
	}
	if n := f.count(t, "alert_events", "alert_id IN (SELECT id FROM alerts WHERE public_id NOT LIKE ?)", "alt_old_done_%"); n < 30 {
		t.Errorf("timelines of kept alerts: %d events, want at least 30", n)
	}
	if n := f.count(t, "integration_logs", "integration_id = ?", f.quiet.ID); n != 5 {
		t.Errorf("quiet integration: %d request-log rows, want its 5", n)
	}
	var kept []uint
	f.db.Table("integration_logs").Where("integration_id = ?", f.busy.ID).Order("id").Pluck("id", &kept)
	var newest []uint
	f.db.Table("integration_logs").Where("integration_id = ?", f.busy.ID).Order("id DESC").Limit(keep).Pluck("id", &newest)
	if len(kept) != keep || len(newest) != keep || kept[0] != newest[keep-1] {
		t.Errorf("busy integration keeps %d rows from id %v, want the newest %d", len(kept), kept[:min(1, len(kept))], keep)
	}
	if max := f.count(t, "integration_logs", "integration_id = ?", f.busy.ID); max > logsBefore {
		t.Errorf("request log grew: %d > %d", max, logsBefore)
	}
}

func TestPruneKeepsWhatMatters(t *testing.T) {
	for name, url := range webtest.Databases(t) {
		t.Run(name, func(t *testing.T) {
			const oldDone, logs, keep = 1600, 1600, 100 // several batches of 500
			db := webtest.OpenDB(t, url)
			f := seedRetention(t, db, oldDone, logs)
			ctx := context.Background()

			// Intake goes on while pruning runs: the deletes go in small
			// transactions, so requests are answered in between.
			writer, err := models.NewWriter(db, models.WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer writer.Close()
			stop := make(chan struct{})
			var (
				wg         sync.WaitGroup
				mu         sync.Mutex
				during     int
				slowest    time.Duration
				intakeErrs []string
			)
			pruning := true
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select { // a steady stream, about 100 requests a second
					case <-stop:
						return
					case <-time.After(10 * time.Millisecond):
					}
					start := time.Now()
					res, err := writer.Submit(ctx, &models.IntakeRequest{IntegrationPublicID: f.live.PublicID,
						Draft: &models.AlertDraft{Title: "outage during pruning", DedupKey: fmt.Sprintf("during-%d", i)}, Body: "{}"})
					took := time.Since(start)
					mu.Lock()
					if err != nil || res.Outcome != models.OutcomeAccepted {
						intakeErrs = append(intakeErrs, fmt.Sprintf("%v %v", res.Outcome, err))
					}
					if pruning {
						during++
						slowest = max(slowest, took)
					}
					mu.Unlock()
				}
			}()

			start := time.Now()
			alerts, err := db.PruneResolvedAlerts(ctx, f.now.Add(-30*24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			logsBefore := f.count(t, "integration_logs", "integration_id = ?", f.busy.ID)
			rows, err := db.PruneIntegrationLogs(ctx, keep)
			if err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			mu.Lock()
			pruning = false
			n, slow := during, slowest
			mu.Unlock()
			close(stop)
			wg.Wait()

			if alerts != oldDone {
				t.Errorf("pruned %d alerts, want %d", alerts, oldDone)
			}
			if rows < int64(logs-keep) { // and some of the live integration's
				t.Errorf("pruned %d request-log rows, want at least %d", rows, logs-keep)
			}
			f.check(t, keep, logsBefore)
			if len(intakeErrs) > 0 {
				t.Errorf("intake failed while pruning: %v", intakeErrs[:min(3, len(intakeErrs))])
			}
			// At least one answered while pruning, and none held for long; how
			// many depends on how busy the machine is.
			if n < 1 || slow > 2*time.Second {
				t.Errorf("while pruning (%v): %d intake requests answered, slowest %v; want some, none stalled", took, n, slow)
			}
			t.Logf("%s: pruned %d alerts and %d log rows in %v; %d intake requests meanwhile, slowest %v", name, alerts, rows, took, n, slow)

			// Pruning again finds nothing.
			if a, err := db.PruneResolvedAlerts(ctx, f.now.Add(-30*24*time.Hour)); a != 0 || err != nil {
				t.Errorf("second prune: %d alerts, %v", a, err)
			}
		})
	}
}

// The notification side is bounded too: each channel keeps its newest
// delivery-log rows, and finished or orphaned outbox items go.
func TestPruneDeliveriesAndOutbox(t *testing.T) {
	for name, url := range webtest.Databases(t) {
		t.Run(name, func(t *testing.T) {
			db := webtest.OpenDB(t, url)
			f := seedRetention(t, db, 10, 0)
			ctx := context.Background()
			var accountID uint
			db.Table("integrations").Where("id = ?", f.busy.ID).Pluck("account_id", &accountID)
			chans := make([]*models.NotificationChannel, 2)
			for i := range chans {
				c, err := db.CreateChannel(ctx, accountID, models.ChannelInput{Name: fmt.Sprint("c", i), WebhookURL: "http://127.0.0.1:9/hook", Events: []string{"opened"}})
				if err != nil {
					t.Fatal(err)
				}
				chans[i] = c
			}
			for i := 0; i < 700; i++ {
				for _, c := range chans[:1+i%2] {
					if err := db.Create(&models.Delivery{ChannelID: c.ID, Event: "opened", Attempt: 1, Status: 200, CreatedAt: f.now}).Error; err != nil {
						t.Fatal(err)
					}
				}
			}
			var openID, oldDoneID uint
			db.Table("alerts").Where("public_id = ?", "alt_old_open_1").Pluck("id", &openID)
			db.Table("alerts").Where("public_id = ?", "alt_old_done_1").Pluck("id", &oldDoneID)
			items := []models.OutboxItem{
				{ChannelID: chans[0].ID, AlertID: openID, Event: "opened", State: models.OutboxPending, NextAttemptAt: f.now.AddDate(0, 0, -30)},   // pending: kept however old
				{ChannelID: chans[0].ID, AlertID: openID, Event: "opened", State: models.OutboxDelivered, NextAttemptAt: f.now.AddDate(0, 0, -1)},  // recent: kept
				{ChannelID: chans[0].ID, AlertID: openID, Event: "opened", State: models.OutboxDelivered, NextAttemptAt: f.now.AddDate(0, 0, -10)}, // old and done: pruned
				{ChannelID: chans[0].ID, AlertID: openID, Event: "opened", State: models.OutboxFailed, NextAttemptAt: f.now.AddDate(0, 0, -10)},    // old and given up: pruned
				{ChannelID: chans[0].ID, AlertID: oldDoneID, Event: "resolved", State: models.OutboxPending, NextAttemptAt: f.now},                 // its alert is pruned below
			}
			for i := range items {
				items[i].CreatedAt = f.now
				if err := db.Create(&items[i]).Error; err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.PruneResolvedAlerts(ctx, f.now.AddDate(0, 0, -30)); err != nil {
				t.Fatal(err)
			}
			if _, err := db.PruneDeliveries(ctx, 100); err != nil {
				t.Fatal(err)
			}
			if _, err := db.PruneOutbox(ctx, f.now.AddDate(0, 0, -7)); err != nil {
				t.Fatal(err)
			}
			for _, c := range chans {
				var ids []uint
				db.Table("deliveries").Where("channel_id = ?", c.ID).Order("id DESC").Pluck("id", &ids)
				var newest uint
				db.Table("deliveries").Where("channel_id = ?", c.ID).Select("max(id)").Scan(&newest)
				if len(ids) != 100 || ids[0] != newest {
					t.Errorf("channel %s keeps %d delivery rows, want its newest 100", c.Name, len(ids))
				}
			}
			var left []uint
			db.Table("outbox_items").Order("id").Pluck("id", &left)
			if len(left) != 2 || left[0] != items[0].ID || left[1] != items[1].ID {
				t.Errorf("outbox items left %v, want %v and %v", left, items[0].ID, items[1].ID)
			}
		})
	}
}
