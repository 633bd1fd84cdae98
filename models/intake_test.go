package models_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"klaxon/models"
	"klaxon/web/mattermost"
	"klaxon/web/webtest"
)

// writerEnv is a database with one team and one integration, and a writer
// whose first commit can be held (see hold) so that requests pile up into
// one batch.
type writerEnv struct {
	db      *models.DB
	w       *models.Writer
	integ   string
	batches atomic.Int64 // committed batches that touched alerts
	entered chan struct{}
	release chan struct{}
}

// teamIntegration signs up a team with one integration (default urgency
// medium, replying in channel) and returns the integration's public id.
func teamIntegration(tb testing.TB, db *models.DB) string {
	tb.Helper()
	ctx := context.Background()
	u, err := db.CreateAccount(ctx, models.SignUp{Team: "Ops", Email: "ops@example.com", Password: "correct horse", Confirm: "correct horse"})
	if err != nil {
		tb.Fatal(err)
	}
	i, err := db.CreateIntegration(ctx, u.AccountID, models.IntegrationInput{Name: "Mattermost", DefaultUrgency: "medium", ReplyInChannel: true})
	if err != nil {
		tb.Fatal(err)
	}
	return i.PublicID
}

func newWriterEnv(t *testing.T, url string) *writerEnv {
	t.Helper()
	e := &writerEnv{db: webtest.OpenDB(t, url), entered: make(chan struct{}), release: make(chan struct{})}
	e.integ = teamIntegration(t, e.db)
	var err error
	e.w, err = models.NewWriter(e.db, models.WriterOptions{OnCommit: func([]uint) {
		if e.batches.Add(1) == 1 {
			close(e.entered)
			<-e.release
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.unblock()
		e.w.Close()
	})
	return e
}

func (e *writerEnv) unblock() {
	select {
	case <-e.release:
	default:
		close(e.release)
	}
}

func (e *writerEnv) request(postID, text string) *models.IntakeRequest {
	body := fmt.Sprintf(`{"post_id":%q,"text":%q}`, postID, text)
	return &models.IntakeRequest{IntegrationPublicID: e.integ, Draft: &models.AlertDraft{Title: text, DedupKey: postID, ReplyChannel: "ops"},
		Source: "127.0.0.1", ContentType: "application/json", Body: body}
}

func (e *writerEnv) submit(t *testing.T, req *models.IntakeRequest) models.IntakeResult {
	t.Helper()
	res, err := e.w.Submit(context.Background(), req)
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return res
}

// hold commits one request and keeps the writer inside that batch's
// OnCommit until unblock: requests submitted meanwhile wait in the queue
// and are then written together, as one batch.
func (e *writerEnv) hold(t *testing.T) {
	t.Helper()
	done := make(chan models.IntakeResult, 1)
	go func() {
		res, _ := e.w.Submit(context.Background(), e.request("blocker", "first alert"))
		done <- res
	}()
	<-e.entered
	if res := <-done; res.Outcome != models.OutcomeAccepted {
		t.Fatalf("blocker: %+v", res)
	}
}

// submitAll submits reqs concurrently once the writer is held, waits until
// all of them are queued, and returns a function that waits for their
// results.
func (e *writerEnv) submitAll(t *testing.T, reqs []*models.IntakeRequest) func() []models.IntakeResult {
	t.Helper()
	results := make([]models.IntakeResult, len(reqs))
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = e.w.Submit(context.Background(), r)
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for e.w.Queued() < len(reqs) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d requests queued", e.w.Queued(), len(reqs))
		}
		time.Sleep(time.Millisecond)
	}
	return func() []models.IntakeResult {
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
		}
		return results
	}
}

// freshURL is a new, empty database of the dialect name.
func freshURL(t *testing.T, name string) string {
	t.Helper()
	if name == "postgres" {
		return webtest.PostgresURL(t)
	}
	return webtest.SQLiteURL(t)
}

type rowCounts struct{ alerts, events, logs, dedupSum int64 }

func counts(t *testing.T, db *models.DB) rowCounts {
	t.Helper()
	var c rowCounts
	for _, q := range []struct {
		dst   *int64
		table string
		expr  string
	}{{&c.alerts, "alerts", "count(*)"}, {&c.events, "alert_events", "count(*)"}, {&c.logs, "integration_logs", "count(*)"}, {&c.dedupSum, "alerts", "coalesce(sum(dedup_count), 0)"}} {
		if err := db.Raw("SELECT " + q.expr + " FROM " + q.table).Scan(q.dst).Error; err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// poison makes the database refuse any alert whose title holds "poison",
// as a full disk or a lost connection would refuse a write.
func poison(t *testing.T, db *models.DB) {
	t.Helper()
	stmts := []string{`CREATE TRIGGER poison BEFORE INSERT ON alerts WHEN NEW.title LIKE '%poison%' BEGIN SELECT RAISE(ABORT, 'poisoned'); END`}
	if db.Dialect == "postgres" {
		stmts = []string{
			`CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN IF NEW.title LIKE '%poison%' THEN RAISE EXCEPTION 'poisoned'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`,
			`CREATE TRIGGER poison BEFORE INSERT ON alerts FOR EACH ROW EXECUTE FUNCTION poison()`,
		}
	}
	for _, s := range stmts {
		if err := db.Exec(s).Error; err != nil {
			t.Fatal(err)
		}
	}
}

func TestWriterFailedBatchStoresNothing(t *testing.T) {
	for name, url := range webtest.Databases(t) {
		t.Run(name, func(t *testing.T) {
			e := newWriterEnv(t, url)
			poison(t, e.db)
			e.hold(t)
			var reqs []*models.IntakeRequest
			for i := range 20 {
				reqs = append(reqs, e.request(fmt.Sprintf("good-%d", i), fmt.Sprintf("outage %d", i)))
			}
			reqs = append(reqs, e.request("good-0", "redelivery of a good one"))
			reqs = append(reqs, e.request("bad", "poison in the title"))
			wait := e.submitAll(t, reqs)
			e.unblock()
			for i, res := range wait() {
				if res.Outcome != models.OutcomeFailed || res.AlertPublicID != "" || res.Outcome.Status() != 503 {
					t.Errorf("request %d of the failed batch: %+v, want %s (503) and no alert", i, res, models.OutcomeFailed)
				}
			}
			// Nothing of the batch is stored but its request-log rows,
			// which say it failed.
			want := rowCounts{alerts: 1, events: 1, logs: 1 + int64(len(reqs))}
			if got := counts(t, e.db); got != want {
				t.Errorf("after the failed batch: %+v, want %+v (nothing of the batch stored)", got, want)
			}
			var failed []models.IntegrationLog
			e.db.Where("outcome = ?", models.OutcomeFailed).Find(&failed)
			if len(failed) != len(reqs) || failed[0].Status != 503 || failed[0].AlertPublicID != "" || !strings.Contains(failed[0].Message, "send it again") {
				t.Errorf("request log of the failed batch: %d rows (want %d, status 503, no alert, saying so): %+v", len(failed), len(reqs), failed)
			}
			// The writer goes on: the next batch is written.
			if res := e.submit(t, e.request("good-0", "outage 0 again")); res.Outcome != models.OutcomeAccepted {
				t.Errorf("after a failed batch: %+v, want accepted", res)
			}
			if res := e.submit(t, e.request("bad-2", "poison again")); res.Outcome != models.OutcomeFailed {
				t.Errorf("a poisoned request alone: %+v, want failed", res)
			}
			want = rowCounts{alerts: 2, events: 2, logs: 2 + int64(len(reqs)) + 1}
			if got := counts(t, e.db); got != want {
				t.Errorf("at the end: %+v, want %+v", got, want)
			}
		})
	}
}

func TestWriterCloseDrainsTheQueue(t *testing.T) {
	for name, url := range webtest.Databases(t) {
		t.Run(name, func(t *testing.T) {
			e := newWriterEnv(t, url)
			e.hold(t)
			const n = 150
			var reqs []*models.IntakeRequest
			for i := range n {
				reqs = append(reqs, e.request(fmt.Sprintf("post-%d", i), fmt.Sprintf("outage %d", i)))
			}
			wait := e.submitAll(t, reqs)
			closed := make(chan struct{})
			go func() {
				e.w.Close()
				close(closed)
			}()
			time.Sleep(20 * time.Millisecond) // let Close start while the writer is held
			select {
			case <-closed:
				t.Fatal("Close returned while requests were still queued")
			default:
			}
			e.unblock()
			<-closed
			if _, err := e.w.Submit(context.Background(), e.request("late", "too late")); !errors.Is(err, models.ErrWriterClosed) {
				t.Errorf("submit after Close: %v, want ErrWriterClosed", err)
			}
			for i, res := range wait() {
				if res.Outcome != models.OutcomeAccepted {
					t.Errorf("queued request %d: %+v, want accepted", i, res)
				}
			}
			want := rowCounts{alerts: n + 1, events: n + 1, logs: n + 1}
			if got := counts(t, e.db); got != want {
				t.Errorf("after Close: %+v, want %+v", got, want)
			}
		})
	}
}

func TestWriterDedupIsExactUnderConcurrency(t *testing.T) {
	const n = 100
	check := func(t *testing.T, e *writerEnv, results []models.IntakeResult) {
		t.Helper()
		created, dedup := 0, 0
		for _, res := range results {
			switch res.Outcome {
			case models.OutcomeAccepted:
				created++
			case models.OutcomeDeduplicated:
				dedup++
			default:
				t.Errorf("unexpected result %+v", res)
			}
			if res.AlertPublicID != results[0].AlertPublicID {
				t.Errorf("alert %s, another request got %s", res.AlertPublicID, results[0].AlertPublicID)
			}
		}
		if created != 1 || dedup != n-1 {
			t.Errorf("%d created, %d deduplicated; want 1 and %d", created, dedup, n-1)
		}
		var a models.Alert
		if err := e.db.Where("public_id = ?", results[0].AlertPublicID).Take(&a).Error; err != nil {
			t.Fatal(err)
		}
		if a.DedupCount != n-1 || a.DedupKey != "same-post" {
			t.Errorf("alert dedup count %d key %q, want %d and same-post", a.DedupCount, a.DedupKey, n-1)
		}
		var kinds []struct {
			Kind models.EventKind
			N    int
		}
		e.db.Raw(`SELECT kind, count(*) AS n FROM alert_events WHERE alert_id = ? GROUP BY kind ORDER BY kind`, a.ID).Scan(&kinds)
		if fmt.Sprint(kinds) != fmt.Sprintf("[{created 1} {deduplicated %d}]", n-1) {
			t.Errorf("timeline %v, want 1 created and %d deduplicated", kinds, n-1)
		}
	}
	for name, url := range webtest.Databases(t) {
		t.Run(name+"/one batch", func(t *testing.T) {
			e := newWriterEnv(t, url)
			e.hold(t)
			var reqs []*models.IntakeRequest
			for i := range n {
				reqs = append(reqs, e.request("same-post", fmt.Sprintf("sev-1 checkout down (delivery %d)", i)))
			}
			wait := e.submitAll(t, reqs)
			e.unblock()
			check(t, e, wait())
			if got := counts(t, e.db); got != (rowCounts{alerts: 2, events: n + 1, logs: n + 1, dedupSum: n - 1}) {
				t.Errorf("rows %+v: want 2 alerts (with the blocker), %d events and request-log rows, dedup sum %d", got, n+1, n-1)
			}
		})
		t.Run(name+"/free running", func(t *testing.T) {
			e := newWriterEnv(t, freshURL(t, name))
			e.unblock()
			results := make([]models.IntakeResult, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					results[i] = e.submit(t, e.request("same-post", "sev-1 checkout down"))
				}()
			}
			close(start)
			wg.Wait()
			check(t, e, results)
			if got := counts(t, e.db); got != (rowCounts{alerts: 1, events: n, logs: n, dedupSum: n - 1}) {
				t.Errorf("rows %+v: want 1 alert, %d events and request-log rows, dedup sum %d", got, n, n-1)
			}
		})
	}
}

func TestWriterLightTrafficIsNotBatched(t *testing.T) {
	for name, url := range webtest.Databases(t) {
		t.Run(name, func(t *testing.T) {
			e := newWriterEnv(t, url)
			e.unblock()
			const n = 20
			for i := range n {
				start := time.Now()
				res := e.submit(t, e.request(fmt.Sprintf("post-%d", i), "outage"))
				if res.Outcome != models.OutcomeAccepted {
					t.Fatalf("request %d: %+v", i, res)
				}
				if took := time.Since(start); took > 5*time.Second {
					t.Errorf("request %d alone took %s", i, took)
				}
			}
			// Each request was its own batch, committed as soon as it came:
			// OnCommit ran once per request (it runs just after the answer).
			deadline := time.Now().Add(5 * time.Second)
			for e.batches.Load() < n && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if got := e.batches.Load(); got != n {
				t.Errorf("%d requests one at a time made %d batches, want %d", n, got, n)
			}
		})
	}
}

// BenchmarkWriter measures the group-commit writer alone, on a fresh SQLite
// file, with 64 goroutines submitting Mattermost-shaped requests (distinct
// post ids) and no HTTP in between. make bench runs it.
func BenchmarkWriter(b *testing.B) {
	db := webtest.OpenDB(b, webtest.SQLiteURL(b))
	ctx := context.Background()
	integ := teamIntegration(b, db)
	w, err := models.NewWriter(db, models.WriterOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	const body = `{"token":"","team_id":"t1","team_domain":"ops","channel_id":"c1","channel_name":"town-square","timestamp":1700000000000,"user_id":"u1","user_name":"alice","post_id":%q,"text":"outage db-%d is down high","trigger_word":"outage","file_ids":""}`
	var n atomic.Int64
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := n.Add(1)
			raw := fmt.Sprintf(body, fmt.Sprintf("post%024d", k*7919%1_000_003), k)
			p, err := mattermost.ParseJSON([]byte(raw))
			if err != nil {
				b.Error(err)
				return
			}
			res, err := w.Submit(ctx, &models.IntakeRequest{IntegrationPublicID: integ, Draft: p.Draft(), Token: p.Token, Source: "127.0.0.1", ContentType: "application/json", Body: models.MaskToken(raw)})
			if err != nil || !res.Outcome.OK() {
				b.Errorf("submit: %v %+v", err, res)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// A database that stops answering (here: another connection holds the lock
// the writer needs, as a PostgreSQL behind a lost network would hang) fails
// the batch once BatchTimeout has passed, with nothing stored; the writer
// then goes on, and Close does not wait for it forever.
func TestWriterGivesUpOnAStuckDatabase(t *testing.T) {
	for name, url := range webtest.Databases(t) {
		t.Run(name, func(t *testing.T) {
			const timeout = 500 * time.Millisecond
			db, w, req := timeoutWriter(t, url, timeout)
			// SQLite's request-log rows of the failed batch wait for the
			// lock too: it is released a little after the batch gave up.
			// PostgreSQL writes them at once (only alerts are locked).
			releaseLater := func(release func(), after time.Duration) {
				if db.Dialect == "sqlite" {
					time.AfterFunc(after, release)
				}
			}
			release := lockAlerts(t, db)
			releaseLater(release, timeout+300*time.Millisecond)
			start := time.Now()
			res, err := w.Submit(context.Background(), req("stuck"))
			took := time.Since(start)
			if err != nil || res.Outcome != models.OutcomeFailed || res.Outcome.Status() != 503 {
				t.Errorf("while the database hangs: %+v, %v; want %s (503)", res, err, models.OutcomeFailed)
			}
			if took < timeout || took > timeout+5*time.Second {
				t.Errorf("answered after %s, want about the batch timeout of %s", took, timeout)
			}
			if res.Err == nil || !strings.Contains(res.Err.Error(), "did not answer within") {
				t.Errorf("error for the server log: %v, want it to say the database did not answer", res.Err)
			}
			release()
			if res := submitOK(t, w, req("after")); res.Outcome != models.OutcomeAccepted {
				t.Errorf("after the database is back: %+v, want accepted", res)
			}
			var n int64
			db.Model(&models.Alert{}).Where("dedup_key = ?", "stuck").Count(&n)
			if n != 0 {
				t.Errorf("%d alerts stored for the failed request, want none", n)
			}

			// Shutdown while the database hangs: Close returns, and the
			// queued request is told it failed.
			release = lockAlerts(t, db)
			defer release()
			releaseLater(release, 2*timeout+time.Second)
			answered := make(chan models.IntakeResult, 1)
			go func() { answered <- submitOK(t, w, req("at-shutdown")) }()
			time.Sleep(100 * time.Millisecond) // the writer is waiting for the database
			closed := make(chan struct{})
			go func() { w.Close(); close(closed) }()
			select {
			case <-closed:
			case <-time.After(2*timeout + 10*time.Second):
				t.Fatal("Close still waiting for a database that does not answer")
			}
			if res := <-answered; res.Outcome != models.OutcomeFailed {
				t.Errorf("request queued at shutdown: %+v, want failed", res)
			}
		})
	}
}

// timeoutWriter is a writer with the given BatchTimeout on a new team's
// integration, and a maker of that integration's requests.
func timeoutWriter(t *testing.T, url string, timeout time.Duration) (*models.DB, *models.Writer, func(post string) *models.IntakeRequest) {
	t.Helper()
	db := webtest.OpenDB(t, url)
	integ := teamIntegration(t, db)
	w, err := models.NewWriter(db, models.WriterOptions{BatchTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return db, w, func(post string) *models.IntakeRequest {
		return &models.IntakeRequest{IntegrationPublicID: integ, Draft: &models.AlertDraft{Title: "outage " + post, DedupKey: post},
			Source: "127.0.0.1", ContentType: "application/json", Body: `{"text":"outage"}`}
	}
}

// lockAlerts makes the alerts table unwritable (and, on PostgreSQL,
// unreadable) from other connections until release is called.
func lockAlerts(t *testing.T, db *models.DB) (release func()) {
	t.Helper()
	sqlDB, err := db.DB.DB()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lock := []string{"BEGIN IMMEDIATE"}
	if db.Dialect == "postgres" {
		lock = []string{"BEGIN", "LOCK TABLE alerts IN ACCESS EXCLUSIVE MODE"}
	}
	for _, q := range lock {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			conn.ExecContext(ctx, "ROLLBACK")
			conn.Close()
		})
	}
}

func submitOK(t *testing.T, w *models.Writer, req *models.IntakeRequest) models.IntakeResult {
	t.Helper()
	res, err := w.Submit(context.Background(), req)
	if err != nil {
		t.Errorf("submit: %v", err)
	}
	return res
}

// A request queued behind a batch that a stuck database holds up gets no
// fresh timeout of its own: it fails once it has waited BatchTimeout in
// all, and is not stored later, when its sender has long given up.
func TestWriterTimeoutCountsTheWaitInTheQueue(t *testing.T) {
	for name, url := range webtest.Databases(t) {
		t.Run(name, func(t *testing.T) {
			const timeout = time.Second
			db, w, req := timeoutWriter(t, url, timeout)
			release := lockAlerts(t, db)
			time.AfterFunc(1800*time.Millisecond, release)
			results := make([]models.IntakeResult, 2)
			var wg sync.WaitGroup
			for i, post := range []string{"first", "queued-behind"} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i] = submitOK(t, w, req(post))
				}()
				time.Sleep(100 * time.Millisecond) // the second waits behind the first's batch
			}
			wg.Wait()
			for i, res := range results {
				if res.Outcome != models.OutcomeFailed {
					t.Errorf("request %d: %s, want failed: it waited longer than the timeout of %s", i, res.Outcome, timeout)
				}
			}
			var n int64
			db.Model(&models.Alert{}).Count(&n)
			if n != 0 {
				t.Errorf("%d alerts stored, want none", n)
			}
		})
	}
}

// When the COMMIT itself fails, the writer cannot know whether it was
// applied (on PostgreSQL, an answer lost on the way): the sender and the
// request log are told so, not that nothing was kept.
func TestWriterFailedCommitIsNotCalledNothingKept(t *testing.T) {
	for name, url := range webtest.Databases(t) {
		t.Run(name, func(t *testing.T) {
			e := newWriterEnv(t, url)
			e.unblock()
			// A deferred constraint fails only at COMMIT.
			stmts := []string{
				`CREATE TABLE commit_guard (ref INTEGER REFERENCES integrations (id) DEFERRABLE INITIALLY DEFERRED)`,
				`CREATE TRIGGER commit_guard AFTER INSERT ON alerts WHEN NEW.title LIKE '%commit-fail%' BEGIN INSERT INTO commit_guard VALUES (-1); END`,
			}
			if e.db.Dialect == "postgres" {
				stmts = []string{
					`CREATE TABLE commit_guard (ref BIGINT REFERENCES integrations (id) DEFERRABLE INITIALLY DEFERRED)`,
					`CREATE FUNCTION commit_guard() RETURNS trigger AS $$ BEGIN IF NEW.title LIKE '%commit-fail%' THEN INSERT INTO commit_guard VALUES (-1); END IF; RETURN NEW; END $$ LANGUAGE plpgsql`,
					`CREATE TRIGGER commit_guard AFTER INSERT ON alerts FOR EACH ROW EXECUTE FUNCTION commit_guard()`,
				}
			}
			for _, s := range stmts {
				if err := e.db.Exec(s).Error; err != nil {
					t.Fatal(err)
				}
			}
			res := e.submit(t, e.request("p1", "outage commit-fail"))
			if res.Outcome != models.OutcomeFailed || !strings.Contains(res.Message, "could not confirm") {
				t.Errorf("failed commit: %+v, want failed, saying Klaxon could not confirm the alert was stored", res)
			}
			var logs []models.IntegrationLog
			e.db.Where("outcome = ?", models.OutcomeFailed).Find(&logs)
			if len(logs) != 1 || !strings.Contains(logs[0].Message, "may have been kept") || strings.Contains(logs[0].Message, "Nothing of it was kept") {
				t.Errorf("request log of the failed commit: %+v, want one row saying it may have been kept", logs)
			}
			if res := e.submit(t, e.request("p2", "outage")); res.Outcome != models.OutcomeAccepted {
				t.Errorf("after the failed commit: %+v, want accepted", res)
			}
		})
	}
}
