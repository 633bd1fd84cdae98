package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"klaxon/models"
	"klaxon/web"
	"klaxon/web/webtest"
)

// channelForm is a valid new-channel form posting to webhook.
func channelForm(name string) url.Values {
	return url.Values{"name": {name}, "webhook_url": {"http://127.0.0.1:9/hooks/abcdefghijkl"}, "events": {models.NotifyOpened}}
}

// TestTeamCreationLimits: a team gets as many integrations and channels as
// -max-integrations and -max-channels allow; one more is refused on the
// form with the reason (409) and nothing is created, while another team is
// unaffected and a deletion makes room again. Creations at once cannot
// pass the limit together.
func TestTeamCreationLimits(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		srv := webtest.Start(t, func(c *web.Config) { c.DatabaseURL = dbURL; c.MaxIntegrations, c.MaxChannels = 2, 1 })
		cl := srv.NewClient()
		cl.SignUp("Ops", "ops@example.com", "correct horse battery")
		first := cl.CreateIntegration("One", models.UrgencyLow)
		if note := cl.Get("/integrations").Text(".flash-info"); note != "" {
			t.Errorf("a team with room shows a limit note: %q", note)
		}
		cl.CreateIntegration("Two", models.UrgencyLow)
		for _, path := range []string{"/integrations", "/integrations/new", "/integrations/new/mattermost"} {
			if note := cl.Get(path).Text(".flash-info"); !strings.Contains(note, "already has 2 integrations") {
				t.Errorf("GET %s at the limit: note %q, want one saying the team has 2", path, note)
			}
		}
		form := url.Values{"name": {"Three"}, "default_urgency": {"low"}, "reply_in_channel_present": {"1"}}
		p := cl.Submit("/integrations/new/mattermost", "/integrations", form)
		if msg := p.Text(`[data-testid="form-error"]`); p.Status != http.StatusConflict || !strings.Contains(msg, "already has 2 integrations") {
			t.Fatalf("third integration: status %d, message %q; want 409 saying the team has 2", p.Status, msg)
		}
		if v, _ := p.Doc.Find(`input[name="name"]`).Attr("value"); v != "Three" {
			t.Errorf("the refused form lost its input: name %q", v)
		}
		var n int64
		srv.DB().Model(&models.Integration{}).Count(&n)
		if n != 2 {
			t.Errorf("%d integrations stored, want 2", n)
		}

		if p := cl.Submit("/channels/new", "/channels", channelForm("Ops")); p.Status != http.StatusSeeOther {
			t.Fatalf("first channel: %d\n%s", p.Status, p.Body)
		}
		p = cl.Submit("/channels/new", "/channels", channelForm("Second"))
		if msg := p.Text(`[data-testid="form-error"]`); p.Status != http.StatusConflict || !strings.Contains(msg, "already has 1 notification channel,") {
			t.Fatalf("second channel: status %d, message %q; want 409 saying the team has 1", p.Status, msg)
		}
		srv.DB().Model(&models.NotificationChannel{}).Count(&n)
		if n != 1 {
			t.Errorf("%d channels stored, want 1", n)
		}
		for _, path := range []string{"/channels", "/channels/new"} {
			if note := cl.Get(path).Text(".flash-info"); !strings.Contains(note, "already has 1 notification channel,") {
				t.Errorf("GET %s at the limit: note %q", path, note)
			}
		}

		other := srv.NewClient()
		other.SignUp("Other", "other@example.com", "correct horse battery")
		other.CreateIntegration("Theirs", models.UrgencyLow)
		if p := other.Submit("/channels/new", "/channels", channelForm("Theirs")); p.Status != http.StatusSeeOther {
			t.Errorf("another team's first channel: %d", p.Status)
		}

		if p := cl.Submit("/integrations/"+first+"/delete", "/integrations/"+first+"/delete", nil); p.Status != http.StatusSeeOther {
			t.Fatalf("delete: %d", p.Status)
		}
		cl.CreateIntegration("Three", models.UrgencyLow)

		// Eight creations at once against a limit of 2 + 3.
		srv.DB().Limits.Integrations = 5
		var user models.User
		if err := srv.DB().Where("email = ?", "ops@example.com").Take(&user).Error; err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		created, refused := 0, 0
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := srv.DB().CreateIntegration(context.Background(), user.AccountID, models.IntegrationInput{Name: fmt.Sprint("Racer ", i), DefaultUrgency: "low"})
				var limit *models.LimitError
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					created++
				case errors.As(err, &limit):
					refused++
				default:
					t.Errorf("creation at once: %v", err)
				}
			}()
		}
		wg.Wait()
		if created != 3 || refused != 5 {
			t.Errorf("8 creations at once with room for 3: %d created, %d refused", created, refused)
		}
	})
}

// TestTeamIntakeRateLimit: the team's integrations together get the team's
// rate; one over it is answered 429 with Retry-After and a clear error, is
// logged, and stores nothing, while another team's integration is not held.
func TestTeamIntakeRateLimit(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		srv := webtest.Start(t, func(c *web.Config) {
			c.DatabaseURL = dbURL
			c.RateLimit, c.RateBurst = 100, 100
			c.TeamRateLimit, c.TeamRateBurst = 0.5, 3
		})
		cl := srv.NewClient()
		cl.SignUp("Ops", "ops@example.com", "correct horse battery")
		ids := []string{cl.CreateIntegration("One", models.UrgencyLow), cl.CreateIntegration("Two", models.UrgencyLow)}
		other := srv.NewClient()
		other.SignUp("Other", "other@example.com", "correct horse battery")
		theirs := other.CreateIntegration("Theirs", models.UrgencyLow)

		for i := range 3 {
			if status, raw := webtest.Intake(t, srv.URL, ids[i%2], "application/json", fmt.Sprintf(`{"text":"outage %d","post_id":"p%d"}`, i, i)); status != http.StatusOK {
				t.Fatalf("request %d within the team's burst: %d %s", i, status, raw)
			}
		}
		resp, raw := postJSON(t, srv.URL+"/integration/"+ids[1], `{"text":"outage too many","post_id":"p3"}`)
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(raw), `"error":"Too many requests for this team`) {
			t.Fatalf("over the team's limit: %d %s, want 429 with an error naming the team", resp.StatusCode, raw)
		}
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || secs < 1 || secs > 2 {
			t.Errorf("Retry-After %q, want 1 or 2 seconds at 0.5 requests a second", resp.Header.Get("Retry-After"))
		}
		for i := range 3 {
			if status, raw := webtest.Intake(t, srv.URL, theirs, "application/json", fmt.Sprintf(`{"text":"their outage %d"}`, i)); status != http.StatusOK {
				t.Errorf("another team's request %d: %d %s", i, status, raw)
			}
		}
		var alerts int64
		srv.DB().Model(&models.Alert{}).Where("dedup_key = ?", "p3").Count(&alerts)
		if alerts != 0 {
			t.Error("the refused request created an alert")
		}
		var logs []models.IntegrationLog
		srv.DB().Where("outcome = ?", models.OutcomeRateLimited).Find(&logs)
		if len(logs) != 1 || logs[0].Status != http.StatusTooManyRequests || !strings.Contains(logs[0].Message, "this team") {
			t.Fatalf("request log: %+v, want one rate_limited row naming the team", logs)
		}
	})
}

// TestRawRequestIsCut: an alert keeps the first -raw-request-keep bytes of
// its request, and its page says so above them; the text is kept whole.
func TestRawRequestIsCut(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		srv := webtest.Start(t, func(c *web.Config) { c.DatabaseURL = dbURL; c.RawRequestKeep = 1024 })
		cl := srv.NewClient()
		cl.SignUp("Ops", "ops@example.com", "correct horse battery")
		id := cl.CreateIntegration("Mattermost", models.UrgencyLow)
		text := "outage big\n" + strings.Repeat("é line of detail\n", 200)
		big := fmt.Sprintf(`{"text":%q,"post_id":"big"}`, text)
		for _, body := range []string{big, `{"text":"outage small","post_id":"small"}`} {
			if status, raw := webtest.Intake(t, srv.URL, id, "application/json", body); status != http.StatusOK {
				t.Fatalf("intake: %d %s", status, raw)
			}
		}
		var a, small models.Alert
		srv.DB().Where("dedup_key = ?", "big").Take(&a)
		srv.DB().Where("dedup_key = ?", "small").Take(&small)
		if len(a.RawRequest) > 1024 || len(a.RawRequest) < 1020 || a.RawRequestBytes != len(big) || !strings.HasPrefix(big, a.RawRequest) {
			t.Errorf("raw request keeps %d of %d bytes (recorded %d), want the first 1024", len(a.RawRequest), len(big), a.RawRequestBytes)
		}
		if a.Description != strings.TrimSpace(text) {
			t.Errorf("the description was cut too: %d bytes of %d", len(a.Description), len(strings.TrimSpace(text)))
		}
		if small.RawRequest != `{"text":"outage small","post_id":"small"}` || small.RawRequestCut() {
			t.Errorf("a small request was changed: %q", small.RawRequest)
		}
		p := cl.Get("/alerts/" + a.PublicID)
		note := p.Text(`[data-testid="raw-request-cut"]`)
		size := strconv.FormatFloat(float64(len(big))/1024, 'f', 1, 64) + " KiB"
		if !strings.Contains(note, "had "+size) || !strings.Contains(note, "the first 1 KiB") {
			t.Errorf("the alert page's note: %q", note)
		}
		if cl.Get("/alerts/"+small.PublicID).Doc.Find(`[data-testid="raw-request-cut"]`).Length() != 0 {
			t.Error("a whole request is shown as cut")
		}
	})
}

// TestBrowserTeamLimits: in a real browser, the integration beyond the
// team's limit is refused on the form with the reason, and a cut request
// shows its note above the raw request.
func TestBrowserTeamLimits(t *testing.T) {
	srv := webtest.Start(t, func(c *web.Config) { c.MaxIntegrations = 1; c.RawRequestKeep = 1024 })
	b := newTab(t)
	var alertID string
	b.step("sign up and create the one integration", func(ctx context.Context) error {
		if err := open(ctx, srv.URL+"/signup", http.StatusOK); err != nil {
			return err
		}
		if err := chromedp.Do(ctx, typeInto("#f-team", "Ops"), typeInto("#f-email", "ops@example.com"),
			typeInto("#f-password", "correct horse battery"), typeInto("#f-confirm", "correct horse battery")); err != nil {
			return err
		}
		if err := follow(ctx, `form[action="/signup"] button[type=submit]`, http.StatusOK); err != nil {
			return err
		}
		for _, want := range []int64{http.StatusOK, http.StatusConflict} {
			if err := open(ctx, srv.URL+"/integrations/new/mattermost", http.StatusOK); err != nil {
				return err
			}
			if err := follow(ctx, `form[action="/integrations"] button[type=submit]`, want); err != nil {
				return err
			}
		}
		msg, err := text(ctx, `[data-testid="form-error"]`)
		if err != nil {
			return err
		}
		if !strings.Contains(msg, "already has 1 integration,") {
			return fmt.Errorf("the refused form says %q", msg)
		}
		return b.screen(ctx, "integration-limit")
	})
	b.step("a cut request's note", func(ctx context.Context) error {
		var list []models.Integration
		if err := srv.DB().Find(&list).Error; err != nil || len(list) != 1 {
			return fmt.Errorf("%d integrations (%v), want 1", len(list), err)
		}
		status, raw := webtest.Intake(t, srv.URL, list[0].PublicID, "application/json", `{"text":"outage `+strings.Repeat("disk full on db-1, ", 150)+`"}`)
		if status != http.StatusOK {
			return fmt.Errorf("intake: %d %s", status, raw)
		}
		alertID = raw[strings.Index(raw, "alt_") : strings.Index(raw, "alt_")+30]
		if err := open(ctx, srv.URL+"/alerts/"+alertID, http.StatusOK); err != nil {
			return err
		}
		above, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
			const note = document.querySelector('[data-testid="raw-request-cut"]'), pre = document.querySelector('[data-testid="raw-request"]');
			return !!note && note.offsetHeight > 0 && note.getBoundingClientRect().bottom <= pre.getBoundingClientRect().top;
		})()`))
		if err != nil {
			return err
		}
		if !above {
			return errors.New("no visible note above the raw request")
		}
		return b.screen(ctx, "raw-request-cut")
	})
}
