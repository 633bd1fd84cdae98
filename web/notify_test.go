package web_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"klaxon/models"
	"klaxon/web"
	"klaxon/web/mattermost"
	"klaxon/web/notify"
	"klaxon/web/webtest"
)

// fakeMattermost is an incoming webhook that records what it receives and
// answers with what respond returns.
type fakeMattermost struct {
	*httptest.Server
	mu       sync.Mutex
	received []mattermost.Message
	respond  func(n int) (int, time.Duration)
}

func newFakeMattermost(t *testing.T, respond func(n int) (int, time.Duration)) *fakeMattermost {
	f := &fakeMattermost{respond: respond}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var m mattermost.Message
		if r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &m) != nil {
			t.Errorf("webhook got %q: %s", r.Header.Get("Content-Type"), body)
		}
		f.mu.Lock()
		f.received = append(f.received, m)
		n := len(f.received)
		f.mu.Unlock()
		status, delay := http.StatusOK, time.Duration(0)
		if f.respond != nil {
			status, delay = f.respond(n)
		}
		time.Sleep(delay)
		w.WriteHeader(status)
		io.WriteString(w, "ok") // as Mattermost answers
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeMattermost) messages() []mattermost.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]mattermost.Message(nil), f.received...)
}

// eventually polls until cond holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func createChannel(t *testing.T, cl *webtest.Client, form url.Values) string {
	t.Helper()
	p := cl.Submit("/channels/new", "/channels", form)
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/channels/chn_") {
		t.Fatalf("create channel: %d → %q\n%s", p.Status, p.Location, p.Body)
	}
	return strings.TrimPrefix(p.Location, "/channels/")
}

func field(a mattermost.Attachment, title string) string {
	for _, f := range a.Fields {
		if f.Title == title {
			return f.Value
		}
	}
	return ""
}

func TestNotificationPayloadPerEvent(t *testing.T) {
	srv, cl := signedIn(t)
	mm := newFakeMattermost(t, nil)
	id := cl.CreateIntegration("Mattermost #ops", models.UrgencyLow)
	createChannel(t, cl, url.Values{"name": {"#ops"}, "webhook_url": {mm.URL + "/hooks/abc123secret"}, "events": {"opened", "acknowledged", "resolved"}})

	body := `{"text":"outage critical db-1 down\nsecond line","post_id":"n1","channel_name":"town-square","user_name":"joe"}`
	status, raw := webtest.Intake(t, srv.URL, id, "application/json", body)
	if status != 200 {
		t.Fatalf("%d %s", status, raw)
	}
	eventually(t, 10*time.Second, "the opened post", func() bool { return len(mm.messages()) == 1 })
	var alert models.Alert
	srv.DB().First(&alert)
	cl.Submit("/alerts/"+alert.PublicID, "/alerts/"+alert.PublicID+"/acknowledge", nil)
	eventually(t, 10*time.Second, "the acknowledged post", func() bool { return len(mm.messages()) == 2 })
	cl.Submit("/alerts/"+alert.PublicID, "/alerts/"+alert.PublicID+"/resolve", nil)
	eventually(t, 10*time.Second, "the resolved post", func() bool { return len(mm.messages()) == 3 })

	for i, want := range []struct{ status, color, ackBy, resBy string }{
		{"open", "#ff5252", "", ""},
		{"acknowledged", "#fb8c00", "ops@example.com", ""},
		{"resolved", "#4caf50", "ops@example.com", "ops@example.com"},
	} {
		m := mm.messages()[i]
		if m.Username != "Klaxon" || len(m.Attachments) != 1 {
			t.Fatalf("message %d: %+v", i, m)
		}
		a := m.Attachments[0]
		if a.Color != want.color || a.Title != alert.PublicID+": outage critical db-1 down" || a.TitleLink != srv.URL+"/alerts/"+alert.PublicID {
			t.Errorf("message %d: color %q title %q link %q", i, a.Color, a.Title, a.TitleLink)
		}
		if a.Text != "outage critical db-1 down\nsecond line" {
			t.Errorf("message %d: text %q, want the description", i, a.Text)
		}
		created := field(a, "Created")
		if _, err := time.Parse(time.RFC3339, created); err != nil {
			t.Errorf("message %d: Created %q is not ISO 8601", i, created)
		}
		if field(a, "Status") != want.status || field(a, "Urgency") != "critical" || field(a, "Source") != "Mattermost #ops" ||
			field(a, "Acknowledged by") != want.ackBy || field(a, "Resolved by") != want.resBy {
			t.Errorf("message %d: fields %+v", i, a.Fields)
		}
	}
	// The delivery log on the channel's page.
	var ch models.NotificationChannel
	srv.DB().First(&ch)
	eventually(t, 5*time.Second, "three delivery-log rows", func() bool {
		var n int64
		srv.DB().Model(&models.Delivery{}).Count(&n)
		return n == 3
	})
	page := cl.Get("/channels/" + ch.PublicID)
	rows := page.Doc.Find(`[data-testid="delivery-row"]`)
	if rows.Length() != 3 || !strings.Contains(rows.Text(), "200") {
		t.Errorf("delivery log: %q", rows.Text())
	}
	rows.Each(func(i int, row *goquery.Selection) {
		if answer := strings.TrimSpace(row.Find("td").Last().Text()); answer != "ok" {
			t.Errorf("delivery-log row %d shows the answer %q, want Mattermost's ok", i, answer)
		}
	})
	if strings.Contains(page.Body, "abc123secret") {
		t.Errorf("the channel page shows the webhook's secret path")
	}
}

func TestNotificationFilters(t *testing.T) {
	srv, cl := signedIn(t)
	critical := newFakeMattermost(t, nil)
	resolvedB := newFakeMattermost(t, nil)
	sameChannel := newFakeMattermost(t, nil)
	a := cl.CreateIntegration("A", models.UrgencyLow) // replies in channel
	b := cl.CreateIntegration("B", models.UrgencyLow)
	var bID uint
	srv.DB().Model(&models.Integration{}).Where("public_id = ?", b).Pluck("id", &bID)
	createChannel(t, cl, url.Values{"name": {"critical only"}, "webhook_url": {critical.URL}, "events": {"opened"}, "urgencies": {"critical"}})
	createChannel(t, cl, url.Values{"name": {"B resolved"}, "webhook_url": {resolvedB.URL}, "events": {"resolved"}, "integrations": {itoa(bID)}})
	createChannel(t, cl, url.Values{"name": {"ops"}, "webhook_url": {sameChannel.URL}, "events": {"opened"}, "mattermost_channel": {"ops"}})

	send := func(integ, post, text, channel string) string {
		body, _ := json.Marshal(map[string]string{"text": text, "post_id": post, "channel_name": channel})
		status, raw := webtest.Intake(t, srv.URL, integ, "application/json", string(body))
		if status != 200 {
			t.Fatalf("%d %s", status, raw)
		}
		var ans struct {
			AlertID string `json:"alert_id"`
		}
		json.Unmarshal([]byte(raw), &ans)
		return ans.AlertID
	}
	send(a, "f1", "outage critical api", "ops")      // critical: yes; ops: replied there already, so no
	send(a, "f2", "outage low disk", "other")        // critical: no; ops: yes (replied elsewhere)
	b1 := send(b, "f3", "outage critical db", "ops") // critical: yes; ops: no (A… no: B replies too)
	a2 := send(a, "f4", "outage high cpu", "ops")
	cl.Submit("/alerts/"+b1, "/alerts/"+b1+"/resolve", nil)
	cl.Submit("/alerts/"+a2, "/alerts/"+a2+"/resolve", nil)

	eventually(t, 10*time.Second, "posts", func() bool {
		return len(critical.messages()) >= 2 && len(resolvedB.messages()) >= 1 && len(sameChannel.messages()) >= 1
	})
	time.Sleep(2500 * time.Millisecond) // anything wrongly queued would be posted by now
	titles := func(f *fakeMattermost) []string {
		var out []string
		for _, m := range f.messages() {
			out = append(out, m.Attachments[0].Pretext+": "+strings.SplitN(m.Attachments[0].Title, ": ", 2)[1])
		}
		return out
	}
	if got := titles(critical); strings.Join(got, "|") != "Alert opened: outage critical api|Alert opened: outage critical db" {
		t.Errorf("critical channel got %v", got)
	}
	if got := titles(resolvedB); strings.Join(got, "|") != "Alert resolved: outage critical db" {
		t.Errorf("B-resolved channel got %v", got)
	}
	if got := titles(sameChannel); strings.Join(got, "|") != "Alert opened: outage low disk" {
		t.Errorf("the ops channel got %v: an alert Klaxon already answered in ~ops must not be posted there again", got)
	}
}

// flakyChannel signs a team up with one integration and one channel whose
// webhook answers 503 once, then 200.
func flakyChannel(t *testing.T) (*webtest.Server, *fakeMattermost, string) {
	t.Helper()
	srv, cl := signedIn(t)
	mm := newFakeMattermost(t, func(n int) (int, time.Duration) {
		if n == 1 {
			return http.StatusServiceUnavailable, 0
		}
		return http.StatusOK, 0
	})
	id := cl.CreateIntegration("A", models.UrgencyLow)
	createChannel(t, cl, url.Values{"name": {"flaky"}, "webhook_url": {mm.URL}, "events": {"opened"}})
	return srv, mm, id
}

func TestNotificationRetries(t *testing.T) {
	t.Run("503 then success", func(t *testing.T) {
		srv, mm, id := flakyChannel(t)
		webtest.Intake(t, srv.URL, id, "application/json", `{"text":"outage retry","post_id":"r1"}`)
		eventually(t, 15*time.Second, "the retry", func() bool { return len(mm.messages()) == 2 })
		var item models.OutboxItem
		eventually(t, 5*time.Second, "the outbox to settle", func() bool {
			srv.DB().First(&item)
			return item.State == models.OutboxDelivered
		})
		var dels []models.Delivery
		srv.DB().Order("id").Find(&dels)
		if item.Attempts != 2 || len(dels) != 2 || dels[0].Status != 503 || dels[1].Status != 200 {
			t.Errorf("attempts %d, deliveries %+v", item.Attempts, dels)
		}
		if dels[1].CreatedAt.Sub(dels[0].CreatedAt) < time.Second {
			t.Errorf("retried after %v: no backoff", dels[1].CreatedAt.Sub(dels[0].CreatedAt))
		}
	})
	t.Run("later events wait for a retried one", func(t *testing.T) {
		srv, mm, id := flakyChannel(t)
		webtest.Intake(t, srv.URL, id, "application/json", `{"text":"outage first","post_id":"q1"}`)
		eventually(t, 5*time.Second, "the first attempt", func() bool { return len(mm.messages()) == 1 })
		webtest.Intake(t, srv.URL, id, "application/json", `{"text":"outage second","post_id":"q2"}`)
		eventually(t, 15*time.Second, "the retry and the second post", func() bool { return len(mm.messages()) == 3 })
		var titles []string
		for _, m := range mm.messages() {
			titles = append(titles, m.Attachments[0].Title[strings.Index(m.Attachments[0].Title, ": ")+2:])
		}
		if want := []string{"outage first", "outage first", "outage second"}; strings.Join(titles, "|") != strings.Join(want, "|") {
			t.Errorf("posts in the order %q, want %q (the second waits for the first's retry)", titles, want)
		}
	})
	t.Run("400 is not retried", func(t *testing.T) {
		srv, cl := signedIn(t)
		mm := newFakeMattermost(t, func(int) (int, time.Duration) { return http.StatusBadRequest, 0 })
		id := cl.CreateIntegration("A", models.UrgencyLow)
		createChannel(t, cl, url.Values{"name": {"broken"}, "webhook_url": {mm.URL}, "events": {"opened"}})
		webtest.Intake(t, srv.URL, id, "application/json", `{"text":"outage refused","post_id":"r2"}`)
		eventually(t, 10*time.Second, "the first attempt", func() bool { return len(mm.messages()) == 1 })
		time.Sleep(4 * time.Second) // two backoff periods
		var item models.OutboxItem
		srv.DB().First(&item)
		if len(mm.messages()) != 1 || item.State != models.OutboxFailed || item.Attempts != 1 {
			t.Errorf("after a 400: %d posts, item %+v", len(mm.messages()), item)
		}
	})
}

// The worker stopped with posts pending, started again (twice), delivers
// each exactly once.
func TestNotificationWorkerRestart(t *testing.T) {
	db := webtest.OpenDB(t, webtest.SQLiteURL(t))
	ctx := context.Background()
	mm := newFakeMattermost(t, nil)
	_, integ := teamWithChannel(t, db, mm.URL, "opened")
	w, err := models.NewWriter(db, models.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 25
	for i := 0; i < n; i++ {
		d := &models.AlertDraft{Title: "outage " + itoa(uint(i)), DedupKey: "w" + itoa(uint(i))}
		res, err := w.Submit(ctx, &models.IntakeRequest{IntegrationPublicID: integ.PublicID, Draft: d})
		if err != nil || res.Outcome != models.OutcomeAccepted {
			t.Fatalf("submit: %v %+v", err, res)
		}
	}
	w.Close()
	var pending int64
	db.Model(&models.OutboxItem{}).Where("state = ?", models.OutboxPending).Count(&pending)
	if pending != n || len(mm.messages()) != 0 {
		t.Fatalf("%d pending, %d posted before any worker ran", pending, len(mm.messages()))
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for run := 0; run < 2; run++ {
		worker := notify.NewWorker(db, "http://klaxon.test", log, notify.Networks{AllowLoopback: true})
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { worker.Run(runCtx); close(done) }()
		if run == 0 {
			eventually(t, 15*time.Second, "all posts", func() bool { return len(mm.messages()) >= n })
		} else {
			time.Sleep(500 * time.Millisecond)
		}
		stop()
		<-done
	}
	seen := map[string]int{}
	for _, m := range mm.messages() {
		seen[m.Attachments[0].Title]++
	}
	if len(mm.messages()) != n || len(seen) != n {
		t.Errorf("%d posts for %d distinct alerts, want %d each once", len(mm.messages()), len(seen), n)
	}
	db.Model(&models.OutboxItem{}).Where("state = ?", models.OutboxDelivered).Count(&pending)
	if pending != n {
		t.Errorf("%d delivered outbox items, want %d", pending, n)
	}
}

// Intake answers at its own speed however slow Mattermost's webhook is.
func TestSlowMattermostDoesNotSlowIntake(t *testing.T) {
	srv, cl := signedIn(t)
	mm := newFakeMattermost(t, func(int) (int, time.Duration) { return http.StatusOK, 2 * time.Second })
	id := cl.CreateIntegration("A", models.UrgencyLow)
	createChannel(t, cl, url.Values{"name": {"slow"}, "webhook_url": {mm.URL}, "events": {"opened"}})
	var worst time.Duration
	for i := 0; i < 10; i++ {
		start := time.Now()
		status, _ := webtest.Intake(t, srv.URL, id, "application/json", `{"text":"outage slow `+itoa(uint(i))+`","post_id":"s`+itoa(uint(i))+`"}`)
		if status != 200 {
			t.Fatalf("intake %d", status)
		}
		worst = max(worst, time.Since(start))
	}
	if worst > time.Second {
		t.Errorf("slowest intake took %v while Mattermost takes 2 s per post", worst)
	}
	if n := len(mm.messages()); n > 2 {
		t.Errorf("%d posts done already: the webhook should still be busy", n)
	}
}

// A slow webhook holds up only its own channel: another channel's posts go
// out meanwhile, each channel's in the order of its events.
func TestSlowChannelDoesNotHoldOthers(t *testing.T) {
	srv, cl := signedIn(t)
	slow := newFakeMattermost(t, func(int) (int, time.Duration) { return http.StatusOK, 5 * time.Second })
	fast := newFakeMattermost(t, nil)
	id := cl.CreateIntegration("A", models.UrgencyLow)
	createChannel(t, cl, url.Values{"name": {"slow"}, "webhook_url": {slow.URL}, "events": {"opened"}})
	createChannel(t, cl, url.Values{"name": {"fast"}, "webhook_url": {fast.URL}, "events": {"opened"}})
	start := time.Now()
	for i := 0; i < 3; i++ {
		if status, _ := webtest.Intake(t, srv.URL, id, "application/json", `{"text":"outage order `+itoa(uint(i))+`","post_id":"o`+itoa(uint(i))+`"}`); status != 200 {
			t.Fatalf("intake %d", status)
		}
	}
	eventually(t, 4*time.Second, "the fast channel's three posts while the slow one is still busy", func() bool { return len(fast.messages()) == 3 })
	if n := len(slow.messages()); n > 1 || time.Since(start) > 5*time.Second {
		t.Fatalf("the slow channel has %d posts after %v: the test did not overlap them", n, time.Since(start))
	}
	for i, m := range fast.messages() {
		if want := "outage order " + itoa(uint(i)); !strings.HasSuffix(m.Attachments[0].Title, want) {
			t.Errorf("fast channel post %d is %q, want the alert %q (events in order)", i, m.Attachments[0].Title, want)
		}
	}
}

func TestChannelPages(t *testing.T) {
	srv, cl := signedIn(t)
	if p := cl.Get("/channels"); p.Doc.Find(".empty").Length() != 1 {
		t.Errorf("no empty state on the channel list")
	}
	bad := cl.Submit("/channels/new", "/channels", url.Values{"name": {""}, "webhook_url": {"not a url"}})
	if bad.Status != 422 || bad.Text("#err-name") == "" || bad.Text("#err-webhook_url") == "" || bad.Text("#err-events") == "" {
		t.Errorf("validation: %d %q %q %q", bad.Status, bad.Text("#err-name"), bad.Text("#err-webhook_url"), bad.Text("#err-events"))
	}
	ok := newFakeMattermost(t, nil)
	id := createChannel(t, cl, url.Values{"name": {"ops"}, "webhook_url": {ok.URL + "/hooks/secretsecret"}, "events": {"opened", "resolved"}})
	p := cl.Submit("/channels/"+id, "/channels/"+id+"/test", nil)
	if msg := cl.Get(p.Location).Text(".flash-success"); !strings.Contains(msg, "posted") || len(ok.messages()) != 1 {
		t.Fatalf("test message: %q, %d posts", msg, len(ok.messages()))
	}
	// The test message says what it is and links to no alert (there is none).
	test := ok.messages()[0].Attachments[0]
	if test.TitleLink != "" || test.Pretext != "Test message" || !strings.Contains(test.Text, "ops@example.com") ||
		strings.Contains(test.Fallback, "  ") || !strings.Contains(test.Fallback, "test message") || strings.Contains(test.Title+test.Text, "alt_") {
		t.Errorf("test message card: %+v", test)
	}
	// Edit with a blank URL keeps it; the new URL replaces it.
	down := newFakeMattermost(t, func(int) (int, time.Duration) { return http.StatusNotFound, 0 })
	edit := cl.Get("/channels/" + id + "/edit")
	cl.Post("/channels/"+id, url.Values{"_csrf": {edit.CSRF()}, "name": {"ops renamed"}, "webhook_url": {""}, "events": {"resolved"}})
	var ch models.NotificationChannel
	srv.DB().Where("public_id = ?", id).First(&ch)
	if ch.Name != "ops renamed" || ch.WebhookURL != ok.URL+"/hooks/secretsecret" || ch.Events != ",resolved," {
		t.Errorf("after edit: %+v", ch)
	}
	cl.Post("/channels/"+id, url.Values{"_csrf": {edit.CSRF()}, "name": {"ops"}, "webhook_url": {down.URL}, "events": {"resolved"}})
	p = cl.Submit("/channels/"+id, "/channels/"+id+"/test", nil)
	if msg := cl.Get(p.Location).Text(".flash-error"); !strings.Contains(msg, "404") {
		t.Errorf("failed test message: %q", msg)
	}
	// Another team cannot see or change it.
	other := srv.NewClient()
	other.SignUp("Other", "other@example.com", password)
	for _, path := range []string{"/channels/" + id, "/channels/" + id + "/edit", "/channels/" + id + "/delete"} {
		if p := other.Get(path); p.Status != http.StatusNotFound {
			t.Errorf("other team GET %s: %d", path, p.Status)
		}
	}
	for _, path := range []string{"/channels/" + id, "/channels/" + id + "/test", "/channels/" + id + "/disable", "/channels/" + id + "/delete"} {
		if p := other.Submit("/channels", path, url.Values{"name": {"x"}, "events": {"opened"}}); p.Status != http.StatusNotFound {
			t.Errorf("other team POST %s: %d", path, p.Status)
		}
	}
	// Disable, then delete after confirming.
	cl.Submit("/channels/"+id, "/channels/"+id+"/disable", nil)
	srv.DB().Where("public_id = ?", id).First(&ch)
	if ch.Enabled {
		t.Errorf("not disabled")
	}
	confirm := cl.Get("/channels/" + id + "/delete")
	if p := cl.Post("/channels/"+id+"/delete", url.Values{"_csrf": {confirm.CSRF()}}); p.Location != "/channels" {
		t.Errorf("delete → %q", p.Location)
	}
	var n int64
	srv.DB().Model(&models.NotificationChannel{}).Count(&n)
	if n != 0 {
		t.Errorf("channel not deleted")
	}
}

// By default a channel cannot post to a private or loopback address (here
// the fake Mattermost on 127.0.0.1): the test message says so and how the
// operator allows it, and nothing arrives. -webhook-networks opens it.
func TestWebhookNetworks(t *testing.T) {
	mm := newFakeMattermost(t, nil)
	refused := webtest.Start(t, func(c *web.Config) { c.WebhookAllowLoopback = false })
	cl := refused.NewClient()
	cl.SignUp("Ops", "ops@example.com", password)
	form := url.Values{"name": {"ops"}, "webhook_url": {mm.URL + "/hooks/abcdefghijklmnop"}, "events": {"opened"}}
	if p := cl.Submit("/channels/new", "/channels", form); p.Status != http.StatusUnprocessableEntity || !strings.Contains(p.Text("#err-webhook_url"), "loopback") {
		t.Errorf("saving a loopback webhook: %d %q, want 422", p.Status, p.Text("#err-webhook_url"))
	}
	// A channel saved before (an upgrade, or a name that resolved
	// elsewhere then) is refused when it posts.
	var u models.User
	if err := refused.DB().Where("email = ?", "ops@example.com").First(&u).Error; err != nil {
		t.Fatal(err)
	}
	ch, err := refused.DB().CreateChannel(context.Background(), u.AccountID, models.ChannelInput{Name: "ops", WebhookURL: mm.URL + "/hooks/abcdefghijklmnop", Events: []string{models.NotifyOpened}})
	if err != nil {
		t.Fatal(err)
	}
	id := ch.PublicID
	p := cl.Submit("/channels/"+id, "/channels/"+id+"/test", nil)
	page := cl.Get(p.Location)
	msg := page.Text(".flash-error")
	if !strings.Contains(msg, "refused: the webhook's host is at a loopback address") || !strings.Contains(msg, "KLAXON_WEBHOOK_NETWORKS") {
		t.Errorf("test message to loopback: %q, want the refusal and how to allow it", msg)
	}
	if row := page.Text(`[data-testid="delivery-row"]`); !strings.Contains(row, "KLAXON_WEBHOOK_NETWORKS") || strings.Contains(page.Body, "abcdefghijklmnop") {
		t.Errorf("delivery log: %q", row)
	}
	// An alert's post is refused too, and not tried again: only a new
	// setting could change the answer.
	integ := cl.CreateIntegration("A", models.UrgencyLow)
	if status, raw := webtest.Intake(t, refused.URL, integ, "application/json", `{"text":"outage refused","post_id":"s1"}`); status != 200 {
		t.Fatalf("intake: %d %s", status, raw)
	}
	var item models.OutboxItem
	eventually(t, 10*time.Second, "the refused post to be given up", func() bool {
		return refused.DB().First(&item).Error == nil && item.State == models.OutboxFailed
	})
	if item.Attempts != 1 {
		t.Errorf("the refused post was tried %d times", item.Attempts)
	}
	if n := len(mm.messages()); n != 0 {
		t.Fatalf("%d posts arrived at a loopback address", n)
	}

	allowed := webtest.Start(t, func(c *web.Config) {
		c.WebhookAllowLoopback = false
		c.WebhookNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	cl = allowed.NewClient()
	cl.SignUp("Ops", "ops@example.com", password)
	id = createChannel(t, cl, url.Values{"name": {"ops"}, "webhook_url": {mm.URL + "/hooks/abcdefghijklmnop"}, "events": {"opened"}})
	p = cl.Submit("/channels/"+id, "/channels/"+id+"/test", nil)
	if msg := cl.Get(p.Location).Text(".flash-success"); !strings.Contains(msg, "posted") || len(mm.messages()) != 1 {
		t.Errorf("with -webhook-networks 127.0.0.0/8: %q, %d posts", msg, len(mm.messages()))
	}
}

// A webhook URL pointed at another service does not show its answer;
// Mattermost's own error message is shown.
func TestTestMessageShowsOnlyMattermostAnswers(t *testing.T) {
	_, cl := signedIn(t)
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"bad request","db_password":"hunter2"}`)
	}))
	t.Cleanup(internal.Close)
	mattermost := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"id":"web.incoming_webhook.invalid.app_error","message":"Invalid webhook.","detailed_error":"","request_id":"8xq3","status_code":400}`)
	}))
	t.Cleanup(mattermost.Close)
	for _, tt := range []struct{ url, want string }{
		{internal.URL, "Mattermost answered 400: (an application/json answer of 47 bytes, not shown)"},
		{mattermost.URL + "/hooks/abcdefghijklmnop", "Mattermost answered 400: Invalid webhook."},
	} {
		id := createChannel(t, cl, url.Values{"name": {"x"}, "webhook_url": {tt.url}, "events": {"opened"}})
		p := cl.Get(cl.Submit("/channels/"+id, "/channels/"+id+"/test", nil).Location)
		if msg := p.Text(".flash-error"); !strings.HasSuffix(msg, tt.want) {
			t.Errorf("%s: %q, want it to end in %q", tt.url, msg, tt.want)
		}
		if strings.Contains(p.Body, "hunter2") {
			t.Errorf("%s: the page shows the other service's answer", tt.url)
		}
	}
}

// Saving a channel whose webhook Klaxon would refuse to post to says so on
// the form, instead of letting the first alert's post fail later; a public
// address, or one the operator's -webhook-networks allows, saves.
func TestChannelFormRefusesWebhooksKlaxonWillNotPost(t *testing.T) {
	srv, cl := signedIn(t)
	refused := cl.Submit("/channels/new", "/channels", url.Values{"name": {"ops"}, "webhook_url": {"http://10.1.2.3/hooks/secretsecret"}, "events": {"opened"}})
	if msg := refused.Text("#err-webhook_url"); refused.Status != http.StatusUnprocessableEntity || !strings.Contains(msg, "private network") || !strings.Contains(msg, "KLAXON_WEBHOOK_NETWORKS") {
		t.Errorf("private webhook: %d %q, want 422 saying it is a private address and what the operator can set", refused.Status, msg)
	}
	var n int64
	srv.DB().Model(&models.NotificationChannel{}).Count(&n)
	if n != 0 {
		t.Errorf("%d channels saved, want none", n)
	}
	// Other mistakes on the form are shown with it.
	both := cl.Submit("/channels/new", "/channels", url.Values{"name": {""}, "webhook_url": {"http://[64:ff9b::a9fe:a9fe]/hooks/x"}, "events": {"opened"}})
	if both.Status != http.StatusUnprocessableEntity || both.Text("#err-name") == "" || !strings.Contains(both.Text("#err-webhook_url"), "link-local") {
		t.Errorf("NAT64 of a link-local address with no name: %d %q %q", both.Status, both.Text("#err-name"), both.Text("#err-webhook_url"))
	}
	doc := cl.Submit("/channels/new", "/channels", url.Values{"name": {"ops"}, "webhook_url": {"https://198.51.100.7/hooks/x"}, "events": {"opened"}})
	if doc.Status != http.StatusUnprocessableEntity || !strings.Contains(doc.Text("#err-webhook_url"), "documentation address") {
		t.Errorf("a documentation address: %d %q, want 422", doc.Status, doc.Text("#err-webhook_url"))
	}
	id := createChannel(t, cl, url.Values{"name": {"ops"}, "webhook_url": {"https://8.8.4.4/hooks/secretsecret"}, "events": {"opened"}})
	edit := cl.Get("/channels/" + id + "/edit")
	p := cl.Post("/channels/"+id, url.Values{"_csrf": {edit.CSRF()}, "name": {"ops"}, "webhook_url": {"http://192.168.1.20/hooks/x"}, "events": {"opened"}})
	if p.Status != http.StatusUnprocessableEntity || !strings.Contains(p.Text("#err-webhook_url"), "private network") {
		t.Errorf("edit to a private webhook: %d %q, want 422", p.Status, p.Text("#err-webhook_url"))
	}
	var ch models.NotificationChannel
	srv.DB().Where("public_id = ?", id).First(&ch)
	if ch.WebhookURL != "https://8.8.4.4/hooks/secretsecret" {
		t.Errorf("webhook after the refused edit: %q, want the old one kept", ch.WebhookURL)
	}
}

// teamWithChannel makes a team with an integration and a notification
// channel posting events to webhook.
func teamWithChannel(t *testing.T, db *models.DB, webhook string, events ...string) (*models.User, *models.Integration) {
	t.Helper()
	ctx := context.Background()
	u, err := db.CreateAccount(ctx, models.SignUp{Team: "T", Email: "t@example.com", Password: password, Confirm: password})
	if err != nil {
		t.Fatal(err)
	}
	integ, err := db.CreateIntegration(ctx, u.AccountID, models.IntegrationInput{Name: "I", DefaultUrgency: "low"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateChannel(ctx, u.AccountID, models.ChannelInput{Name: "C", WebhookURL: webhook, Events: events}); err != nil {
		t.Fatal(err)
	}
	return u, integ
}

// After an outage (the worker stopped while an alert was opened,
// acknowledged and resolved) each late post still shows its own event's
// state: an "opened" post is red and open, "acknowledged" orange with who
// acknowledged and nobody resolving, "resolved" green with both.
func TestLatePostsTellTheirEvent(t *testing.T) {
	for name, url := range webtest.Databases(t) {
		t.Run(name, func(t *testing.T) {
			db := webtest.OpenDB(t, url)
			ctx := context.Background()
			mm := newFakeMattermost(t, nil)
			u, integ := teamWithChannel(t, db, mm.URL, "opened", "acknowledged", "resolved")
			w, err := models.NewWriter(db, models.WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			res, err := w.Submit(ctx, &models.IntakeRequest{IntegrationPublicID: integ.PublicID, Draft: &models.AlertDraft{Title: "outage db-1", DedupKey: "late1"}})
			w.Close()
			if err != nil || res.Outcome != models.OutcomeAccepted {
				t.Fatalf("submit: %v %+v", err, res)
			}
			for _, tr := range []models.Transition{models.Acknowledge, models.Resolve} {
				if err := db.ApplyTransition(ctx, u.AccountID, u, res.AlertPublicID, tr); err != nil {
					t.Fatal(err)
				}
			}
			// Mattermost is reachable again: the backlog goes out.
			worker := notify.NewWorker(db, "http://klaxon.test", slog.New(slog.NewTextHandler(io.Discard, nil)), notify.Networks{AllowLoopback: true})
			worker.Poll = 100 * time.Millisecond
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { worker.Run(runCtx); close(done) }()
			defer func() { stop(); <-done }()
			eventually(t, 10*time.Second, "three posts", func() bool { return len(mm.messages()) == 3 })
			for i, want := range []struct{ pretext, status, color, ackBy, resBy string }{
				{"Alert opened", "open", "#ff5252", "", ""},
				{"Alert acknowledged", "acknowledged", "#fb8c00", u.Email, ""},
				{"Alert resolved", "resolved", "#4caf50", u.Email, u.Email},
			} {
				a := mm.messages()[i].Attachments[0]
				if a.Pretext != want.pretext || a.Color != want.color || field(a, "Status") != want.status ||
					field(a, "Acknowledged by") != want.ackBy || field(a, "Resolved by") != want.resBy {
					t.Errorf("post %d: pretext %q colour %q fields %+v; want %+v", i, a.Pretext, a.Color, a.Fields, want)
				}
				if (want.ackBy != "") != (field(a, "Acknowledged at") != "") || (want.resBy != "") != (field(a, "Resolved at") != "") {
					t.Errorf("post %d: the times of its event are missing or too many: %+v", i, a.Fields)
				}
			}
		})
	}
}
