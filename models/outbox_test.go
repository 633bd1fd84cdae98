package models_test

import (
	"context"
	"testing"
	"time"

	"klaxon/models"
	"klaxon/web/webtest"
)

// TestDueOutboxKeepsEachChannelInOrder: an item waits while an earlier item
// of its channel waits for a retry; other channels are not held up; busy
// channels can be left out.
func TestDueOutboxKeepsEachChannelInOrder(t *testing.T) {
	for name, url := range webtest.Databases(t) {
		t.Run(name, func(t *testing.T) {
			db := webtest.OpenDB(t, url)
			ctx := context.Background()
			u, err := db.CreateAccount(ctx, models.SignUp{Team: "Ops", Email: "ops@example.com", Password: "correct horse", Confirm: "correct horse"})
			if err != nil {
				t.Fatal(err)
			}
			var channels []uint
			for _, n := range []string{"c", "d"} {
				ch, err := db.CreateChannel(ctx, u.AccountID, models.ChannelInput{Name: n, WebhookURL: "https://chat.example.com/hooks/" + n, Events: []string{models.NotifyOpened}})
				if err != nil {
					t.Fatal(err)
				}
				channels = append(channels, ch.ID)
			}
			now := time.Now().UTC()
			items := []models.OutboxItem{
				{ChannelID: channels[0], AlertID: 1, Event: models.NotifyOpened, State: models.OutboxPending, NextAttemptAt: now.Add(time.Minute), Attempts: 1, CreatedAt: now},
				{ChannelID: channels[0], AlertID: 1, Event: models.NotifyResolved, State: models.OutboxPending, NextAttemptAt: now, CreatedAt: now},
				{ChannelID: channels[1], AlertID: 1, Event: models.NotifyOpened, State: models.OutboxPending, NextAttemptAt: now, CreatedAt: now},
			}
			if err := db.Create(&items).Error; err != nil {
				t.Fatal(err)
			}
			ids := func(list []models.OutboxItem) []uint {
				var out []uint
				for _, it := range list {
					out = append(out, it.ID)
				}
				return out
			}
			due, err := db.DueOutbox(ctx, now.Add(time.Second), 50, nil)
			if err != nil || len(due) != 1 || due[0].ID != items[2].ID {
				t.Fatalf("with channel c's first item waiting for its retry: due %v (%v), want only channel d's %d", ids(due), err, items[2].ID)
			}
			if due, err := db.DueOutbox(ctx, now.Add(time.Second), 50, []uint{channels[1]}); err != nil || len(due) != 0 {
				t.Fatalf("channel d busy: due %v (%v), want none", ids(due), err)
			}
			due, err = db.DueOutbox(ctx, now.Add(2*time.Minute), 50, nil)
			if err != nil || len(due) != 3 {
				t.Fatalf("once the retry is due: %v (%v), want all three", ids(due), err)
			}
		})
	}
}
