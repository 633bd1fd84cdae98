package models

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// MaxLoggedBody is how much of a request body the request log keeps.
const MaxLoggedBody = 16 << 10

// IntakeRequest is one delivery to an integration's endpoint, parsed (or
// refused) by the HTTP layer.
type IntakeRequest struct {
	IntegrationPublicID string
	// Payload is the parsed message; nil when Refused is set.
	Payload *MattermostPayload
	// Refused is set when the request was bad before the integration was
	// looked up (invalid, too large, unsupported type); Message says why.
	Refused     Outcome
	Message     string
	Source      string
	ContentType string
	// Body is the request body with the token masked.
	Body string
}

// IntakeResult is what became of an IntakeRequest.
type IntakeResult struct {
	Outcome        Outcome
	Message        string
	AlertPublicID  string
	Urgency        Urgency
	Title          string
	ReplyInChannel bool
	RetryAfter     time.Duration
}

// ErrWriterClosed is returned by Submit once the writer is shutting down.
var ErrWriterClosed = errors.New("intake writer is shut down")

// WriterOptions tunes the intake writer.
type WriterOptions struct {
	// RatePerSecond and Burst limit requests per integration; zero turns
	// the limit off.
	RatePerSecond float64
	Burst         int
	// MaxBatch caps how many requests share one transaction.
	MaxBatch int
	// OnCommit, when set, is called after each committed batch that
	// created or updated alerts, with the accounts concerned.
	OnCommit func(accountIDs []uint)
}

// Writer stores intake requests with group commit: concurrent requests are
// queued to one goroutine that writes them in a single transaction, and each
// request is answered only after its transaction is committed (and, on
// SQLite with synchronous=FULL, fsync'd). Under light traffic a batch is one
// request and nothing waits; under load batches grow by themselves.
type Writer struct {
	db       *DB
	opts     WriterOptions
	queue    chan *intakeJob
	mu       sync.RWMutex // guards closed against Submit
	closed   bool
	done     chan struct{}
	limiters map[uint]*rate.Limiter // owned by the writer goroutine
	stmts    map[string]*sql.Stmt
}

type intakeJob struct {
	req    *IntakeRequest
	result IntakeResult
	done   chan struct{}
}

var jobPool = sync.Pool{New: func() any { return &intakeJob{done: make(chan struct{}, 1)} }}

// The writer's statements, with ? placeholders (rebound for PostgreSQL).
const (
	sqlFindIntegration = `SELECT id, account_id, default_urgency, token, enabled, reply_in_channel, site_url FROM integrations WHERE public_id = ? AND deleted_at IS NULL`
	sqlFindOpenAlert   = `SELECT id, public_id, urgency, title FROM alerts WHERE integration_id = ? AND dedup_key = ? AND status <> 'resolved'`
	sqlBumpDedup       = `UPDATE alerts SET dedup_count = dedup_count + 1 WHERE id = ?`
	sqlInsertAlert     = `INSERT INTO alerts (public_id, account_id, integration_id, title, description, urgency, status, dedup_key, dedup_count, additional_data, raw_request, raw_content_type, created_at, acknowledged_by, resolved_by) VALUES (?, ?, ?, ?, ?, ?, 'open', ?, 0, ?, ?, ?, ?, '', '') RETURNING id`
	sqlInsertEvent     = `INSERT INTO alert_events (alert_id, kind, actor, created_at) VALUES (?, ?, '', ?)`
	sqlInsertLog       = `INSERT INTO integration_logs (integration_id, created_at, source, outcome, status, message, alert_public_id, content_type, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// NewWriter starts the intake writer. Close stops it.
func NewWriter(db *DB, opts WriterOptions) (*Writer, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 256
	}
	sqlDB, err := db.DB.DB()
	if err != nil {
		return nil, err
	}
	w := &Writer{
		db:       db,
		opts:     opts,
		queue:    make(chan *intakeJob, 4*opts.MaxBatch),
		done:     make(chan struct{}),
		limiters: map[uint]*rate.Limiter{},
		stmts:    map[string]*sql.Stmt{},
	}
	for _, q := range []string{sqlFindIntegration, sqlFindOpenAlert, sqlBumpDedup, sqlInsertAlert, sqlInsertEvent, sqlInsertLog, sqlEnqueue} {
		st, err := sqlDB.Prepare(db.rebind(q))
		if err != nil {
			w.closeStmts()
			return nil, fmt.Errorf("prepare %q: %w", q, err)
		}
		w.stmts[q] = st
	}
	go w.loop()
	return w, nil
}

// rebind turns ? placeholders into PostgreSQL's $1, $2…
func (d *DB) rebind(q string) string {
	if d.Dialect != "postgres" {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Submit queues req and waits until it is committed or refused. An error
// means the request was not stored (shutdown, or the context ended while
// queued); the caller answers with a temporary failure.
func (w *Writer) Submit(ctx context.Context, req *IntakeRequest) (IntakeResult, error) {
	job := jobPool.Get().(*intakeJob)
	job.req = req
	job.result = IntakeResult{}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		jobPool.Put(job)
		return IntakeResult{}, ErrWriterClosed
	}
	select {
	case w.queue <- job:
	case <-ctx.Done():
		w.mu.RUnlock()
		jobPool.Put(job)
		return IntakeResult{}, ctx.Err()
	}
	w.mu.RUnlock()
	// Once queued, the job is always answered: wait for it even if the
	// client went away, so that the job is not reused while in flight.
	<-job.done
	res := job.result
	job.req = nil
	jobPool.Put(job)
	return res, nil
}

// Close stops taking requests, writes those already queued, and returns when
// the last batch is committed.
func (w *Writer) Close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	<-w.done
	w.closeStmts()
}

func (w *Writer) closeStmts() {
	for _, st := range w.stmts {
		st.Close()
	}
}

func (w *Writer) loop() {
	defer close(w.done)
	batch := make([]*intakeJob, 0, w.opts.MaxBatch)
	for {
		job, ok := <-w.queue
		if !ok {
			return
		}
		batch = append(batch[:0], job)
	fill:
		for len(batch) < w.opts.MaxBatch {
			select {
			case j, ok := <-w.queue:
				if !ok {
					break fill
				}
				batch = append(batch, j)
			default:
				break fill
			}
		}
		w.commit(batch)
	}
}

// commit writes one batch in one transaction and answers every job in it.
// If anything fails, nothing of the batch is stored and every job is told so.
func (w *Writer) commit(batch []*intakeJob) {
	accounts, err := w.writeBatch(batch)
	if err != nil {
		for _, j := range batch {
			j.result = IntakeResult{Outcome: OutcomeFailed, Message: "Klaxon could not store the alert; try again"}
		}
	}
	for _, j := range batch {
		j.done <- struct{}{}
	}
	if err == nil && len(accounts) > 0 && w.opts.OnCommit != nil {
		w.opts.OnCommit(accounts)
	}
}

type intakeIntegration struct {
	id, accountID  uint
	defaultUrgency Urgency
	token          string
	enabled        bool
	reply          bool
	siteURL        string
	found          bool
}

func (w *Writer) writeBatch(batch []*intakeJob) (accounts []uint, err error) {
	ctx := context.Background()
	sqlDB, err := w.db.DB.DB()
	if err != nil {
		return nil, err
	}
	tx, err := sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	st := func(q string) *sql.Stmt { return tx.StmtContext(ctx, w.stmts[q]) }
	integrations := map[string]*intakeIntegration{}
	now := time.Now().UTC()
	for _, j := range batch {
		req := j.req
		integ, ok := integrations[req.IntegrationPublicID]
		if !ok {
			integ = &intakeIntegration{}
			err := st(sqlFindIntegration).QueryRowContext(ctx, req.IntegrationPublicID).
				Scan(&integ.id, &integ.accountID, &integ.defaultUrgency, &integ.token, &integ.enabled, &integ.reply, &integ.siteURL)
			switch {
			case err == nil:
				integ.found = true
			case !errors.Is(err, sql.ErrNoRows):
				return nil, err
			}
			integrations[req.IntegrationPublicID] = integ
		}
		if !integ.found {
			j.result = IntakeResult{Outcome: OutcomeUnknown, Message: "No integration has this URL. Copy the endpoint URL again from the integration's page in Klaxon."}
			continue
		}
		res, touched, err := w.apply(ctx, st, integ, req, now)
		if err != nil {
			return nil, err
		}
		j.result = res
		if touched && !containsUint(accounts, integ.accountID) {
			accounts = append(accounts, integ.accountID)
		}
		body := req.Body
		if len(body) > MaxLoggedBody {
			body = body[:MaxLoggedBody] + "\n… (cut: the request log keeps the first 16 KiB)"
		}
		if _, err := st(sqlInsertLog).ExecContext(ctx, integ.id, now, truncate(req.Source, 100), res.Outcome, res.Outcome.Status(),
			truncate(res.Message, 500), res.AlertPublicID, truncate(req.ContentType, 100), body); err != nil {
			return nil, err
		}
	}
	return accounts, tx.Commit()
}

// apply decides one request against its integration and writes its alert.
func (w *Writer) apply(ctx context.Context, st func(string) *sql.Stmt, integ *intakeIntegration, req *IntakeRequest, now time.Time) (res IntakeResult, touched bool, err error) {
	if req.Refused != "" {
		return IntakeResult{Outcome: req.Refused, Message: req.Message}, false, nil
	}
	if !integ.enabled {
		return IntakeResult{Outcome: OutcomeDisabled, Message: "This integration is disabled in Klaxon; enable it on its page to receive alerts again."}, false, nil
	}
	if delay := w.limit(integ.id, now); delay > 0 {
		return IntakeResult{Outcome: OutcomeRateLimited, Message: "Too many requests for this integration; slow down.", RetryAfter: delay}, false, nil
	}
	if integ.token != "" && subtle.ConstantTimeCompare([]byte(integ.token), []byte(req.Payload.Token)) != 1 {
		msg := "The token does not match the one saved in Klaxon. Copy the token from the Mattermost outgoing webhook into the integration's Token field."
		if req.Payload.Token == "" {
			msg = "The request has no token, but this integration requires one."
		}
		return IntakeResult{Outcome: OutcomeBadToken, Message: msg}, false, nil
	}
	ig := Integration{DefaultUrgency: integ.defaultUrgency, SiteURL: integ.siteURL}
	d := req.Payload.Draft(&ig)
	res = IntakeResult{ReplyInChannel: integ.reply}
	if d.DedupKey != "" {
		var id uint
		err := st(sqlFindOpenAlert).QueryRowContext(ctx, integ.id, d.DedupKey).Scan(&id, &res.AlertPublicID, &res.Urgency, &res.Title)
		if err == nil {
			if _, err := st(sqlBumpDedup).ExecContext(ctx, id); err != nil {
				return res, false, err
			}
			if _, err := st(sqlInsertEvent).ExecContext(ctx, id, EventDeduplicated, now); err != nil {
				return res, false, err
			}
			res.Outcome = OutcomeDeduplicated
			res.Message = "Redelivery of an open alert; its count went up."
			return res, true, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return res, false, err
		}
	}
	res.AlertPublicID = newPublicID("alt_")
	if d.DedupKey == "" {
		d.DedupKey = res.AlertPublicID
	}
	data, err := json.Marshal(d.Data)
	if err != nil {
		return res, false, err
	}
	var id uint
	if err := st(sqlInsertAlert).QueryRowContext(ctx, res.AlertPublicID, integ.accountID, integ.id, d.Title, d.Description, d.Urgency,
		d.DedupKey, string(data), req.Body, truncate(req.ContentType, 100), now).Scan(&id); err != nil {
		return res, false, err
	}
	if _, err := st(sqlInsertEvent).ExecContext(ctx, id, EventCreated, now); err != nil {
		return res, false, err
	}
	repliedIn := ""
	if integ.reply {
		repliedIn = req.Payload.ChannelName
	}
	if _, err := st(sqlEnqueue).ExecContext(ctx, enqueueArgs(id, integ.accountID, integ.id, d.Urgency, NotifyOpened, repliedIn, now)...); err != nil {
		return res, false, err
	}
	res.Outcome = OutcomeAccepted
	res.Urgency = d.Urgency
	res.Title = d.Title
	res.Message = "Alert created."
	return res, true, nil
}

// limit takes one request from the integration's bucket and returns how long
// to wait when the bucket is empty.
func (w *Writer) limit(integrationID uint, now time.Time) time.Duration {
	if w.opts.RatePerSecond <= 0 {
		return 0
	}
	lim, ok := w.limiters[integrationID]
	if !ok {
		burst := w.opts.Burst
		if burst <= 0 {
			burst = 1
		}
		lim = rate.NewLimiter(rate.Limit(w.opts.RatePerSecond), burst)
		w.limiters[integrationID] = lim
	}
	r := lim.ReserveN(now, 1)
	if delay := r.DelayFrom(now); delay > 0 {
		r.CancelAt(now)
		return delay
	}
	return 0
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

func containsUint(list []uint, v uint) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
