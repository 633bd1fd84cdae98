package web_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"klaxon/models"
	"klaxon/web"
	"klaxon/web/mattermost"
	"klaxon/web/webtest"
)

// buttonEnv is a started Klaxon with a team whose integration replies in
// channel, and one alert opened through it.
type buttonEnv struct {
	srv   *webtest.Server
	cl    *webtest.Client
	integ string
	alert string
	ack   mattermost.ActionContext // the Acknowledge button of the reply
	res   mattermost.ActionContext // the Resolve button
}

func newButtonEnv(t *testing.T, dbURL string) *buttonEnv {
	t.Helper()
	srv := webtest.Start(t, func(c *web.Config) { c.DatabaseURL = dbURL })
	cl := srv.NewClient()
	cl.SignUp("Ops", "ops@example.com", password)
	e := &buttonEnv{srv: srv, cl: cl, integ: cl.CreateIntegration("Mattermost #ops", models.UrgencyMedium)}
	e.alert, e.ack, e.res = e.open(t, "p-"+models.RandomToken(8))
	return e
}

// open sends the captured outgoing webhook with post id post and returns
// the alert and the contexts of the reply's two buttons.
func (e *buttonEnv) open(t *testing.T, post string) (string, mattermost.ActionContext, mattermost.ActionContext) {
	t.Helper()
	body := strings.Replace(webtest.Fixture(t, "json-request.http"), "64jbm3cftjrqtcsy3iyt9ubujr", post, 1)
	status, raw := webtest.Intake(t, e.srv.URL, e.integ, "application/json", body)
	var ans mattermost.IntakeAnswer
	if err := json.Unmarshal([]byte(raw), &ans); err != nil || status != http.StatusOK {
		t.Fatalf("intake: %d %s", status, raw)
	}
	if len(ans.Attachments) != 1 || len(ans.Attachments[0].Actions) != 2 {
		t.Fatalf("the thread reply carries no Acknowledge and Resolve buttons: %s", raw)
	}
	ack, res := ans.Attachments[0].Actions[0], ans.Attachments[0].Actions[1]
	for _, b := range []mattermost.Button{ack, res} {
		if b.Type != "button" || b.Integration.URL != e.srv.URL+"/mattermost/actions" || strings.Trim(b.ID, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
			t.Errorf("button %+v: want type button, Klaxon's actions URL and an id of letters and digits", b)
		}
	}
	if ack.Name != "Acknowledge" || ack.Integration.Context.Action != "acknowledge" || res.Name != "Resolve" || res.Integration.Context.Action != "resolve" ||
		ack.Integration.Context.Alert != ans.AlertID || ack.Integration.Context.Source != e.integ {
		t.Fatalf("buttons %+v %+v", ack, res)
	}
	return ans.AlertID, ack.Integration.Context, res.Integration.Context
}

// click posts the captured click with context c (as Mattermost sends it:
// its keys sorted) and returns the status and answer.
func (e *buttonEnv) click(t *testing.T, c mattermost.ActionContext) (int, mattermost.ActionAnswer) {
	t.Helper()
	return clickButton(t, e.srv.URL, c)
}

// clickButton posts the captured click with context c to Klaxon at base.
func clickButton(t *testing.T, base string, c mattermost.ActionContext) (int, mattermost.ActionAnswer) {
	t.Helper()
	ctx, _ := json.Marshal(map[string]string{"action": c.Action, "alert": c.Alert, "sig": c.Sig, "source": c.Source, "team": c.Team})
	body := webtest.Fixture(t, "interactive-action.http")
	i := strings.Index(body, `"context":`)
	if i < 0 {
		t.Fatal("fixture without context")
	}
	return postAction(t, base, body[:i]+`"context":`+string(ctx)+"}")
}

func (e *buttonEnv) post(t *testing.T, body string) (int, mattermost.ActionAnswer) {
	t.Helper()
	return postAction(t, e.srv.URL, body)
}

func postAction(t *testing.T, base, body string) (int, mattermost.ActionAnswer) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/mattermost/actions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Mattermost-Bot/1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var ans mattermost.ActionAnswer
	if err := json.Unmarshal(raw, &ans); err != nil {
		t.Fatalf("answer is not JSON (%d): %q", resp.StatusCode, raw)
	}
	return resp.StatusCode, ans
}

func (e *buttonEnv) stored(t *testing.T, publicID string) (models.Alert, []models.AlertEvent) {
	t.Helper()
	var a models.Alert
	if err := e.srv.DB().Where("public_id = ?", publicID).First(&a).Error; err != nil {
		t.Fatal(err)
	}
	var events []models.AlertEvent
	e.srv.DB().Where("alert_id = ?", a.ID).Order("id").Find(&events)
	return a, events
}

// A click from the captured request acknowledges as the Mattermost user;
// the answer rewrites the post to the new state; Resolve then resolves;
// a click on a state already reached changes nothing and says who did it.
func TestButtonClicks(t *testing.T) {
	for name, dbURL := range webtest.Databases(t) {
		t.Run(name, func(t *testing.T) {
			e := newButtonEnv(t, dbURL)
			status, ans := e.click(t, e.ack)
			a, events := e.stored(t, e.alert)
			if status != http.StatusOK || a.Status != models.StatusAcknowledged || a.AcknowledgedBy != "@mmadmin via Mattermost" || a.AcknowledgedByID != nil {
				t.Fatalf("after the click: %d %+v; alert %s by %q", status, ans, a.Status, a.AcknowledgedBy)
			}
			if last := events[len(events)-1]; last.Kind != models.EventAcknowledged || last.Actor != "@mmadmin via Mattermost" || last.ExternalUserID != "wb4teeiofbdmib98zk668agzze" || last.Via != "mattermost" {
				t.Errorf("timeline entry %+v: want acknowledged by the Mattermost user, with Mattermost's user id", last)
			}
			checkUpdate(t, ans, e.alert, "acknowledged", "#fb8c00", []string{"resolve"})
			if !strings.Contains(ans.EphemeralText, "acknowledged") {
				t.Errorf("ephemeral text %q", ans.EphemeralText)
			}
			// The same button again: nothing changes, who did it is said,
			// the post is refreshed.
			_, again := e.click(t, e.ack)
			if _, ev := e.stored(t, e.alert); len(ev) != len(events) || !strings.Contains(again.EphemeralText, "already acknowledged (by @mmadmin via Mattermost)") {
				t.Errorf("second click: %q, %d events (was %d)", again.EphemeralText, len(ev), len(events))
			}
			checkUpdate(t, again, e.alert, "acknowledged", "#fb8c00", []string{"resolve"})
			_, resolved := e.click(t, e.res)
			if a, _ := e.stored(t, e.alert); a.Status != models.StatusResolved || a.ResolvedBy != "@mmadmin via Mattermost" {
				t.Errorf("after Resolve: %s by %q", a.Status, a.ResolvedBy)
			}
			checkUpdate(t, resolved, e.alert, "resolved", "#4caf50", nil)
			// The alert page shows the Mattermost user like any actor.
			page := e.cl.Get("/alerts/" + e.alert)
			if tl := page.Text(`[data-testid="timeline"]`); !strings.Contains(tl, "@mmadmin via Mattermost") {
				t.Errorf("timeline on the page: %q", tl)
			}
		})
	}
}

// checkUpdate checks that an answer rewrites the post to status: the
// message names the alert and its state, the card has the colour, the
// Status field and only the buttons that still apply.
func checkUpdate(t *testing.T, ans mattermost.ActionAnswer, alert, status, color string, buttons []string) {
	t.Helper()
	if ans.Update == nil || !strings.Contains(ans.Update.Message, alert) || !strings.Contains(ans.Update.Message, status) {
		t.Fatalf("update %+v: want a message naming %s and %s", ans.Update, alert, status)
	}
	raw, _ := json.Marshal(ans.Update.Props)
	var props struct{ Attachments []mattermost.Attachment }
	json.Unmarshal(raw, &props)
	if len(props.Attachments) != 1 {
		t.Fatalf("update props %s", raw)
	}
	card := props.Attachments[0]
	var ids []string
	for _, b := range card.Actions {
		ids = append(ids, b.ID)
	}
	if card.Color != color || field(card, "Status") != status || strings.Join(ids, ",") != strings.Join(buttons, ",") || !strings.HasPrefix(card.Title, alert+": ") {
		t.Errorf("card: colour %q status %q buttons %v title %q; want %s, %s, %v", card.Color, field(card, "Status"), ids, card.Title, color, status, buttons)
	}
}

// Requests that must change nothing: each gets a clear ephemeral text and
// no update, and the alert stays open with its timeline as it was.
func TestButtonRefusals(t *testing.T) {
	for name, dbURL := range webtest.Databases(t) {
		t.Run(name, func(t *testing.T) {
			e := newButtonEnv(t, dbURL)
			other, _, _ := e.open(t, "p-other")
			// Another team, with its own alert.
			cl2 := e.srv.NewClient()
			cl2.SignUp("Elsewhere", "else@example.com", password)
			team2 := &buttonEnv{srv: e.srv, cl: cl2, integ: cl2.CreateIntegration("Theirs", models.UrgencyLow)}
			theirs, theirAck, _ := team2.open(t, "p-theirs")
			var key models.Setting
			if err := e.srv.DB().First(&key, "key = ?", "mattermost_button_key").Error; err != nil {
				t.Fatal(err)
			}
			// Signed with Klaxon's own key, for our team and source but
			// their alert: the lookup is still scoped to our team.
			forged := mattermost.ActionContext{Action: "acknowledge", Alert: theirs, Team: e.ack.Team, Source: e.integ}
			forged.Sig = sign(key.Value, forged)

			tampered := e.ack
			tampered.Sig = strings.Repeat("0", len(e.ack.Sig))
			swappedAlert := e.ack
			swappedAlert.Alert = other
			swappedAction := e.ack
			swappedAction.Action = "resolve"
			swappedTeam := theirAck
			swappedTeam.Team = e.ack.Team
			noSig := e.ack
			noSig.Sig = ""
			for _, c := range []struct {
				name string
				ctx  mattermost.ActionContext
				want string
			}{
				{"tampered signature", tampered, "signature"},
				{"missing signature", noSig, "context"},
				{"alert id swapped", swappedAlert, "signature"},
				{"action swapped", swappedAction, "signature"},
				{"team swapped", swappedTeam, "signature"},
				{"another team's alert, signed", forged, "no alert"},
			} {
				status, ans := e.click(t, c.ctx)
				if status != http.StatusOK || ans.Update != nil || !strings.Contains(ans.EphemeralText, c.want) || !strings.Contains(ans.EphemeralText, "nothing was changed") && c.want != "context" {
					t.Errorf("%s: %d %+v, want 200, no update and a text about %q", c.name, status, ans, c.want)
				}
			}
			for _, c := range []struct{ name, body string }{
				{"malformed", `{"user_name":"mmadmin","context":`},
				{"not an object", `["acknowledge"]`},
				{"no user", `{"context":{"action":"acknowledge","alert":"` + e.alert + `","team":"1","source":"x","sig":"y"}}`},
				{"too large", `{"user_name":"` + strings.Repeat("a", mattermost.MaxActionBody) + `"}`},
			} {
				status, ans := e.post(t, c.body)
				if status != http.StatusOK || ans.Update != nil || !strings.Contains(ans.EphemeralText, "refused") {
					t.Errorf("%s: %d %+v", c.name, status, ans)
				}
			}
			// A user not on the integration's list.
			var integ models.Integration
			e.srv.DB().Where("public_id = ?", e.integ).First(&integ)
			edit := e.cl.Get("/integrations/" + e.integ + "/edit")
			e.cl.Post("/integrations/"+e.integ, url.Values{"_csrf": {edit.CSRF()}, "name": {integ.Name}, "default_urgency": {"medium"},
				"reply_in_channel_present": {"1"}, "reply_in_channel": {"1"}, "allowed_users": {"@Alice, bob"}})
			e.srv.DB().Where("public_id = ?", e.integ).First(&integ)
			if integ.AllowedUsers != "alice bob" {
				t.Fatalf("allowed users saved as %q", integ.AllowedUsers)
			}
			if _, ans := e.click(t, e.ack); ans.Update != nil || !strings.Contains(ans.EphemeralText, "not allowed") {
				t.Errorf("user not on the list: %+v", ans)
			}
			for _, id := range []string{e.alert, other} {
				if a, events := e.stored(t, id); a.Status != models.StatusOpen || len(events) != 1 {
					t.Errorf("%s: %s with %d timeline entries after refused clicks", id, a.Status, len(events))
				}
			}
			if a, events := team2.stored(t, theirs); a.Status != models.StatusOpen || len(events) != 1 {
				t.Errorf("the other team's alert: %s with %d timeline entries", a.Status, len(events))
			}
			// A bad list is refused on the form.
			p := e.cl.Post("/integrations/"+e.integ, url.Values{"_csrf": {edit.CSRF()}, "name": {integ.Name}, "default_urgency": {"medium"}, "allowed_users": {"alice; drop"}})
			if p.Status != http.StatusUnprocessableEntity || p.Text("#err-allowed_users") == "" {
				t.Errorf("bad allowed users: %d %q", p.Status, p.Text("#err-allowed_users"))
			}
		})
	}
}

// sign makes a context's signature as Klaxon does, with its stored key.
func sign(key string, c mattermost.ActionContext) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte("klaxon-button-v1\x00" + c.Team + "\x00" + c.Source + "\x00" + c.Alert + "\x00" + c.Action))
	return hex.EncodeToString(m.Sum(nil))
}

// Notification posts carry the buttons of their event's state, for the
// channel as source, and a channel's list of users applies to them.
func TestButtonsOnChannelPosts(t *testing.T) {
	srv, cl := signedIn(t)
	mm := newFakeMattermost(t, nil)
	id := cl.CreateIntegration("Mattermost #ops", models.UrgencyLow)
	chID := createChannel(t, cl, url.Values{"name": {"#ops"}, "webhook_url": {mm.URL + "/hooks/abc"}, "events": {"opened", "acknowledged", "resolved"}, "allowed_users": {"mmadmin"}})
	webtest.Intake(t, srv.URL, id, "application/json", `{"text":"outage db-1","post_id":"b1"}`)
	eventually(t, 10*time.Second, "the opened post", func() bool { return len(mm.messages()) == 1 })
	card := mm.messages()[0].Attachments[0]
	if len(card.Actions) != 2 || card.Actions[0].Integration.Context.Source != chID {
		t.Fatalf("opened post buttons %+v", card.Actions)
	}
	e := &buttonEnv{srv: srv, cl: cl}
	if _, ans := e.click(t, card.Actions[0].Integration.Context); ans.Update == nil {
		t.Fatalf("click on the channel post: %+v", ans)
	}
	eventually(t, 10*time.Second, "the acknowledged post", func() bool { return len(mm.messages()) == 2 })
	ack := mm.messages()[1].Attachments[0]
	if len(ack.Actions) != 1 || ack.Actions[0].ID != "resolve" || field(ack, "Acknowledged by") != "@mmadmin via Mattermost" {
		t.Errorf("acknowledged post: buttons %+v fields %+v", ack.Actions, ack.Fields)
	}
	var ch models.NotificationChannel
	srv.DB().Where("public_id = ?", chID).First(&ch)
	if ch.AllowedUsers != "mmadmin" || !strings.Contains(cl.Get("/channels/"+chID).Text(`[data-testid="allowed-users"]`), "mmadmin") {
		t.Errorf("channel allowed users %q", ch.AllowedUsers)
	}
}
