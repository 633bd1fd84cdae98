package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"klaxon/models"
	"klaxon/web"
	"klaxon/web/webtest"
)

// Markup that must stay text: each would run script or create an element if
// a page inserted it as HTML.
var hostile = struct{ title, second, channel, user, trigger, team, integration, body string }{
	title:       `<script>alert('title')</script> outage <img src=x onerror=alert('img')>`,
	second:      `second line <iframe src="javascript:alert('frame')"></iframe>`,
	channel:     `<script>alert('channel')</script>`,
	user:        `<img src=y onerror=alert('user')>`,
	trigger:     `<svg onload=alert('trigger')>`,
	team:        `"><script>alert('team')</script>`,
	integration: `<b onmouseover=alert('integration')>MM</b>`,
	body:        `<script>alert('log')</script>`,
}

// rawMarkup is what an unescaped hostile string looks like in HTML.
var rawMarkup = regexp.MustCompile(`<(script|img|iframe|svg|b)[ >][^<]*(alert|src=[xy])`)

// checkNoMarkup fails when a page holds an element or attribute made from
// hostile input.
func checkNoMarkup(t *testing.T, path string, p *webtest.Page) {
	t.Helper()
	if p.Status != http.StatusOK {
		t.Fatalf("GET %s: %d", path, p.Status)
	}
	if m := rawMarkup.FindString(p.Body); m != "" {
		t.Errorf("%s: unescaped markup in the HTML: %q", path, m)
	}
	p.Doc.Find("*").Each(func(_ int, s *goquery.Selection) {
		name := goquery.NodeName(s)
		for _, a := range s.Nodes[0].Attr {
			// Hostile text inside an ordinary attribute value is harmless;
			// an event handler or a javascript: link is not.
			key, val := strings.ToLower(a.Key), strings.ToLower(strings.TrimSpace(a.Val))
			if strings.HasPrefix(key, "on") || (key == "href" || key == "src" || key == "action") && strings.HasPrefix(val, "javascript:") {
				t.Errorf("%s: <%s %s=%q> came from hostile input", path, name, a.Key, a.Val)
			}
		}
		switch name {
		case "iframe":
			t.Errorf("%s: an iframe was created from hostile input", path)
		case "b":
			if strings.Contains(s.Text(), "MM") {
				t.Errorf("%s: a <b> element was created from hostile input", path)
			}
		case "script":
			if src, _ := s.Attr("src"); !strings.HasPrefix(src, "/static/") || strings.TrimSpace(s.Text()) != "" {
				t.Errorf("%s: inline or foreign script %q", path, src)
			}
		case "img":
			if src, _ := s.Attr("src"); !strings.HasPrefix(src, "/static/") && !strings.HasPrefix(src, "data:") {
				t.Errorf("%s: image from hostile input, src %q", path, src)
			}
		}
	})
}

func TestHostileContentIsShownAsText(t *testing.T) {
	srv := webtest.Start(t)
	cl := srv.NewClient()
	cl.SignUp(hostile.team, "ops@example.com", "correct horse battery")
	id := cl.CreateIntegration(hostile.integration, models.UrgencyHigh)

	body, _ := json.Marshal(map[string]string{"text": hostile.title + "\n" + hostile.second, "post_id": "p1",
		"channel_name": hostile.channel, "user_name": hostile.user, "trigger_word": hostile.trigger, "team_domain": hostile.team})
	status, raw := webtest.Intake(t, srv.URL, id, "application/json", string(body))
	var ans struct {
		AlertID string `json:"alert_id"`
	}
	if json.Unmarshal([]byte(raw), &ans); status != http.StatusOK || ans.AlertID == "" {
		t.Fatalf("intake: %d %s", status, raw)
	}
	form := url.Values{"text": {hostile.title}, "channel_name": {hostile.channel}, "user_name": {hostile.user}, "post_id": {"p2"}}
	if status, raw := webtest.Intake(t, srv.URL, id, "application/x-www-form-urlencoded", form.Encode()); status != http.StatusOK {
		t.Fatalf("form intake: %d %s", status, raw)
	}
	// Refused requests put the body and a message quoting it in the log.
	if status, _ := webtest.Intake(t, srv.URL, id, "application/json", hostile.body); status != http.StatusBadRequest {
		t.Fatalf("invalid JSON: %d", status)
	}
	if status, _ := webtest.Intake(t, srv.URL, id, `text/html; x="<script>alert('type')</script>"`, hostile.body); status != http.StatusUnsupportedMediaType {
		t.Fatalf("HTML body: %d", status)
	}

	pages := []string{"/alerts", "/alerts?status=all", "/alerts/rows?status=active", "/alerts/" + ans.AlertID, "/integrations", "/integrations/" + id, "/integrations/" + id + "/edit", "/team"}
	integ := cl.Get("/integrations/" + id)
	integ.Doc.Find(`[data-testid="log-row"] a[href*="/logs/"]`).Each(func(_ int, s *goquery.Selection) {
		href, _ := s.Attr("href")
		pages = append(pages, href)
	})
	if len(pages) != 8+4 {
		t.Fatalf("the request log links %d requests, want 4", len(pages)-8)
	}
	seen := map[string]bool{}
	for _, path := range pages {
		p := cl.Get(path)
		checkNoMarkup(t, path, p)
		text := p.Doc.Text()
		for name, s := range map[string]string{"title": hostile.title, "channel": hostile.channel, "user": hostile.user, "log body": hostile.body} {
			if strings.Contains(text, s) {
				seen[name] = true
			}
		}
	}
	// The hostile strings are there, as text.
	alert := cl.Get("/alerts/" + ans.AlertID)
	if got := alert.Text(`h1[data-testid="alert-title"]`); got != hostile.title {
		t.Errorf("alert title shown as %q, want the text %q", got, hostile.title)
	}
	if data := alert.Text(`[data-testid="additional-data"]`); !strings.Contains(data, hostile.channel) || !strings.Contains(data, hostile.user) || !strings.Contains(data, hostile.trigger) {
		t.Errorf("additional data does not show channel, user and trigger as text: %q", data)
	}
	if !strings.Contains(alert.Text(`[data-testid="alert-description"]`), hostile.second) {
		t.Errorf("description does not show the second line as text")
	}
	for _, name := range []string{"title", "channel", "user", "log body"} {
		if !seen[name] {
			t.Errorf("the %s is shown on no page as text", name)
		}
	}
	if rows := cl.Get("/alerts").Doc.Find(`[data-testid="alert-row"]`).Length(); rows != 2 {
		t.Errorf("alert list has %d rows, want 2", rows)
	}
}

func TestTokenNeverShown(t *testing.T) {
	srv := webtest.Start(t)
	cl := srv.NewClient()
	cl.SignUp("Ops", "ops@example.com", "correct horse battery")
	id := cl.CreateIntegration("Mattermost", models.UrgencyHigh)
	token := "tok" + models.RandomToken(16)
	cl.SetToken(id, token)

	requests := []struct {
		contentType, body string
		status            int
	}{
		{"application/json", `{"token":"` + token + `","text":"outage json","post_id":"a"}`, 200},
		{"application/json", `{"\u0074oken":"` + token + `","text":"outage escaped key","post_id":"b"}`, 200},
		{"application/json", `{"token" : "` + token + `" , "text":"outage spaced","post_id":"c"}`, 200},
		{"application/x-www-form-urlencoded", "token=" + token + "&text=outage+form&post_id=d", 200},
		{"application/x-www-form-urlencoded", "tok%65n=" + token + "&text=outage+encoded+key&post_id=e", 200},
		{"application/json", `{"token":"` + token + `","text":"outage again","post_id":"a"}`, 200}, // redelivery
		{"application/json", `{"token":"wrong-` + token[:10] + `","text":"outage wrong"}`, 403},
		{"application/json", `{"token":"` + token + `","text":`, 400},
		{"text/plain", "token=" + token, 415},
	}
	for _, r := range requests {
		if status, raw := webtest.Intake(t, srv.URL, id, r.contentType, r.body); status != r.status {
			t.Fatalf("%s %q: %d %s, want %d", r.contentType, r.body, status, raw, r.status)
		}
	}
	test := cl.Submit("/integrations/"+id, "/integrations/"+id+"/test", nil)
	if test.Status != http.StatusSeeOther || !strings.HasPrefix(test.Location, "/alerts/alt_") {
		t.Fatalf("send test alert: %d %s", test.Status, test.Location)
	}

	pages := []string{"/alerts", "/alerts?status=all", "/alerts/rows?status=active", "/integrations", "/integrations/" + id, "/integrations/" + id + "/edit", "/team"}
	cl.Get("/alerts?status=all").Doc.Find(`[data-testid="alert-row"] a[href^="/alerts/"]`).Each(func(_ int, s *goquery.Selection) {
		href, _ := s.Attr("href")
		pages = append(pages, href)
	})
	cl.Get("/integrations/" + id).Doc.Find(`[data-testid="log-row"] a[href*="/logs/"]`).Each(func(_ int, s *goquery.Selection) {
		href, _ := s.Attr("href")
		pages = append(pages, href)
	})
	if want := 7 + 6 + len(requests) + 1; len(pages) != want {
		t.Fatalf("%d pages to check, want %d (6 alerts, %d logged requests)", len(pages), want, len(requests)+1)
	}
	for _, path := range pages {
		if p := cl.Get(path); p.Status != http.StatusOK || strings.Contains(p.Body, token) {
			t.Errorf("GET %s: status %d, token shown: %v", path, p.Status, strings.Contains(p.Body, token))
		}
	}
	if masked := cl.Get("/integrations/" + id).Text(`[data-testid="masked-token"]`); !strings.HasSuffix(masked, token[len(token)-4:]) {
		t.Errorf("masked token %q should end with the token's last four characters", masked)
	}
	var leaks int64
	srv.DB().Model(&models.Alert{}).Where("raw_request LIKE ?", "%"+token+"%").Count(&leaks)
	var logLeaks int64
	srv.DB().Model(&models.IntegrationLog{}).Where("body LIKE ? OR message LIKE ?", "%"+token+"%", "%"+token+"%").Count(&logLeaks)
	if leaks+logLeaks != 0 {
		t.Errorf("token stored in clear: %d alerts, %d request-log rows", leaks, logLeaks)
	}
	if logs := srv.Logs.String(); strings.Contains(logs, token) || !strings.Contains(logs, `"outcome":"accepted"`) {
		t.Errorf("server log shows the token (or logged no intake at all)")
	}
}

// TestHostileBytesDoNotFailOtherRequests sends NUL characters, invalid
// UTF-8, over-long ids and odd content types among ordinary deliveries: the
// odd ones are stored or refused on their own, and never take the ordinary
// ones of the same group commit down with them (PostgreSQL refuses such
// text, and one failed row used to fail the whole batch).
func TestHostileBytesDoNotFailOtherRequests(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		srv := webtest.Start(t, func(c *web.Config) { c.DatabaseURL = dbURL; c.RateLimit = 0 })
		cl := srv.NewClient()
		cl.SignUp("Ops", "ops@example.com", "correct horse battery")
		id := cl.CreateIntegration("Mattermost", models.UrgencyHigh)
		odd := []struct{ contentType, body string }{
			{"application/json", "\x85"},
			{"application/json", `{"text":"outage a\u0000b","post_id":"x\u0000y","channel_name":"\u0000"}`},
			{"application/json", `{"text":"outage long id","post_id":"` + strings.Repeat("p", 400) + `"}`},
			{"application/x-www-form-urlencoded", "text=outage&channel_name=%FF%00&user_name=\xff"},
			{"application/x-www-form-urlencoded", "text=outage&x=\xff\x00"},
			{"application/json; charset=\xff", `{"text":"outage odd type"}`},
			{"text/plain", "\xff\x00"},
		}
		var wg sync.WaitGroup
		for round := range 3 {
			for i, o := range odd {
				wg.Add(2)
				go func() {
					defer wg.Done()
					if status, raw := webtest.Intake(t, srv.URL, id, o.contentType, o.body); status >= 500 {
						t.Errorf("odd request %d %q: %d %s", i, o.body, status, raw)
					}
				}()
				go func() {
					defer wg.Done()
					body := fmt.Sprintf(`{"text":"outage ordinary","post_id":"ok-%d-%d"}`, round, i)
					if status, raw := webtest.Intake(t, srv.URL, id, "application/json", body); status != http.StatusOK {
						t.Errorf("ordinary request beside odd ones: %d %s", status, raw)
					}
				}()
			}
			wg.Wait()
		}
		var ordinary int64
		srv.DB().Model(&models.Alert{}).Where("dedup_key LIKE ?", "ok-%").Count(&ordinary)
		if ordinary != int64(3*len(odd)) {
			t.Errorf("%d ordinary alerts stored, want %d", ordinary, 3*len(odd))
		}
	})
}
