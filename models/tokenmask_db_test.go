package models_test

import (
	"context"
	"strings"
	"testing"

	"klaxon/models"
	"klaxon/web/webtest"
)

// Requests that never reached the writer's batch (given up in the queue,
// Klaxon shutting down) are logged by LogUnstored: with the integration's
// token masked too.
func TestLogUnstoredMasksTheToken(t *testing.T) {
	const token = "fsjg44c9ojduudat814ue9uf7y"
	for name, url := range webtest.Databases(t) {
		t.Run(name, func(t *testing.T) {
			db := webtest.OpenDB(t, url)
			integ := teamIntegration(t, db)
			var i models.Integration
			if err := db.Where("public_id = ?", integ).Take(&i).Error; err != nil {
				t.Fatal(err)
			}
			if _, err := db.UpdateIntegration(context.Background(), i.AccountID, integ, models.IntegrationInput{Name: "MM", DefaultUrgency: "low", Token: token}); err != nil {
				t.Fatal(err)
			}
			req := &models.IntakeRequest{IntegrationPublicID: integ, ContentType: "text/plain; t=" + token, Body: "text=" + token}
			if err := db.LogUnstored([]*models.IntakeRequest{req}, "not stored"); err != nil {
				t.Fatal(err)
			}
			var l models.IntegrationLog
			if err := db.Take(&l).Error; err != nil {
				t.Fatal(err)
			}
			if strings.Contains(l.Body+l.ContentType, token) || !strings.Contains(l.Body, "****uf7y") {
				t.Errorf("request-log row: type %q body %q, want the token masked", l.ContentType, l.Body)
			}
		})
	}
}
