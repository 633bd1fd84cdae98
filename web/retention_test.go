package web_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"klaxon/models"
	"klaxon/web"
	"klaxon/web/webtest"
)

// TestRetentionRunsInTheBackground starts Klaxon on a database with old
// data and checks that its background job applies -retention-days and
// -log-keep on its own, while intake goes on.
func TestRetentionRunsInTheBackground(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		db, err := models.Open(ctx, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		u, err := db.CreateAccount(ctx, models.SignUp{Team: "Ops", Email: "ops@example.com", Password: "correct horse battery", Confirm: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		integ, err := db.CreateIntegration(ctx, u.AccountID, models.IntegrationInput{Name: "MM", DefaultUrgency: "high"})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		alert := func(key string, status models.Status, resolvedDaysAgo int) {
			a := models.Alert{PublicID: "alt_" + key, AccountID: u.AccountID, IntegrationID: integ.ID, Title: key, Urgency: models.UrgencyHigh,
				Status: status, DedupKey: key, CreatedAt: now.AddDate(0, 0, -60)}
			if status == models.StatusResolved {
				at := now.AddDate(0, 0, -resolvedDaysAgo)
				a.ResolvedAt = &at
			}
			if err := db.Omit("Integration").Create(&a).Error; err != nil {
				t.Fatal(err)
			}
		}
		alert("old_resolved_1", models.StatusResolved, 31)
		alert("old_resolved_2", models.StatusResolved, 45)
		alert("new_resolved", models.StatusResolved, 29)
		alert("old_open", models.StatusOpen, 0)
		alert("old_acknowledged", models.StatusAcknowledged, 0)
		for i := 0; i < 30; i++ {
			if err := db.Create(&models.IntegrationLog{IntegrationID: integ.ID, CreatedAt: now, Outcome: models.OutcomeAccepted, Status: 200}).Error; err != nil {
				t.Fatal(err)
			}
		}
		db.Close()

		srv := webtest.Start(t, func(c *web.Config) { c.DatabaseURL = dbURL; c.RetentionDays = 30; c.LogKeep = 10 })
		if status, raw := webtest.Intake(t, srv.URL, integ.PublicID, "application/json", `{"text":"outage while pruning"}`); status != http.StatusOK {
			t.Fatalf("intake: %d %s", status, raw)
		}
		var left []string
		var logs int64
		deadline := time.Now().Add(10 * time.Second)
		for {
			left = nil
			srv.DB().Model(&models.Alert{}).Where("title NOT LIKE ?", "outage%").Order("public_id").Pluck("public_id", &left)
			srv.DB().Model(&models.IntegrationLog{}).Where("integration_id = ?", integ.ID).Count(&logs)
			if len(left) == 3 && logs <= 11 || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		want := []string{"alt_new_resolved", "alt_old_acknowledged", "alt_old_open"}
		if len(left) != 3 || left[0] != want[0] || left[1] != want[1] || left[2] != want[2] {
			t.Errorf("alerts left: %v, want %v", left, want)
		}
		// 10 kept, plus the intake request if it came after the prune.
		if logs != 10 && logs != 11 {
			t.Errorf("%d request-log rows left, want the newest 10 (11 with the new request)", logs)
		}
		if status, _ := webtest.Intake(t, srv.URL, integ.PublicID, "application/json", `{"text":"outage after pruning"}`); status != http.StatusOK {
			t.Errorf("intake after pruning: %d", status)
		}
	})
}
