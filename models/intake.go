package models

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxLoggedBody is how much of a request body the request log keeps, and
// MaxRefusedLoggedBody how much of a refused request's body: enough to see
// what was wrong, and little enough that a flood of bad requests cannot fill
// the disk before retention prunes it.
const (
	MaxLoggedBody        = 16 << 10
	MaxRefusedLoggedBody = 2 << 10
)

// IntakeRequest is one delivery to an integration's endpoint, parsed (or
// refused) by the HTTP layer.
type IntakeRequest struct {
	IntegrationPublicID string
	// Draft is the alert the request describes; nil when Refused is set.
	Draft *AlertDraft
	// Token is the secret the request carried, checked against the
	// integration's.
	Token string
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
	AccountID      uint
	AlertPublicID  string
	Urgency        Urgency
	Title          string
	ReplyInChannel bool
	RetryAfter     time.Duration
	// Err is why a request failed (for the server log, not for the sender).
	Err error
}

// ErrWriterClosed is returned by Submit once the writer is shutting down.
var ErrWriterClosed = errors.New("intake writer is shut down")

// WriterOptions tunes the intake writer.
type WriterOptions struct {
	// RatePerSecond and Burst limit requests per integration; zero turns
	// the limit off.
	RatePerSecond float64
	Burst         int
	// TeamRatePerSecond and TeamBurst limit requests across all of a
	// team's integrations; zero turns the limit off.
	TeamRatePerSecond float64
	TeamBurst         int
	// RawRequestKeep is how many bytes of its body an alert keeps (0: all).
	RawRequestKeep int
	// MaxBatch caps how many requests share one transaction.
	MaxBatch int
	// BatchTimeout bounds how long a request waits for the database,
	// time in the queue included (default 20 s, more than SQLite's 10 s
	// wait for a lock and less than Mattermost's 30 s wait for an
	// answer): a database that stops answering (a PostgreSQL behind a
	// lost network) fails its requests with 503 instead of holding every
	// sender, and shutdown, forever.
	BatchTimeout time.Duration
	// OnCommit, when set, is called after each committed batch that
	// created or updated alerts, with the accounts concerned. It runs on
	// the writer's goroutine: the next batch waits for it.
	OnCommit func(accountIDs []uint)
	// OnEnqueue, when set, is called after each committed batch that put
	// notifications in the outbox, on the writer's goroutine.
	OnEnqueue func()
}

// Writer stores intake requests with group commit: concurrent requests are
// queued to one goroutine that writes them in a single transaction, and each
// request is answered only after its transaction is committed (and, on
// SQLite with synchronous=FULL, fsync'd). Under light traffic a batch is one
// request and nothing waits; under load batches grow by themselves.
//
// The writer keeps one database connection of its own, with its statements
// prepared once. A batch costs a handful of statements whatever its size:
// one lookup of the open alerts for all its dedup keys, one multi-row insert
// each for alerts, timeline events and request-log rows. Everything that
// needs no database (titles, urgency words, ids) is done by the submitting
// goroutine before it queues, so the one writer goroutine does only what
// must be serialized.
type Writer struct {
	db     *DB
	opts   WriterOptions
	queue  chan *intakeJob
	mu     sync.RWMutex // guards closed against Submit
	closed bool
	done   chan struct{}
	// ctx is the writer's own: Close cancels it once the queue has had
	// BatchTimeout to drain, so that a stuck database cannot hold
	// shutdown.
	ctx    context.Context
	cancel context.CancelFunc
	// limiters and refusedLimiters hold each integration's buckets for
	// requests that would be stored and for those that would be refused;
	// they are owned by the writer goroutine.
	limiters, refusedLimiters *limiterSet
	// teamLimiters and teamRefusedLimiters are the same per team.
	teamLimiters, teamRefusedLimiters *limiterSet
	// conn and stmts are owned by the writer goroutine; conn is nil after
	// a failed batch until the next one opens a fresh connection.
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
}

type intakeJob struct {
	req    *IntakeRequest
	queued time.Time // when Submit queued it: it waits at most BatchTimeout in all
	prep   preparedRequest
	integ  *intakeIntegration
	alert  *batchAlert
	result IntakeResult
	done   chan struct{}
}

// preparedRequest is the part of a request's work that needs no database.
type preparedRequest struct {
	draft         AlertDraft // urgency "" when the text names none
	alertPublicID string
	source        string
	contentType   string
	logBody       string
}

var jobPool = sync.Pool{New: func() any { return &intakeJob{done: make(chan struct{}, 1)} }}

// The writer's statements, with ? placeholders (rebound for PostgreSQL).
// The multi-row ones are built per chunk size by rowsSQL.
const (
	sqlFindIntegration = `SELECT id, account_id, default_urgency, token, enabled, reply_in_channel, site_url FROM integrations WHERE public_id = ? AND deleted_at IS NULL`
	sqlHasChannels     = `SELECT count(*) FROM notification_channels WHERE account_id = ? AND enabled = ?`
	sqlFindOpenAlert   = `SELECT id, public_id, urgency, title FROM alerts WHERE integration_id = ? AND dedup_key = ? AND status <> 'resolved'`
	sqlBumpDedup       = `UPDATE alerts SET dedup_count = dedup_count + ? WHERE id = ?`
	// sqlFindOpenAlerts is followed by the dedup keys' placeholders.
	sqlFindOpenAlerts = `SELECT id, public_id, urgency, title, dedup_key FROM alerts WHERE integration_id = ? AND status <> 'resolved' AND dedup_key IN `
	// A concurrent writer (another instance on PostgreSQL) may have opened
	// an alert with the same key since the lookup: such a row is skipped
	// instead of failing the batch, and becomes a redelivery.
	sqlInsertAlerts = `INSERT INTO alerts (public_id, account_id, integration_id, title, description, urgency, status, dedup_key, dedup_count, additional_data, raw_request, raw_request_bytes, raw_content_type, created_at, acknowledged_by, resolved_by) VALUES `
	rowInsertAlert  = `(?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, '', '')`
	endInsertAlerts = ` ON CONFLICT (integration_id, dedup_key) WHERE status <> 'resolved' DO NOTHING RETURNING id, public_id`
	sqlInsertEvents = `INSERT INTO alert_events (alert_id, kind, actor, created_at) VALUES `
	rowInsertEvent  = `(?, ?, '', ?)`
	sqlInsertLogs   = `INSERT INTO integration_logs (integration_id, created_at, source, outcome, status, message, alert_public_id, content_type, body) VALUES `
	rowInsertLog    = `(?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// maxChunk is the most rows one multi-row statement carries; chunks are
// powers of two so that few statements are ever prepared.
const maxChunk = 128

// NewWriter starts the intake writer. Close stops it.
func NewWriter(db *DB, opts WriterOptions) (*Writer, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 256
	}
	if opts.BatchTimeout <= 0 {
		opts.BatchTimeout = DefaultBatchTimeout
	}
	w := &Writer{
		db:                  db,
		opts:                opts,
		queue:               make(chan *intakeJob, 4*opts.MaxBatch),
		done:                make(chan struct{}),
		limiters:            newLimiterSet(opts.RatePerSecond, opts.Burst),
		refusedLimiters:     newLimiterSet(opts.RatePerSecond, opts.Burst),
		teamLimiters:        newLimiterSet(opts.TeamRatePerSecond, opts.TeamBurst),
		teamRefusedLimiters: newLimiterSet(opts.TeamRatePerSecond, opts.TeamBurst),
	}
	if db.Dialect == "postgres" {
		// Nodes sharing the database share the limits too.
		w.limiters.share(db, "intake:")
		w.refusedLimiters.share(db, "refused:")
		w.teamLimiters.share(db, "team:")
		w.teamRefusedLimiters.share(db, "team-refused:")
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	ctx, cancel := context.WithTimeout(w.ctx, opts.BatchTimeout)
	defer cancel()
	if err := w.connect(ctx); err != nil {
		w.cancel()
		return nil, err
	}
	go w.loop()
	return w, nil
}

// connect takes the writer's own connection and prepares its fixed
// statements on it.
func (w *Writer) connect(ctx context.Context) error {
	sqlDB, err := w.db.DB.DB()
	if err != nil {
		return err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return err
	}
	if w.db.Dialect == "sqlite" {
		// The writer touches the indexes' newest pages batch after batch:
		// a bigger page cache keeps them in memory. Statement journals
		// (a multi-row insert keeps one) stay in memory instead of a temp
		// file created and deleted at every batch.
		// A batch waits for a lock (another connection writing) no longer
		// than it may take as a whole.
		busy := fmt.Sprintf(`PRAGMA busy_timeout = %d`, min(sqliteBusyTimeout, w.opts.BatchTimeout).Milliseconds())
		for _, p := range []string{`PRAGMA cache_size = -16000`, `PRAGMA temp_store = MEMORY`, busy} {
			if _, err := conn.ExecContext(ctx, p); err != nil {
				conn.Close()
				return err
			}
		}
	}
	w.conn, w.stmts = conn, map[string]*sql.Stmt{}
	// Every statement a batch may need is prepared here, before any
	// transaction: preparing one later would take a pool connection while
	// the writer holds SQLite's write lock, and the pool's connections may
	// all be waiting for that lock.
	queries := []string{sqlFindIntegration, sqlHasChannels, sqlFindOpenAlert, sqlBumpDedup, sqlEnqueue}
	for n := 1; n <= maxChunk; n *= 2 {
		queries = append(queries, findOpenSQL(n), rowsSQL(sqlInsertAlerts, rowInsertAlert, n, endInsertAlerts),
			rowsSQL(sqlInsertEvents, rowInsertEvent, n, ""), rowsSQL(sqlInsertLogs, rowInsertLog, n, ""))
	}
	for _, q := range queries {
		if _, err := w.stmt(ctx, q); err != nil {
			w.disconnect()
			return fmt.Errorf("prepare %q: %w", q, err)
		}
	}
	return nil
}

// stmt returns the statement q prepared on the writer's connection.
func (w *Writer) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := w.stmts[q]; ok {
		return st, nil
	}
	// Prepared on the pool, not on w.conn: Tx.StmtContext re-prepares a
	// connection's own statements every time, but reuses a pool
	// statement already prepared on the transaction's connection.
	sqlDB, err := w.db.DB.DB()
	if err != nil {
		return nil, err
	}
	st, err := sqlDB.PrepareContext(ctx, w.db.rebind(q))
	if err != nil {
		return nil, err
	}
	w.stmts[q] = st
	return st, nil
}

func (w *Writer) disconnect() {
	for _, st := range w.stmts {
		st.Close()
	}
	if w.conn != nil {
		w.conn.Close()
	}
	w.conn, w.stmts = nil, nil
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

// findOpenSQL is sqlFindOpenAlerts for n dedup keys.
func findOpenSQL(n int) string {
	return sqlFindOpenAlerts + "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
}

// rowsSQL is head followed by n copies of row, comma-separated, then tail.
func rowsSQL(head, row string, n int, tail string) string {
	return head + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ") + tail
}

// Submit queues req and waits until it is committed or refused. An error
// means the request was not stored (shutdown, or the context ended while
// queued); the caller answers with a temporary failure.
func (w *Writer) Submit(ctx context.Context, req *IntakeRequest) (IntakeResult, error) {
	job := jobPool.Get().(*intakeJob)
	job.req = req
	job.prep = prepare(req)
	job.result = IntakeResult{}
	job.queued = time.Now()
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		w.release(job)
		return IntakeResult{}, ErrWriterClosed
	}
	select {
	case w.queue <- job:
	case <-ctx.Done():
		w.mu.RUnlock()
		w.release(job)
		return IntakeResult{}, ctx.Err()
	}
	w.mu.RUnlock()
	// Once queued, the job is always answered: wait for it even if the
	// client went away, so that the job is not reused while in flight.
	<-job.done
	res := job.result
	w.release(job)
	return res, nil
}

func (w *Writer) release(job *intakeJob) {
	job.req, job.integ, job.alert, job.prep = nil, nil, nil, preparedRequest{}
	jobPool.Put(job)
}

// prepare does the database-free part of a request's work.
func prepare(req *IntakeRequest) preparedRequest {
	p := preparedRequest{source: truncate(req.Source, 100), contentType: truncate(req.ContentType, 100), logBody: req.Body}
	if len(p.logBody) > MaxLoggedBody {
		p.logBody = truncate(p.logBody, MaxLoggedBody) + "\n… (cut: the request log keeps the first 16 KiB)"
	}
	if req.Refused == "" && req.Draft != nil {
		// Urgency "" means the source named none: the integration's
		// default applies, read in the batch's transaction like the site
		// URL.
		p.draft = *req.Draft
		p.draft.Normalize()
		p.alertPublicID = newAlertID(time.Now())
		if p.draft.DedupKey == "" {
			p.draft.DedupKey = p.alertPublicID
		}
	}
	return p
}

// newAlertID returns a new alert's public id: "alt_", the time in
// milliseconds (10 base32 characters), then 80 random bits (16 characters).
// Ids made later sort later, so the unique index on public ids grows at its
// end instead of dirtying a random page for every alert written.
func newAlertID(now time.Time) string {
	var b [4 + 26]byte
	copy(b[:], "alt_")
	ms := uint64(now.UnixMilli())
	for i := 13; i >= 4; i-- {
		b[i] = idAlphabet[ms&31]
		ms >>= 5
	}
	var random [10]byte
	if _, err := rand.Read(random[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	idEncoding.Encode(b[14:], random[:])
	return string(b[:])
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

// Queued reports how many requests wait for the writer (not counting the
// batch being written).
func (w *Writer) Queued() int { return len(w.queue) }

// DefaultBatchTimeout is WriterOptions.BatchTimeout when unset.
const DefaultBatchTimeout = 20 * time.Second

// Close stops taking requests, writes those already queued, and returns when
// the last batch is committed. If the database does not answer, what is
// still queued after BatchTimeout fails (503) instead of waiting.
func (w *Writer) Close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	giveUp := time.AfterFunc(w.opts.BatchTimeout, w.cancel)
	<-w.done
	giveUp.Stop()
	w.cancel()
}

func (w *Writer) loop() {
	defer close(w.done)
	defer w.disconnect()
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
	// A request that has waited BatchTimeout already (behind batches a
	// stuck database held up) fails now: its sender is about to give up,
	// and storing it later would answer nobody.
	now := time.Now()
	var late []*intakeJob
	live := batch[:0:0]
	for _, j := range batch {
		if now.Sub(j.queued) >= w.opts.BatchTimeout {
			late = append(late, j)
		} else {
			live = append(live, j)
		}
	}
	if len(late) > 0 {
		w.fail(late, errors.New("waited longer than the batch timeout for the database"),
			"Klaxon could not store this request: it waited too long for the database. Nothing of it was kept; send it again.",
			"Klaxon could not store the alert in time; try again")
	}
	if len(live) == 0 {
		return
	}
	batch = live
	accounts, enqueued, err := w.writeBatch(batch)
	if err != nil {
		// The connection may be what failed (PostgreSQL restarted): the
		// next batch starts on a fresh one.
		w.disconnect()
	}
	var unconfirmed *commitError
	switch {
	case errors.As(err, &unconfirmed):
		// The commit itself went wrong (on PostgreSQL: no answer to it in
		// time): it may have been applied, so the sender is not told that
		// nothing was kept. A redelivery is deduplicated either way.
		w.fail(batch, err,
			"Klaxon could not confirm that this request was stored: the database did not answer the commit, so it may have been kept. Sending it again is safe: a redelivery of the same post is deduplicated.",
			"Klaxon could not confirm that the alert was stored; send it again (a redelivery of the same post is deduplicated)")
		return
	case err != nil:
		w.fail(batch, err,
			"Klaxon could not store this request: the database refused the write. Nothing of it was kept; send it again.",
			"Klaxon could not store the alert; try again")
		return
	}
	for _, j := range batch {
		j.done <- struct{}{}
	}
	if err == nil && enqueued && w.opts.OnEnqueue != nil {
		w.opts.OnEnqueue()
	}
	if err == nil && len(accounts) > 0 && w.opts.OnCommit != nil {
		w.opts.OnCommit(accounts)
	}
}

// fail answers jobs with a temporary failure, after writing request-log rows
// that say logMessage (if the database takes them).
func (w *Writer) fail(jobs []*intakeJob, err error, logMessage, answer string) {
	reqs := make([]*IntakeRequest, len(jobs))
	for i, j := range jobs {
		reqs[i] = j.req
	}
	logErr := w.db.LogUnstored(reqs, logMessage)
	for _, j := range jobs {
		j.result = IntakeResult{Outcome: OutcomeFailed, Message: answer, Err: errors.Join(err, logErr)}
		j.done <- struct{}{}
	}
}

// commitError is a failed COMMIT, whose outcome is unknown.
type commitError struct{ err error }

func (e *commitError) Error() string { return "commit: " + e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }

type intakeIntegration struct {
	id, accountID  uint
	defaultUrgency Urgency
	token          string
	enabled        bool
	reply          bool
	siteURL        string
	found          bool
	notify         bool // the account has enabled notification channels
	mask           *tokenMask
}

// batchAlert is an open alert that a batch creates or redelivers to.
type batchAlert struct {
	id       uint
	publicID string
	urgency  Urgency
	title    string
	created  bool // created by this batch (by its job `creator`)
	creator  *intakeJob
	bumps    int // redeliveries in this batch
}

type alertKey struct {
	integrationID uint
	dedupKey      string
}

func (w *Writer) writeBatch(batch []*intakeJob) (accounts []uint, enqueued bool, err error) {
	// The batch may take what is left of its oldest request's time.
	oldest := batch[0].queued
	for _, j := range batch {
		if j.queued.Before(oldest) {
			oldest = j.queued
		}
	}
	ctx, cancel := context.WithDeadline(w.ctx, oldest.Add(w.opts.BatchTimeout))
	defer cancel()
	defer func() {
		if err != nil && ctx.Err() != nil {
			err = fmt.Errorf("the database did not answer within %s (or Klaxon is shutting down): %w", w.opts.BatchTimeout, err)
		}
	}()
	if w.conn == nil {
		if err := w.connect(ctx); err != nil {
			return nil, false, err
		}
	}
	tx, err := w.conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	now := time.Now().UTC()
	b := &batchWriter{w: w, tx: tx, ctx: ctx, now: now}
	if err := b.decide(batch); err != nil {
		return nil, false, err
	}
	if err := b.findOpen(); err != nil {
		return nil, false, err
	}
	b.assign()
	if err := b.insertAlerts(); err != nil {
		return nil, false, err
	}
	if err := b.writeRest(batch); err != nil {
		return nil, false, err
	}
	for _, j := range b.accepted {
		if !containsUint(accounts, j.integ.accountID) {
			accounts = append(accounts, j.integ.accountID)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, false, &commitError{err}
	}
	return accounts, b.enqueued, nil
}

// batchWriter holds one batch's state inside its transaction.
type batchWriter struct {
	w        *Writer
	tx       *sql.Tx
	ctx      context.Context
	now      time.Time
	accepted []*intakeJob // jobs that make or redeliver an alert, in order
	open     map[alertKey]*batchAlert
	fresh    []*batchAlert // alerts to insert, in order
	enqueued bool          // notifications went into the outbox
}

func (b *batchWriter) exec(q string, args ...any) error {
	st, err := b.w.stmt(b.ctx, q)
	if err != nil {
		return err
	}
	_, err = b.tx.StmtContext(b.ctx, st).ExecContext(b.ctx, args...)
	return err
}

func (b *batchWriter) query(q string, args ...any) (*sql.Rows, error) {
	st, err := b.w.stmt(b.ctx, q)
	if err != nil {
		return nil, err
	}
	return b.tx.StmtContext(b.ctx, st).QueryContext(b.ctx, args...)
}

func (b *batchWriter) queryRow(q string, args ...any) *sql.Row {
	st, err := b.w.stmt(b.ctx, q)
	if err != nil {
		return b.tx.QueryRowContext(b.ctx, b.w.db.rebind(q), args...) // reports the same error
	}
	return b.tx.StmtContext(b.ctx, st).QueryRowContext(b.ctx, args...)
}

// decide reads each integration once, fresh inside the transaction (so an
// Edit of its token or a Disable applies to the very next batch), and
// refuses what must be refused.
func (b *batchWriter) decide(batch []*intakeJob) error {
	integrations := map[string]*intakeIntegration{}
	notify := map[uint]bool{}
	for _, j := range batch {
		req := j.req
		integ, ok := integrations[req.IntegrationPublicID]
		if !ok {
			integ = &intakeIntegration{}
			err := b.queryRow(sqlFindIntegration, req.IntegrationPublicID).
				Scan(&integ.id, &integ.accountID, &integ.defaultUrgency, &integ.token, &integ.enabled, &integ.reply, &integ.siteURL)
			switch {
			case err == nil:
				integ.found = true
				integ.mask = newTokenMask(integ.token)
				has, seen := notify[integ.accountID]
				if !seen {
					var n int
					if err := b.queryRow(sqlHasChannels, integ.accountID, true).Scan(&n); err != nil {
						return err
					}
					has = n > 0
					notify[integ.accountID] = has
				}
				integ.notify = has
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
			integrations[req.IntegrationPublicID] = integ
		}
		j.integ = integ
		if !integ.found {
			j.result = IntakeResult{Outcome: OutcomeUnknown, Message: "No integration has this URL. Copy the endpoint URL again from the integration's page in Klaxon."}
			continue
		}
		if integ.mask.request(req) {
			j.prep = prepare(req)
		}
		if res, refused := b.w.refuse(integ, req, b.now); refused {
			j.result = res
			continue
		}
		if j.prep.draft.Urgency == "" {
			j.prep.draft.Urgency = integ.defaultUrgency
		}
		b.accepted = append(b.accepted, j)
	}
	return nil
}

// refuse decides whether req is turned away before it touches any alert.
//
// Requests that would be refused anyway (bad body, disabled integration,
// wrong token) draw on a bucket of their own: a flood of them is answered 429
// once that bucket is empty, and never uses up the bucket of the sender with
// the right token.
func (w *Writer) refuse(integ *intakeIntegration, req *IntakeRequest, now time.Time) (IntakeResult, bool) {
	var res IntakeResult
	switch {
	case req.Refused != "":
		res = IntakeResult{Outcome: req.Refused, Message: req.Message}
	case !integ.enabled:
		res = IntakeResult{Outcome: OutcomeDisabled, Message: "This integration is disabled in Klaxon; enable it on its page to receive alerts again."}
	case req.Draft == nil:
		res = IntakeResult{Outcome: OutcomeInvalid, Message: "The request describes no alert."}
	case integ.token != "" && subtle.ConstantTimeCompare([]byte(integ.token), []byte(req.Token)) != 1:
		msg := "The token does not match the one saved in Klaxon. Copy the token from the Mattermost outgoing webhook into the integration's Token field."
		if req.Token == "" {
			msg = "The request has no token, but this integration requires one."
		}
		res = IntakeResult{Outcome: OutcomeBadToken, Message: msg}
	case req.Draft.Action != "" && req.Draft.Action != ActionOpen:
		res = IntakeResult{Outcome: OutcomeInvalid, Message: "This endpoint opens alerts; it cannot " + string(req.Draft.Action) + " them."}
	default:
		if delay, team := takeWithTeam(w.limiters, w.teamLimiters, integ.id, integ.accountID, now); delay > 0 {
			return IntakeResult{Outcome: OutcomeRateLimited, Message: w.rateMessage(team, "requests"), RetryAfter: delay}, true
		}
		return IntakeResult{}, false
	}
	if delay, team := takeWithTeam(w.refusedLimiters, w.teamRefusedLimiters, integ.id, integ.accountID, now); delay > 0 {
		return IntakeResult{Outcome: OutcomeRateLimited, Message: w.rateMessage(team, "refused requests ("+strings.ToLower(res.Outcome.Label())+")"), RetryAfter: delay}, true
	}
	return res, true
}

// findOpen loads the open alerts of the batch's dedup keys, per
// integration, in chunks.
func (b *batchWriter) findOpen() error {
	b.open = make(map[alertKey]*batchAlert, len(b.accepted))
	keys := map[uint][]string{}
	var order []uint
	seen := map[alertKey]bool{}
	for _, j := range b.accepted {
		k := alertKey{j.integ.id, j.prep.draft.DedupKey}
		if seen[k] {
			continue
		}
		seen[k] = true
		if _, ok := keys[k.integrationID]; !ok {
			order = append(order, k.integrationID)
		}
		keys[k.integrationID] = append(keys[k.integrationID], k.dedupKey)
	}
	for _, integID := range order {
		list := keys[integID]
		for len(list) > 0 {
			n := chunkSize(len(list))
			args := make([]any, 0, 1+n)
			args = append(args, integID)
			for i := range n {
				args = append(args, list[min(i, len(list)-1)]) // pad with the last key
			}
			list = list[min(n, len(list)):]
			rows, err := b.query(findOpenSQL(n), args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				a := &batchAlert{}
				var key string
				if err := rows.Scan(&a.id, &a.publicID, &a.urgency, &a.title, &key); err != nil {
					rows.Close()
					return err
				}
				b.open[alertKey{integID, key}] = a
			}
			if err := errors.Join(rows.Err(), rows.Close()); err != nil {
				return err
			}
		}
	}
	return nil
}

// chunkSize is the largest power of two not above min(n, maxChunk).
func chunkSize(n int) int {
	c := 1
	for c*2 <= n && c*2 <= maxChunk {
		c *= 2
	}
	return c
}

// assign makes each accepted job a new alert or a redelivery of an open
// one, stored or created earlier in this batch.
func (b *batchWriter) assign() {
	for _, j := range b.accepted {
		k := alertKey{j.integ.id, j.prep.draft.DedupKey}
		if a, ok := b.open[k]; ok {
			a.bumps++
			j.alert = a
			continue
		}
		a := &batchAlert{publicID: j.prep.alertPublicID, urgency: j.prep.draft.Urgency, title: j.prep.draft.Title, created: true, creator: j}
		b.open[k] = a
		b.fresh = append(b.fresh, a)
		j.alert = a
	}
}

// insertAlerts inserts the batch's new alerts with multi-row statements.
// A row skipped because another writer opened the same key meanwhile turns
// into a redelivery of that alert.
func (b *batchWriter) insertAlerts() error {
	ids := make(map[string]uint, len(b.fresh))
	for rest := b.fresh; len(rest) > 0; {
		n := chunkSize(len(rest))
		chunk := rest[:n]
		rest = rest[n:]
		args := make([]any, 0, n*13)
		for _, a := range chunk {
			j := a.creator
			d := &j.prep.draft
			data, err := json.Marshal(additionalData(d, j.integ.siteURL))
			if err != nil {
				return err
			}
			args = append(args, a.publicID, j.integ.accountID, j.integ.id, d.Title, d.Description, d.Urgency,
				d.DedupKey, a.bumps, string(data), keptRawRequest(j.req.Body, b.w.opts.RawRequestKeep), len(j.req.Body), j.prep.contentType, b.now)
		}
		rows, err := b.query(rowsSQL(sqlInsertAlerts, rowInsertAlert, n, endInsertAlerts), args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id uint
			var publicID string
			if err := rows.Scan(&id, &publicID); err != nil {
				rows.Close()
				return err
			}
			ids[publicID] = id
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
	}
	for _, a := range b.fresh {
		if id, ok := ids[a.publicID]; ok {
			a.id = id
			continue
		}
		j := a.creator
		if err := b.queryRow(sqlFindOpenAlert, j.integ.id, j.prep.draft.DedupKey).Scan(&a.id, &a.publicID, &a.urgency, &a.title); err != nil {
			return fmt.Errorf("alert %q was neither inserted nor found open: %w", j.prep.draft.DedupKey, err)
		}
		a.created, a.creator = false, nil
		a.bumps++
	}
	return nil
}

// writeRest bumps dedup counts, writes timeline events, notifications and
// request-log rows, and fills in every job's result.
func (b *batchWriter) writeRest(batch []*intakeJob) error {
	var events []any
	bumped := map[*batchAlert]bool{}
	for _, j := range b.accepted {
		a := j.alert
		res := IntakeResult{ReplyInChannel: j.integ.reply, AccountID: j.integ.accountID, AlertPublicID: a.publicID, Urgency: a.urgency, Title: a.title}
		if a.created && a.creator == j {
			res.Outcome, res.Message = OutcomeAccepted, "Alert created."
			events = append(events, a.id, EventCreated, b.now)
			if j.integ.notify {
				repliedIn := ""
				if j.integ.reply {
					repliedIn = j.prep.draft.ReplyChannel
				}
				if err := b.exec(sqlEnqueue, enqueueArgs(a.id, j.integ.accountID, j.integ.id, a.urgency, NotifyOpened, repliedIn, b.now)...); err != nil {
					return err
				}
				b.enqueued = true
			}
		} else {
			res.Outcome, res.Message = OutcomeDeduplicated, "Redelivery of an open alert; its count went up."
			events = append(events, a.id, EventDeduplicated, b.now)
			if !a.created && !bumped[a] {
				bumped[a] = true
				if err := b.exec(sqlBumpDedup, a.bumps, a.id); err != nil {
					return err
				}
			}
		}
		j.result = res
	}
	if err := b.insertMany(sqlInsertEvents, rowInsertEvent, 3, events); err != nil {
		return err
	}
	var logs []any
	for _, j := range batch {
		if j.integ == nil || !j.integ.found {
			continue
		}
		res := &j.result
		body := j.prep.logBody
		if !res.Outcome.OK() {
			body = refusedLogBody(body)
		}
		logs = append(logs, j.integ.id, b.now, j.prep.source, res.Outcome, res.Outcome.Status(),
			truncate(res.Message, 500), res.AlertPublicID, j.prep.contentType, body)
	}
	return b.insertMany(sqlInsertLogs, rowInsertLog, 9, logs)
}

// insertMany inserts rows of width values each from args, in chunks.
func (b *batchWriter) insertMany(head, row string, width int, args []any) error {
	for len(args) > 0 {
		n := chunkSize(len(args) / width)
		if err := b.exec(rowsSQL(head, row, n, ""), args[:n*width]...); err != nil {
			return err
		}
		args = args[n*width:]
	}
	return nil
}

// additionalData is what the alert keeps of d's fields and links, those
// relative to the site URL made absolute (or left out without one).
func additionalData(d *AlertDraft, siteURL string) AdditionalData {
	data := AdditionalData{Fields: d.Fields}
	ig := Integration{SiteURL: siteURL}
	for _, l := range d.Links {
		if u, ok := ig.SiteLink(l.URL); ok {
			data.Links = append(data.Links, DataLink{Label: l.Label, URL: u})
		}
	}
	return data
}

// refusedLogBody is the part of a refused request's body that its log row
// keeps.
func refusedLogBody(body string) string {
	const note = "\n… (cut: the request log keeps the first 2 KiB of a refused request)"
	if len(body) <= MaxRefusedLoggedBody+len(note) {
		return body
	}
	return truncate(body, MaxRefusedLoggedBody) + note
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
