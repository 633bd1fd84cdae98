package models

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// The writer drops the buckets of integrations that have gone quiet: after
// requests to many integrations, one sweep later only the latest one's
// bucket is left. (The web tests check that the limit still holds.)
func TestWriterDropsIdleLimiters(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "klaxon.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := db.CreateAccount(ctx, SignUp{Team: "Ops", Email: "ops@example.com", Password: "correct horse", Confirm: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	// 1,000 a second, bursts of 2: a bucket is full again 2 ms after its
	// last request.
	w, err := NewWriter(db, WriterOptions{RatePerSecond: 1000, Burst: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var ids []string
	for i := range 20 {
		in, err := db.CreateIntegration(ctx, u.AccountID, IntegrationInput{Name: fmt.Sprintf("MM %d", i), DefaultUrgency: "medium"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, in.PublicID)
	}
	send := func(id string) Outcome {
		res, err := w.Submit(ctx, &IntakeRequest{IntegrationPublicID: id, Draft: &AlertDraft{Title: "outage"}, Body: "{}"})
		if err != nil {
			t.Fatal(err)
		}
		return res.Outcome
	}
	for _, id := range ids {
		if o := send(id); o != OutcomeAccepted {
			t.Fatalf("first request: %s", o)
		}
	}
	if n := len(w.limiters.buckets); n != 20 {
		t.Fatalf("%d buckets after requests to 20 integrations, want 20", n)
	}
	time.Sleep(10 * time.Millisecond)
	w.limiters.nextSweep = time.Time{} // as if a minute had passed
	if o := send(ids[0]); o != OutcomeAccepted {
		t.Fatalf("after the pause: %s", o)
	}
	if n := len(w.limiters.buckets); n != 1 {
		t.Errorf("%d buckets after the sweep, want 1", n)
	}
}
