// Package notify posts alert events to Mattermost incoming webhooks. Events
// wait in the database's outbox; a worker delivers them, retrying timeouts
// and server errors with exponential backoff, and logs every attempt.
package notify

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"gorm.io/gorm"

	"klaxon/models"
	"klaxon/web/mattermost"
)

// Worker delivers the outbox.
type Worker struct {
	DB      *models.DB
	Client  *http.Client
	BaseURL string
	// Buttons signs the Acknowledge and Resolve buttons of posts; nil
	// posts none.
	Buttons *mattermost.Signer
	Log     *slog.Logger
	// Poll is how often the outbox is checked when nothing wakes the worker.
	Poll time.Duration
	// MaxAttempts bounds the tries of one post; Backoff gives the wait
	// before try n+1.
	MaxAttempts int
	Backoff     func(attempt int) time.Duration
	// Parallel is how many channels are posted to at once. Each channel's
	// events go out one after the other, in order; a slow or dead webhook
	// holds up only its own channel.
	Parallel int
	// nets is where webhooks may post (see NewClient).
	nets Networks
	wake chan struct{}

	mu       sync.Mutex
	busy     map[uint]bool // channels being posted to
	inFlight sync.WaitGroup
}

// NewWorker returns a worker with sensible defaults: 10 s timeout per post,
// 8 tries, backoff 2 s, 4 s, 8 s… capped at 10 minutes. nets says where
// webhooks may post besides public addresses (see NewClient); this
// machine's own addresses are added to nets.Own.
func NewWorker(db *models.DB, baseURL string, log *slog.Logger, nets Networks) *Worker {
	own, err := HostAddrs()
	if err != nil {
		// Private ones are refused anyway; only a public address of this
		// machine stays reachable.
		log.Warn("notify: cannot list this machine's addresses, so webhooks are not kept from its public ones", "err", err)
	}
	nets.Own = append(nets.Own, own...)
	return &Worker{
		DB: db, BaseURL: baseURL, Log: log, nets: nets,
		Client:      NewClient(nets),
		Poll:        2 * time.Second,
		MaxAttempts: 8,
		Backoff: func(attempt int) time.Duration {
			d := time.Second << min(attempt, 20)
			return min(d, 10*time.Minute)
		},
		Parallel: 4,
		wake:     make(chan struct{}, 1),
	}
}

// Wake makes the worker look at the outbox now.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends. Posts under way when ctx ends are finished
// (within the client's timeout) so that each is recorded exactly once; Run
// returns after them.
func (w *Worker) Run(ctx context.Context) {
	t := time.NewTicker(w.Poll)
	defer t.Stop()
	defer w.inFlight.Wait()
	for {
		w.drain(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.wake:
		}
	}
}

// drain hands the due items to one goroutine per channel, at most Parallel
// at once; a goroutine that finishes wakes the worker for what is left.
func (w *Worker) drain(ctx context.Context) {
	for ctx.Err() == nil {
		w.mu.Lock()
		if w.busy == nil {
			w.busy = map[uint]bool{}
		}
		free := max(w.Parallel, 1) - len(w.busy)
		skip := make([]uint, 0, len(w.busy))
		for id := range w.busy {
			skip = append(skip, id)
		}
		w.mu.Unlock()
		if free <= 0 {
			return
		}
		items, err := w.DB.DueOutbox(ctx, time.Now(), 50, skip)
		if err != nil {
			if ctx.Err() == nil {
				w.Log.Warn("notify: read outbox", "err", err)
			}
			return
		}
		if len(items) == 0 {
			return
		}
		var order []uint
		perChannel := map[uint][]models.OutboxItem{}
		for _, it := range items {
			if _, ok := perChannel[it.ChannelID]; !ok {
				order = append(order, it.ChannelID)
			}
			perChannel[it.ChannelID] = append(perChannel[it.ChannelID], it)
		}
		for _, list := range perChannel {
			// Oldest event first.
			slices.SortFunc(list, func(a, b models.OutboxItem) int { return cmp.Compare(a.ID, b.ID) })
		}
		for _, id := range order[:min(free, len(order))] {
			w.mu.Lock()
			w.busy[id] = true
			w.mu.Unlock()
			w.inFlight.Add(1)
			go w.deliverAll(ctx, id, perChannel[id])
		}
	}
}

// deliverAll posts one channel's items in order, at most maxPerRun of them
// (then the channel goes back in line behind the others), and stops at an
// item that stays pending: what follows it waits for its retry.
func (w *Worker) deliverAll(ctx context.Context, channelID uint, items []models.OutboxItem) {
	defer w.inFlight.Done()
	for i := range items[:min(len(items), maxPerRun)] {
		if ctx.Err() != nil || !w.deliver(&items[i]) {
			break
		}
	}
	w.mu.Lock()
	delete(w.busy, channelID)
	w.mu.Unlock()
	w.Wake()
}

// maxPerRun is how many posts one channel makes before the others get a turn.
const maxPerRun = 10

// deliver makes one attempt at one item and reports whether the item is
// done with (posted, or given up), so that the channel's next may go. It
// runs on a context of its own so that shutting down does not cut a post in
// half.
func (w *Worker) deliver(item *models.OutboxItem) bool {
	ctx := context.Background()
	now := time.Now()
	ok, err := w.DB.ClaimOutbox(ctx, item, now, now.Add(w.Client.Timeout+30*time.Second))
	if err != nil || !ok {
		return false
	}
	ch, alert, err := w.DB.OutboxTarget(ctx, item)
	if errors.Is(err, gorm.ErrRecordNotFound) {
		// The alert or channel is gone: nothing to post, ever.
		w.record(ctx, item, models.Delivery{ChannelID: item.ChannelID, OutboxID: item.ID, Event: item.Event, Attempt: item.Attempts + 1, Error: "nothing to post: the alert or the channel was deleted"}, models.OutboxFailed, now)
		return true
	}
	if err != nil {
		// A passing database error: the claim runs out and it is tried again.
		w.Log.Warn("notify: load outbox item", "err", err, "item", item.ID)
		return false
	}
	del, hopeless := w.post(ctx, ch, mattermost.AlertPost(alert, item.Event, w.BaseURL, w.Buttons, ch.PublicID), alert.PublicID, item.Event)
	del.OutboxID = item.ID
	del.Attempt = item.Attempts + 1
	state, retryAt := models.OutboxDelivered, now
	switch {
	case del.Status >= 200 && del.Status < 300:
	case del.Status >= 400 && del.Status < 500:
		state = models.OutboxFailed // Mattermost refused it; trying again will not help
	case hopeless:
		state = models.OutboxFailed
	case del.Attempt >= w.MaxAttempts:
		state = models.OutboxFailed
	default:
		state, retryAt = models.OutboxPending, now.Add(w.Backoff(del.Attempt))
	}
	w.record(ctx, item, del, state, retryAt)
	w.Log.Info("notify: posted", "channel", ch.PublicID, "alert", alert.PublicID, "event", item.Event, "status", del.Status, "attempt", del.Attempt, "state", state)
	return state != models.OutboxPending
}

// record stores an attempt. Should that fail, the item still moves on, so
// that a post is never repeated because its log row could not be written.
func (w *Worker) record(ctx context.Context, item *models.OutboxItem, del models.Delivery, state string, retryAt time.Time) {
	err := w.DB.FinishAttempt(ctx, item, del, state, retryAt)
	if err == nil {
		return
	}
	if errors.Is(err, models.ErrClaimLost) {
		w.Log.Warn("notify: attempt recorded late: the claim ran out and another worker took the item", "item", item.ID)
		return
	}
	w.Log.Error("notify: record attempt", "err", err, "item", item.ID)
	del.Excerpt, del.Error = "", "(the attempt could not be logged)"
	if err := w.DB.FinishAttempt(ctx, item, del, state, retryAt); err != nil {
		w.Log.Error("notify: record attempt without details", "err", err, "item", item.ID)
	}
}

// CheckWebhook says whether Klaxon would refuse to post to rawURL's host
// (see Networks.CheckWebhook).
func (w *Worker) CheckWebhook(ctx context.Context, rawURL string) error {
	return w.nets.CheckWebhook(ctx, rawURL)
}

// PostTest sends ch's test message, on behalf of by. It does not touch
// the outbox.
func (w *Worker) PostTest(ctx context.Context, ch *models.NotificationChannel, by string) models.Delivery {
	del, _ := w.post(ctx, ch, mattermost.TestPost(ch.Name, by, time.Now()), "", "test")
	return del
}

// post sends one message to ch and describes what happened; it also says
// whether a failure is one that trying again cannot mend: a URL that
// cannot be requested, or an address the client refuses (only the
// operator's settings and a restart change that).
func (w *Worker) post(ctx context.Context, ch *models.NotificationChannel, msg mattermost.Message, alertPublicID, event string) (del models.Delivery, hopeless bool) {
	del = models.Delivery{ChannelID: ch.ID, AlertPublicID: alertPublicID, Event: event, Attempt: 1}
	body, err := json.Marshal(msg)
	if err != nil {
		del.Error = err.Error()
		return del, false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ch.WebhookURL, bytes.NewReader(body))
	if err != nil {
		del.Error = "bad webhook URL"
		return del, true
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Klaxon")
	resp, err := w.Client.Do(req)
	if err != nil {
		var refused *RefusedError
		del.Error = postError(err, ch.WebhookURL)
		return del, errors.As(err, &refused)
	}
	defer resp.Body.Close()
	del.Status = resp.StatusCode
	del.Excerpt = excerpt(resp)
	return del, false
}

// maxAnswer is how much of an answer is read: Mattermost's own answers are
// far shorter.
const maxAnswer = 4 << 10

// excerpt shows Mattermost's own answers, its plain "ok" or the message of
// its JSON error, and only describes anything else (type and size), so that
// a webhook URL pointed at another service cannot be used to read it.
func excerpt(resp *http.Response) string {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if string(body) == "ok" {
		return "ok"
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if msg, ok := appErrorMessage(mt, body, resp.StatusCode); ok {
		return msg
	}
	if len(body) > maxAnswer {
		return fmt.Sprintf("(%s answer of more than %d bytes, not shown)", withArticle(orUnknown(mt)), maxAnswer)
	}
	return fmt.Sprintf("(%s answer of %d bytes, not shown)", withArticle(orUnknown(mt)), len(body))
}

// appError is Mattermost's JSON error (model.AppError as it is sent).
type appError struct {
	ID            *string `json:"id"`
	Message       *string `json:"message"`
	DetailedError string  `json:"detailed_error"`
	RequestID     string  `json:"request_id"`
	StatusCode    int     `json:"status_code"`
	IsOAuth       bool    `json:"is_oauth"`
}

// maxMessage bounds the error message shown, in characters.
const maxMessage = 200

// appErrorMessage returns the message of body if it has exactly the shape
// of Mattermost's JSON error: only its fields, "id" and a non-empty
// "message" present, and a status code, if any, that matches the answer's.
// Older Mattermost versions send it without a JSON content type, which Go
// then sniffs as text/plain. Only the message is shown: detailed_error
// may hold internals.
func appErrorMessage(mediaType string, body []byte, status int) (string, bool) {
	if mediaType != "application/json" && mediaType != "text/plain" && mediaType != "" {
		return "", false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var e appError
	if dec.Decode(&e) != nil || dec.Decode(&struct{}{}) != io.EOF {
		return "", false
	}
	if e.ID == nil || e.Message == nil || (e.StatusCode != 0 && e.StatusCode != status) {
		return "", false
	}
	msg := strings.Join(strings.FieldsFunc(models.CleanText(*e.Message), isSpaceOrControl), " ")
	if msg == "" {
		return "", false
	}
	if r := []rune(msg); len(r) > maxMessage {
		msg = string(r[:maxMessage-1]) + "…"
	}
	return msg, true
}

func isSpaceOrControl(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }

func orUnknown(s string) string {
	if s == "" {
		return "untyped"
	}
	return s
}

func withArticle(s string) string {
	if s != "" && strings.ContainsRune("aeiou", rune(s[0])) {
		return "an " + s
	}
	return "a " + s
}

// postError describes a failed post for the delivery log and the test
// message page: a refusal by the client as it is, a timeout in words, and
// anything else with the webhook's secret taken out.
func postError(err error, webhook string) string {
	var refused *RefusedError
	if errors.As(err, &refused) {
		return refused.Error()
	}
	var uerr interface{ Timeout() bool }
	if errors.As(err, &uerr) && uerr.Timeout() {
		return "timed out waiting for Mattermost"
	}
	return notHTTP.ReplaceAllString(redactURLError(err.Error(), webhook), "an answer that is not HTTP (not shown)")
}

// notHTTP matches what net/http says of an answer that is not HTTP: it
// quotes the answer's first line, which could be read back like a body.
var notHTTP = regexp.MustCompile(`malformed (HTTP|MIME header)[^"]*"(?:[^"\\]|\\.)*"`)

// redactURLError keeps the webhook's secret out of an error text. Go's
// errors do not print the URL as it was stored but as url.Parse made it
// (scheme in lower case, characters escaped, the password as ***), so
// every spelling Klaxon can derive is replaced, and then the secret path
// segment itself wherever it is left.
func redactURLError(msg, webhook string) string {
	const mark = "(webhook URL)"
	spellings := []string{webhook}
	u, err := url.Parse(webhook)
	if err == nil {
		spellings = append(spellings, u.String(), u.Redacted())
		if _, ok := u.User.Password(); ok {
			// net/http's own spelling (stripPassword in client.go).
			spellings = append(spellings, strings.Replace(u.String(), u.User.String()+"@", u.User.Username()+":***@", 1))
		}
	}
	for _, s := range spellings {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, mark)
		}
	}
	if err != nil {
		return msg
	}
	for _, secret := range models.WebhookSecrets(u) {
		msg = strings.ReplaceAll(msg, secret, "(webhook secret)")
	}
	return msg
}
