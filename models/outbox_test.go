package models_test

import (
	"context"
	"errors"
	"strings"
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
			channels := teamChannels(t, db, "c", "d")
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

// When more items are due than a scan takes, a channel's retried event is
// not left behind while the events after it go: after an outage, its
// "resolved" must not land before its "opened". And a claim holds the same
// rule, whatever list a worker holds.
func TestDueOutboxLimitKeepsEachChannelInOrder(t *testing.T) {
	for name, url := range webtest.Databases(t) {
		t.Run(name, func(t *testing.T) {
			db := webtest.OpenDB(t, url)
			ctx := context.Background()
			channels := teamChannels(t, db, "c", "d")
			c, d := channels[0], channels[1]
			now := time.Now().UTC()
			add := func(channel, alert uint, event string, at time.Time, attempts int) models.OutboxItem {
				it := models.OutboxItem{ChannelID: channel, AlertID: alert, Event: event, State: models.OutboxPending, Attempts: attempts, NextAttemptAt: at, CreatedAt: now}
				if err := db.Create(&it).Error; err != nil {
					t.Fatal(err)
				}
				return it
			}
			// "opened" of alert 1 on channel c failed and waits 8 s for its
			// retry; meanwhile channel d piles up due events, and channel c
			// gets "resolved" of alert 1 and more.
			opened := add(c, 1, models.NotifyOpened, now.Add(8*time.Second), 3)
			for i := range 60 {
				add(d, uint(10+i), models.NotifyOpened, now.Add(time.Duration(i)*time.Millisecond), 0)
			}
			resolved := add(c, 1, models.NotifyResolved, now.Add(time.Second), 0)
			for i := range 60 {
				add(c, uint(100+i), models.NotifyOpened, now.Add(time.Second), 0)
			}
			if ok, err := db.ClaimOutbox(ctx, &resolved, now.Add(2*time.Second), now.Add(time.Minute)); err != nil || ok {
				t.Errorf("claim of 'resolved' while 'opened' waits for its retry: %v (%v), want refused", ok, err)
			}
			if ok, err := db.ClaimOutbox(ctx, &opened, now.Add(2*time.Second), now.Add(time.Minute)); err != nil || ok {
				t.Errorf("claim of 'opened' before its retry time: %v (%v), want refused", ok, err)
			}
			due, err := db.DueOutbox(ctx, now.Add(9*time.Second), 50, nil)
			if err != nil {
				t.Fatal(err)
			}
			var inC []uint
			for _, it := range due {
				if it.ChannelID == c {
					inC = append(inC, it.ID)
				}
			}
			if len(inC) == 0 || inC[0] != opened.ID {
				t.Fatalf("channel c's items in a scan of 50 once the retry is due: %v, want 'opened' (%d) first ('resolved' is %d)", inC, opened.ID, resolved.ID)
			}
			for i := 1; i < len(inC); i++ {
				if inC[i] < inC[i-1] {
					t.Errorf("channel c's items out of order: %v", inC)
				}
			}
			if ok, err := db.ClaimOutbox(ctx, &opened, now.Add(9*time.Second), now.Add(time.Minute)); err != nil || !ok {
				t.Errorf("claim of the due 'opened': %v (%v), want it taken", ok, err)
			}
		})
	}
}

// TestOutboxClaimIsFenced: a worker that stalls past its claim, while
// another worker takes the item, cannot record its late result over the
// other's: its write is refused (ErrClaimLost), the item keeps the new
// worker's claim, and only the new worker moves it on.
func TestOutboxClaimIsFenced(t *testing.T) {
	for name, url := range webtest.Databases(t) {
		t.Run(name, func(t *testing.T) {
			db := webtest.OpenDB(t, url)
			ctx := context.Background()
			ch := teamChannels(t, db, "c")[0]
			now := time.Now().UTC()
			item := models.OutboxItem{ChannelID: ch, AlertID: 1, Event: models.NotifyOpened, State: models.OutboxPending, NextAttemptAt: now, CreatedAt: now}
			if err := db.Create(&item).Error; err != nil {
				t.Fatal(err)
			}
			// Worker A claims for 40 s, then stalls (say, in a GC pause or on
			// a slow disk) while recording its attempt.
			a := item
			if ok, err := db.ClaimOutbox(ctx, &a, now, now.Add(40*time.Second)); err != nil || !ok {
				t.Fatalf("A's claim: %v %v", ok, err)
			}
			// While A holds the claim, B cannot take the item.
			b := item
			if ok, err := db.ClaimOutbox(ctx, &b, now.Add(39*time.Second), now.Add(79*time.Second)); err != nil || ok {
				t.Fatalf("B's claim while A's runs: %v %v, want refused", ok, err)
			}
			// A's claim ran out: B takes the item.
			if ok, err := db.ClaimOutbox(ctx, &b, now.Add(41*time.Second), now.Add(81*time.Second)); err != nil || !ok {
				t.Fatalf("B's claim after A's ran out: %v %v", ok, err)
			}
			if a.ClaimToken == "" || a.ClaimToken == b.ClaimToken {
				t.Fatalf("claim tokens %q and %q: want two different ones", a.ClaimToken, b.ClaimToken)
			}
			// A wakes up and records "failed for good": refused.
			err := db.FinishAttempt(ctx, &a, models.Delivery{ChannelID: ch, OutboxID: item.ID, Event: item.Event, Attempt: 1, Status: 400}, models.OutboxFailed, now)
			if !errors.Is(err, models.ErrClaimLost) {
				t.Fatalf("A's late FinishAttempt: %v, want ErrClaimLost", err)
			}
			var got models.OutboxItem
			if err := db.First(&got, item.ID).Error; err != nil {
				t.Fatal(err)
			}
			if got.State != models.OutboxPending || got.ClaimToken != b.ClaimToken || got.Attempts != 0 {
				t.Fatalf("after A's late write: state %s, token %q (B's %q), attempts %d; want B's claim untouched", got.State, got.ClaimToken, b.ClaimToken, got.Attempts)
			}
			// B records its delivery: accepted.
			if err := db.FinishAttempt(ctx, &b, models.Delivery{ChannelID: ch, OutboxID: item.ID, Event: item.Event, Attempt: 1, Status: 200}, models.OutboxDelivered, now); err != nil {
				t.Fatalf("B's FinishAttempt: %v", err)
			}
			if err := db.First(&got, item.ID).Error; err != nil {
				t.Fatal(err)
			}
			if got.State != models.OutboxDelivered || got.ClaimToken != "" {
				t.Fatalf("after B's write: state %s, token %q; want delivered", got.State, got.ClaimToken)
			}
			// A's attempt is in the delivery log, marked late.
			dels, err := db.Deliveries(ctx, ch, 10)
			if err != nil || len(dels) != 2 {
				t.Fatalf("delivery log: %d rows (%v), want A's and B's", len(dels), err)
			}
			if !strings.HasPrefix(dels[1].Error, "late:") || dels[0].Error != "" {
				t.Errorf("delivery log errors %q (B) and %q (A): want A's marked late", dels[0].Error, dels[1].Error)
			}
		})
	}
}

// teamChannels makes a team with notification channels of the given names
// and returns their ids.
func teamChannels(t *testing.T, db *models.DB, names ...string) []uint {
	t.Helper()
	ctx := context.Background()
	u, err := db.CreateAccount(ctx, models.SignUp{Team: "Ops", Email: "ops@example.com", Password: "correct horse", Confirm: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint
	for _, n := range names {
		ch, err := db.CreateChannel(ctx, u.AccountID, models.ChannelInput{Name: n, WebhookURL: "https://chat.example.com/hooks/" + n, Events: []string{models.NotifyOpened}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ch.ID)
	}
	return ids
}
