package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"klaxon/models"
	"klaxon/web/notify"
	"klaxon/web/webtest"
)

// A channel's events keep their order through an outage with a backlog:
// Mattermost refuses the first post (503), so "opened X" waits for its
// retry; meanwhile X is resolved and 60 other alerts open, more than one
// scan of the outbox takes. When Mattermost is back, "opened X" still goes
// before "resolved X".
func TestNotificationOrderSurvivesABacklog(t *testing.T) {
	for name, url := range webtest.Databases(t) {
		t.Run(name, func(t *testing.T) {
			db := webtest.OpenDB(t, url)
			ctx := context.Background()
			mm := newFakeMattermost(t, func(n int) (int, time.Duration) {
				if n == 1 {
					return http.StatusServiceUnavailable, 0
				}
				return http.StatusOK, 0
			})
			u, integ := teamWithChannel(t, db, mm.URL, "opened", "resolved")
			w, err := models.NewWriter(db, models.WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			submit := func(text string) string {
				res, err := w.Submit(ctx, &models.IntakeRequest{IntegrationPublicID: integ.PublicID, Draft: &models.AlertDraft{Title: text, DedupKey: text}})
				if err != nil || res.Outcome != models.OutcomeAccepted {
					t.Fatalf("submit: %v %+v", err, res)
				}
				return res.AlertPublicID
			}
			worker := notify.NewWorker(db, "http://klaxon.test", slog.New(slog.NewTextHandler(io.Discard, nil)), notify.Networks{AllowLoopback: true})
			worker.Poll = 100 * time.Millisecond
			worker.Backoff = func(int) time.Duration { return 3 * time.Second }
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { worker.Run(runCtx); close(done) }()
			defer func() { stop(); <-done }()

			x := submit("outage X")
			eventually(t, 5*time.Second, "the failed first post", func() bool { return len(mm.messages()) == 1 })
			start := time.Now()
			if err := db.ApplyTransition(ctx, u.AccountID, u, x, models.Resolve); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 60; i++ {
				submit("other " + itoa(uint(i)))
			}
			if time.Since(start) > 2500*time.Millisecond {
				t.Fatalf("setup too slow (%v) to beat the 3 s backoff", time.Since(start))
			}
			eventually(t, 20*time.Second, "all posts", func() bool { return len(mm.messages()) == 1+2+60 })
			var seq []string
			openedX, resolvedX := -1, -1
			for i, m := range mm.messages()[1:] {
				a := m.Attachments[0]
				seq = append(seq, a.Pretext+" "+a.Title)
				if a.Title == x+": outage X" {
					if a.Pretext == "Alert opened" {
						openedX = i
					} else {
						resolvedX = i
					}
				}
			}
			if openedX < 0 || resolvedX < openedX {
				t.Errorf("'opened' of %s posted at %d, 'resolved' at %d, want opened first; posts: %q", x, openedX, resolvedX, seq[:12])
			}
		})
	}
}
