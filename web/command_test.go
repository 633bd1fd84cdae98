package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"klaxon/models"
	"klaxon/web"
	"klaxon/web/mattermost"
	"klaxon/web/webtest"
)

// The token of the captured slash command.
const slashToken = "z4qgo7exzfbo5c37fh6qxmopbc"

// slashEnv is a team with a slash-command integration.
type slashEnv struct {
	srv *webtest.Server
	cl  *webtest.Client
	id  string
}

func newSlashEnv(t *testing.T, dbURL string) *slashEnv {
	t.Helper()
	srv := webtest.Start(t, func(c *web.Config) { c.DatabaseURL = dbURL })
	cl := srv.NewClient()
	cl.SignUp("Ops", "ops@example.com", password)
	if !strings.Contains(cl.Get("/integrations/new").Text(`[data-testid="kind-mattermost-slash"]`), "Mattermost (Slash Command)") {
		t.Fatal("no Mattermost (Slash Command) card in the catalog")
	}
	p := cl.Submit("/integrations/new/mattermost-slash", "/integrations", url.Values{"name": {"/klaxon"}, "default_urgency": {"medium"}, "kind": {models.KindMattermostSlash}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("create: %d %s", p.Status, p.Body)
	}
	return &slashEnv{srv: srv, cl: cl, id: strings.TrimPrefix(p.Location, "/integrations/")}
}

// command sends the captured slash command with text and token (the
// header carries it too, as Mattermost sends it) and returns the answer,
// failing unless it is HTTP 200 with JSON.
func (e *slashEnv) command(t *testing.T, text, token string) mattermost.CommandAnswer {
	t.Helper()
	form, err := url.ParseQuery(webtest.Fixture(t, "slash-command.http"))
	if err != nil {
		t.Fatal(err)
	}
	form.Set("text", text)
	form.Set("token", token)
	form.Set("trigger_id", models.RandomToken(20)) // one per command, as Mattermost makes them
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/integration/"+e.id, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Token "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var ans mattermost.CommandAnswer
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &ans) != nil || ans.Text == "" {
		t.Fatalf("%q: %d %q, want 200 with a JSON text", text, resp.StatusCode, raw)
	}
	return ans
}

func (e *slashEnv) alertCount(t *testing.T) int64 {
	var n int64
	e.srv.DB().Model(&models.Alert{}).Count(&n)
	return n
}

func TestSlashCommands(t *testing.T) {
	for name, dbURL := range webtest.Databases(t) {
		t.Run(name, func(t *testing.T) {
			e := newSlashEnv(t, dbURL)
			page := e.cl.Get("/integrations/" + e.id)
			if setup := page.Text(`[data-testid="slash-setup"]`); !strings.Contains(setup, "Slash Commands") || !strings.Contains(setup, e.srv.URL+"/integration/"+e.id) {
				t.Errorf("set-up guide: %q", setup)
			}
			// Until the token is saved, every command says so and does nothing.
			if ans := e.command(t, "page db-1 is down", slashToken); ans.ResponseType != "ephemeral" || !strings.Contains(ans.Text, "token") || e.alertCount(t) != 0 {
				t.Fatalf("without a token: %+v, %d alerts", ans, e.alertCount(t))
			}
			edit := e.cl.Get("/integrations/" + e.id + "/edit")
			e.cl.Post("/integrations/"+e.id, url.Values{"_csrf": {edit.CSRF()}, "name": {"/klaxon"}, "default_urgency": {"medium"}, "token": {slashToken}})
			if ans := e.command(t, "page db-1 is down", "wrongwrongwrongwrongwrong1"); !strings.Contains(ans.Text, "does not match") || e.alertCount(t) != 0 {
				t.Fatalf("wrong token: %+v", ans)
			}
			if ans := e.command(t, "help", slashToken); ans.ResponseType != "ephemeral" || !strings.Contains(ans.Text, "/klaxon5573 resolve ID") {
				t.Errorf("help: %+v", ans)
			}
			if ans := e.command(t, "frobnicate", slashToken); !strings.Contains(ans.Text, "Klaxon commands") {
				t.Errorf("unknown command: %+v, want the help", ans)
			}
			if ans := e.command(t, "list", slashToken); !strings.Contains(ans.Text, "No open") {
				t.Errorf("empty list: %+v", ans)
			}
			paged := e.command(t, "page checkout is down, critical", slashToken)
			var a models.Alert
			e.srv.DB().Order("id DESC").First(&a)
			if paged.ResponseType != "in_channel" || a.Urgency != models.UrgencyCritical || a.Title != "checkout is down, critical" ||
				!strings.Contains(paged.Text, a.PublicID) || !strings.Contains(paged.Text, "@mmadmin") || len(paged.Attachments) != 1 || len(paged.Attachments[0].Actions) != 2 {
				t.Fatalf("page: %+v; stored %s %q %s", paged, a.PublicID, a.Title, a.Urgency)
			}
			e.command(t, "page second thing broke", slashToken)
			if ans := e.command(t, "list", slashToken); ans.ResponseType != "ephemeral" || !strings.Contains(ans.Text, a.PublicID) || !strings.Contains(ans.Text, "critical") ||
				!strings.Contains(ans.Text, "second thing") || strings.Index(ans.Text, "second thing") > strings.Index(ans.Text, "checkout") {
				t.Errorf("list: %+v, want both alerts, newest first", ans)
			}
			tail := a.PublicID[len(a.PublicID)-6:]
			if ans := e.command(t, "ack "+tail, slashToken); !strings.Contains(ans.Text, "acknowledged") {
				t.Errorf("ack by tail: %+v", ans)
			}
			e.srv.DB().First(&a, a.ID)
			if a.Status != models.StatusAcknowledged || a.AcknowledgedBy != "@mmadmin via Mattermost" {
				t.Errorf("after ack: %s by %q", a.Status, a.AcknowledgedBy)
			}
			if ans := e.command(t, "ack "+a.PublicID, slashToken); !strings.Contains(ans.Text, "already acknowledged (by @mmadmin via Mattermost)") {
				t.Errorf("second ack: %+v", ans)
			}
			if ans := e.command(t, "resolve "+a.PublicID, slashToken); !strings.Contains(ans.Text, "resolved") {
				t.Errorf("resolve: %+v", ans)
			}
			e.srv.DB().First(&a, a.ID)
			if a.Status != models.StatusResolved || a.ResolvedBy != "@mmadmin via Mattermost" {
				t.Errorf("after resolve: %s by %q", a.Status, a.ResolvedBy)
			}
			// An ambiguous tail: two alerts whose ids end alike.
			var ids []uint
			e.srv.DB().Model(&models.Alert{}).Order("id").Pluck("id", &ids)
			for i, id := range ids {
				e.srv.DB().Model(&models.Alert{}).Where("id = ?", id).Update("public_id", "alt_"+strings.Repeat(string(rune('a'+i)), 18)+"zzzzqq77")
			}
			if ans := e.command(t, "resolve qq77", slashToken); !strings.Contains(ans.Text, "matches several") {
				t.Errorf("ambiguous tail: %+v", ans)
			}
			if ans := e.command(t, "resolve alt_doesnotexist", slashToken); !strings.Contains(ans.Text, "no alert") {
				t.Errorf("unknown id: %+v", ans)
			}
			// Another team's alert is not found from this team's command.
			other := e.srv.NewClient()
			other.SignUp("Other", "other@example.com", password)
			theirInteg := other.CreateIntegration("Theirs", models.UrgencyLow)
			_, raw := webtest.Intake(t, e.srv.URL, theirInteg, "application/json", `{"text":"outage theirs","post_id":"t1"}`)
			var theirs mattermost.IntakeAnswer
			json.Unmarshal([]byte(raw), &theirs)
			if ans := e.command(t, "ack "+theirs.AlertID, slashToken); !strings.Contains(ans.Text, "no alert") {
				t.Errorf("another team's alert: %+v", ans)
			}
			var their models.Alert
			e.srv.DB().Where("public_id = ?", theirs.AlertID).First(&their)
			if their.Status != models.StatusOpen {
				t.Errorf("another team's alert was changed: %s", their.Status)
			}
			// Every command is in the request log, its token masked.
			var logs []models.IntegrationLog
			e.srv.DB().Joins("JOIN integrations ON integrations.id = integration_logs.integration_id").Where("integrations.public_id = ?", e.id).Find(&logs)
			if len(logs) < 14 {
				t.Errorf("%d request-log rows, want one per command", len(logs))
			}
			for _, l := range logs {
				if strings.Contains(l.Body, slashToken) {
					t.Fatalf("request log keeps the token: %s", l.Body)
				}
			}
		})
	}
}
