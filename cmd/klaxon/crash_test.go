package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"klaxon/models"
	"klaxon/web/webtest"
)

// storedAlerts opens the database file of a stopped klaxon and returns its
// alerts' public ids by dedup key (the post id).
func storedAlerts(t *testing.T, dbPath string) map[string][]string {
	t.Helper()
	db := webtest.OpenDB(t, "sqlite:"+dbPath)
	var rows []models.Alert
	if err := db.Select("public_id", "dedup_key").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	byKey := map[string][]string{}
	for _, a := range rows {
		byKey[a.DedupKey] = append(byKey[a.DedupKey], a.PublicID)
	}
	return byKey
}

// setUp signs up a team on a running klaxon through its forms and creates
// an integration; it returns the integration's id.
func setUp(t *testing.T, k *klaxonProcess) string {
	t.Helper()
	cl := webtest.NewClientFor(t, k.URL)
	cl.SignUp("Ops", "ops@example.com", "correct horse battery")
	return cl.CreateIntegration("Mattermost", models.UrgencyHigh)
}

// TestCrashLosesNothingAcknowledged kills klaxon with SIGKILL in the middle
// of a stream of concurrent deliveries, six times, restarting it on the same
// database each time: every delivery answered with a 2xx has its alert,
// exactly once. Deliveries cut off by the kill are sent again at the end,
// as a sender that got no answer would: each then has exactly one alert too.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	const rounds, workers = 6, 8
	dbPath := filepath.Join(t.TempDir(), "klaxon.db")
	k := startKlaxon(t, dbPath, "-rate-limit", "0", "-team-rate-limit", "0")
	id := setUp(t, k)

	var all []delivery
	cut := 0
	for round := range rounds {
		if round > 0 {
			k = startKlaxon(t, dbPath, "-rate-limit", "0", "-team-rate-limit", "0")
		}
		var acked atomic.Int64
		stop := make(chan struct{})
		done := make(chan []delivery)
		go func() { done <- flood(k.URL, id, fmt.Sprintf("r%d", round), workers, stop, &acked) }()
		target := int64(30 + rand.IntN(60))
		waitFor(t, "acknowledged deliveries", 20*time.Second, func() bool { return acked.Load() >= target })
		k.signal(t, syscall.SIGKILL, 10*time.Second)
		close(stop)
		got := <-done
		n := 0
		for _, d := range got {
			if d.err != nil {
				n++
			}
		}
		t.Logf("round %d: %d deliveries, %d acknowledged, %d cut off by the kill", round+1, len(got), acked.Load(), n)
		all = append(all, got...)
		cut += n
	}
	if cut == 0 {
		t.Fatal("no delivery was in flight at any kill: the test did not test anything")
	}

	// Restart, and send again every delivery that got no answer.
	k = startKlaxon(t, dbPath, "-rate-limit", "0", "-team-rate-limit", "0")
	client := &http.Client{Timeout: 20 * time.Second}
	resent, committedUnanswered := 0, 0
	for i := range all {
		d := &all[i]
		if d.err == nil {
			continue
		}
		retry := delivery{postID: d.postID, body: d.body}
		send(client, k.URL, id, &retry)
		if retry.status != http.StatusOK || retry.alertID == "" {
			t.Fatalf("resending %s: %d %s %v", d.postID, retry.status, retry.answer, retry.err)
		}
		if strings.Contains(retry.answer, `"deduplicated":true`) {
			committedUnanswered++ // stored just before the kill, answer lost
		}
		*d = retry
		resent++
	}
	if err := k.signal(t, syscall.SIGTERM, 30*time.Second); err != nil {
		t.Fatalf("klaxon exited with %v after SIGTERM\n%s", err, k.out.String())
	}

	stored := storedAlerts(t, dbPath)
	for _, d := range all {
		if d.status != http.StatusOK || !strings.HasPrefix(d.alertID, "alt_") {
			t.Errorf("%s: status %d %s: want 200 with an alert id", d.postID, d.status, d.answer)
			continue
		}
		switch ids := stored[d.postID]; {
		case len(ids) == 0:
			t.Errorf("%s was acknowledged as %s but is not in the database", d.postID, d.alertID)
		case len(ids) > 1:
			t.Errorf("%s is stored %d times: %v", d.postID, len(ids), ids)
		case ids[0] != d.alertID:
			t.Errorf("%s was acknowledged as %s but stored as %s", d.postID, d.alertID, ids[0])
		}
	}
	if len(stored) != len(all) {
		t.Errorf("%d alerts stored for %d distinct deliveries", len(stored), len(all))
	}
	t.Logf("%d deliveries over %d kills, %d resent after being cut off (%d of them had been stored before the kill); %d alerts stored", len(all), rounds, resent, committedUnanswered, len(stored))
}

// TestGracefulShutdownUnderLoad sends SIGTERM while deliveries stream in:
// klaxon exits 0, every delivery it answered got a 2xx or a clean JSON
// error, every 2xx is stored, and a delivery that got no answer was not
// stored (the server had not taken it: refused connection or never read).
func TestGracefulShutdownUnderLoad(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "klaxon.db")
	k := startKlaxon(t, dbPath, "-rate-limit", "0", "-team-rate-limit", "0")
	id := setUp(t, k)

	var acked atomic.Int64
	stop := make(chan struct{})
	done := make(chan []delivery)
	go func() { done <- flood(k.URL, id, "term", 16, stop, &acked) }()
	waitFor(t, "acknowledged deliveries", 20*time.Second, func() bool { return acked.Load() >= 100 })
	start := time.Now()
	err := k.signal(t, syscall.SIGTERM, 30*time.Second)
	took := time.Since(start)
	time.Sleep(50 * time.Millisecond) // deliveries keep coming after the exit
	close(stop)
	all := <-done
	if err != nil {
		t.Fatalf("exit status after SIGTERM: %v, want 0\n%s", err, k.out.String())
	}
	if !strings.Contains(k.out.String(), `"msg":"stopped"`) {
		t.Errorf("klaxon did not log a clean stop:\n%s", k.out.String())
	}

	stored := storedAlerts(t, dbPath)
	var ok, refusedWithError, unanswered, connRefused int
	for _, d := range all {
		ids := stored[d.postID]
		switch {
		case d.err != nil:
			unanswered++
			if errors.Is(d.err, syscall.ECONNREFUSED) {
				connRefused++
			}
			if len(ids) != 0 {
				t.Errorf("%s got no answer (%v) but was stored as %v: the server dropped a request it had taken", d.postID, d.err, ids)
			}
		case d.status == http.StatusOK:
			ok++
			if len(ids) != 1 || ids[0] != d.alertID {
				t.Errorf("%s acknowledged as %s, stored as %v", d.postID, d.alertID, ids)
			}
		case d.status == http.StatusServiceUnavailable && strings.Contains(d.answer, `"error"`):
			refusedWithError++
			if len(ids) != 0 {
				t.Errorf("%s refused with 503 but stored as %v", d.postID, ids)
			}
		default:
			t.Errorf("%s: unexpected answer %d %s", d.postID, d.status, d.answer)
		}
	}
	if ok < 100 || unanswered == 0 {
		t.Errorf("%d acknowledged, %d unanswered: the signal did not come in the middle of the stream", ok, unanswered)
	}
	t.Logf("SIGTERM: exited 0 after %v; %d deliveries: %d acknowledged and stored, %d refused with a JSON error, %d not taken (%d connection refused, the others closed unread)", took, len(all), ok, refusedWithError, unanswered, connRefused)
}
