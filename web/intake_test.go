package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"klaxon/models"
	"klaxon/web"
	"klaxon/web/webtest"
)

// intakeEnv is a started Klaxon with a team and one integration.
type intakeEnv struct {
	srv    *webtest.Server
	client *webtest.Client
	id     string // the integration's public id
}

func newIntakeEnv(t *testing.T, dbURL string) *intakeEnv {
	t.Helper()
	srv := webtest.Start(t, func(c *web.Config) { c.DatabaseURL = dbURL })
	cl := srv.NewClient()
	cl.SignUp("Ops", "ops@example.com", "correct horse battery")
	id := cl.CreateIntegration("Mattermost #ops", models.UrgencyMedium)
	return &intakeEnv{srv: srv, client: cl, id: id}
}

func (e *intakeEnv) post(t *testing.T, contentType, body string) (int, map[string]any) {
	t.Helper()
	status, raw := webtest.Intake(t, e.srv.URL, e.id, contentType, body)
	var ans map[string]any
	if err := json.Unmarshal([]byte(raw), &ans); err != nil {
		t.Fatalf("answer is not JSON (status %d): %q", status, raw)
	}
	return status, ans
}

func (e *intakeEnv) alerts(t *testing.T) []models.Alert {
	t.Helper()
	var list []models.Alert
	if err := e.srv.DB().Order("id").Find(&list).Error; err != nil {
		t.Fatal(err)
	}
	return list
}

func (e *intakeEnv) logs(t *testing.T) []models.IntegrationLog {
	t.Helper()
	var list []models.IntegrationLog
	if err := e.srv.DB().Order("id").Find(&list).Error; err != nil {
		t.Fatal(err)
	}
	return list
}

// forEachDB runs f on SQLite and, when configured, on PostgreSQL.
func forEachDB(t *testing.T, f func(t *testing.T, dbURL string)) {
	for name, url := range webtest.Databases(t) {
		t.Run(name, func(t *testing.T) { f(t, url) })
	}
}

func TestIntakeSamples(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newIntakeEnv(t, dbURL)
		tests := []struct {
			file, title, desc string
			urgency           models.Urgency
			channel, user     string
		}{
			{"json-request.http", "alert disk full on db-1 & more", "", models.UrgencyMedium, "town-square", "admin"},
			{"form-request.http", "formalert cpu high", "formalert cpu high\nsecond line", models.UrgencyHigh, "town-square", "admin"},
			{"thread-reply.json", "alert reply in thread", "", models.UrgencyMedium, "town-square", "admin"},
			{"leading-spaces.json", "alert  leading spaces", "", models.UrgencyMedium, "town-square", "admin"},
			{"pagertree-fixture.json", "#page_noc cRitical outage on server-1", "", models.UrgencyCritical, "noc-ops-center", "joe.bob"},
		}
		for n, tt := range tests {
			status, ans := e.post(t, webtest.FixtureContentType(t, tt.file), webtest.Fixture(t, tt.file))
			if status != http.StatusOK {
				t.Fatalf("%s: status %d %v", tt.file, status, ans)
			}
			if ans["deduplicated"] != false || !strings.HasPrefix(ans["alert_id"].(string), "alt_") {
				t.Errorf("%s: answer %v", tt.file, ans)
			}
			if ans["response_type"] != "comment" || !strings.Contains(ans["text"].(string), ans["alert_id"].(string)) || !strings.Contains(ans["text"].(string), string(tt.urgency)) {
				t.Errorf("%s: reply in channel missing: %v", tt.file, ans)
			}
			alerts := e.alerts(t)
			if len(alerts) != n+1 {
				t.Fatalf("%s: %d alerts stored, want %d", tt.file, len(alerts), n+1)
			}
			a := alerts[n]
			if a.PublicID != ans["alert_id"] || a.Title != tt.title || a.Description != tt.desc || a.Urgency != tt.urgency || a.Status != models.StatusOpen {
				t.Errorf("%s: stored %q %q %q %q %q", tt.file, a.PublicID, a.Title, a.Description, a.Urgency, a.Status)
			}
			if data := a.AdditionalData; data.Field("Channel") != tt.channel || data.Field("User") != tt.user || data.Field("Post id") == "" || a.DedupKey != data.Field("Post id") {
				t.Errorf("%s: additional data %+v, dedup key %q", tt.file, a.AdditionalData, a.DedupKey)
			}
			if strings.Contains(a.RawRequest, "token") && (strings.Contains(a.RawRequest, "fsjg44c9ojduudat814ue9uf7y") || strings.Contains(a.RawRequest, "gptajz1zhb8upy615krfrr6ddo")) {
				t.Errorf("%s: raw request keeps the token: %s", tt.file, a.RawRequest)
			}
			var events []models.AlertEvent
			e.srv.DB().Where("alert_id = ?", a.ID).Find(&events)
			if len(events) != 1 || events[0].Kind != models.EventCreated {
				t.Errorf("%s: timeline %+v", tt.file, events)
			}
		}
		logs := e.logs(t)
		if len(logs) != len(tests) {
			t.Fatalf("%d log rows, want %d", len(logs), len(tests))
		}
		for _, l := range logs {
			if l.Outcome != models.OutcomeAccepted || l.Status != 200 || l.AlertPublicID == "" || l.Source != "127.0.0.1" || l.Body == "" {
				t.Errorf("log row %+v", l)
			}
			if strings.Contains(l.Body, "fsjg44c9ojduudat814ue9uf7y") || strings.Contains(l.Body, "gptajz1zhb8upy615krfrr6ddo") || strings.Contains(l.Body, `"abc123"`) {
				t.Errorf("log body keeps the token: %s", l.Body)
			}
		}
	})
}

// TestIntakeStatusTable has one case per row of DESIGN.md's status table,
// each checking the answer, the alerts and the request log.
func TestIntakeStatusTable(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newIntakeEnv(t, dbURL)
		sample := webtest.Fixture(t, "json-request.http")
		const ct = "application/json"

		expectRefused := func(t *testing.T, status, wantStatus int, ans map[string]any, alertsBefore, logsBefore int, outcome models.Outcome) {
			t.Helper()
			if status != wantStatus {
				t.Errorf("status %d, want %d (%v)", status, wantStatus, ans)
			}
			msg, _ := ans["error"].(string)
			if len(msg) < 10 {
				t.Errorf("error message %q does not explain", msg)
			}
			if _, ok := ans["text"]; ok {
				t.Errorf("an error answer must carry no text (Mattermost would post it): %v", ans)
			}
			if n := len(e.alerts(t)); n != alertsBefore {
				t.Errorf("%d alerts, want %d", n, alertsBefore)
			}
			logs := e.logs(t)
			if outcome == "" {
				if len(logs) != logsBefore {
					t.Errorf("%d log rows, want %d", len(logs), logsBefore)
				}
				return
			}
			if len(logs) != logsBefore+1 {
				t.Fatalf("%d log rows, want %d", len(logs), logsBefore+1)
			}
			if l := logs[len(logs)-1]; l.Outcome != outcome || l.Status != wantStatus || l.Message == "" {
				t.Errorf("log row %+v, want outcome %s status %d", l, outcome, wantStatus)
			}
		}

		// Accepted, then redelivered while open.
		status, ans := e.post(t, ct, sample)
		if status != 200 || ans["deduplicated"] != false {
			t.Fatalf("first delivery: %d %v", status, ans)
		}
		first := ans["alert_id"]
		status, ans = e.post(t, ct, sample)
		if status != 200 || ans["deduplicated"] != true || ans["alert_id"] != first {
			t.Fatalf("redelivery: %d %v", status, ans)
		}
		if _, ok := ans["text"]; ok {
			t.Errorf("a redelivery must not post again in the channel: %v", ans)
		}
		alerts := e.alerts(t)
		if len(alerts) != 1 || alerts[0].DedupCount != 1 {
			t.Fatalf("after a redelivery: %d alerts, dedup count %d", len(alerts), alerts[0].DedupCount)
		}
		if l := e.logs(t); len(l) != 2 || l[1].Outcome != models.OutcomeDeduplicated || l[1].AlertPublicID != first {
			t.Errorf("redelivery log row %+v", l[len(l)-1])
		}

		// Once the alert is resolved, the same post opens a new alert.
		if err := e.srv.DB().Model(&models.Alert{}).Where("public_id = ?", first).Update("status", models.StatusResolved).Error; err != nil {
			t.Fatal(err)
		}
		status, ans = e.post(t, ct, sample)
		if status != 200 || ans["deduplicated"] != false || ans["alert_id"] == first {
			t.Fatalf("delivery after resolve: %d %v", status, ans)
		}

		nAlerts, nLogs := len(e.alerts(t)), len(e.logs(t))
		t.Run("malformed JSON", func(t *testing.T) {
			status, ans := e.post(t, ct, `{"text": "outage db-1`)
			expectRefused(t, status, 400, ans, nAlerts, nLogs, models.OutcomeInvalid)
			nLogs++
		})
		t.Run("truncated form", func(t *testing.T) {
			status, ans := e.post(t, "application/x-www-form-urlencoded", "channel_id=c&text=outage%2")
			expectRefused(t, status, 400, ans, nAlerts, nLogs, models.OutcomeInvalid)
			nLogs++
		})
		t.Run("missing text", func(t *testing.T) {
			status, ans := e.post(t, ct, `{"token":"x","trigger_word":"outage"}`)
			expectRefused(t, status, 400, ans, nAlerts, nLogs, models.OutcomeInvalid)
			if !strings.Contains(ans["error"].(string), "text") {
				t.Errorf("the error should name the text field: %v", ans)
			}
			nLogs++
		})
		t.Run("body over 1 MiB", func(t *testing.T) {
			body := `{"text":"` + strings.Repeat("a", 1<<20) + `"}`
			status, ans := e.post(t, ct, body)
			expectRefused(t, status, 413, ans, nAlerts, nLogs, models.OutcomeTooLarge)
			nLogs++
		})
		t.Run("1 MiB plus one byte", func(t *testing.T) {
			prefix, suffix := `{"text":"outage `, `"}`
			body := prefix + strings.Repeat("a", 1<<20+1-len(prefix)-len(suffix)) + suffix
			if len(body) != 1<<20+1 {
				t.Fatalf("body is %d bytes", len(body))
			}
			status, ans := e.post(t, ct, body)
			expectRefused(t, status, 413, ans, nAlerts, nLogs, models.OutcomeTooLarge)
			nLogs++
		})
		t.Run("text/plain", func(t *testing.T) {
			status, ans := e.post(t, "text/plain", "outage db-1")
			expectRefused(t, status, 415, ans, nAlerts, nLogs, models.OutcomeUnsupported)
			nLogs++
		})
		t.Run("unknown id", func(t *testing.T) {
			for _, id := range []string{"int_aaaaaaaaaaaaaaaaaaaaaaaaaa", "nonsense", "int_" + strings.Repeat("Z", 26)} {
				status, raw := webtest.Intake(t, e.srv.URL, id, ct, sample)
				var ans map[string]any
				json.Unmarshal([]byte(raw), &ans)
				expectRefused(t, status, 404, ans, nAlerts, nLogs, "")
			}
		})

		// The token rows: set a token through Edit → Update.
		const token = "fsjg44c9ojduudat814ue9uf7y"
		e.client.SetToken(e.id, "someothertoken1234567890ab")
		t.Run("wrong token", func(t *testing.T) {
			status, ans := e.post(t, ct, strings.Replace(sample, `"post_id":"64jb`, `"post_id":"x4jb`, 1))
			expectRefused(t, status, 403, ans, nAlerts, nLogs, models.OutcomeBadToken)
			nLogs++
		})
		t.Run("missing token", func(t *testing.T) {
			status, ans := e.post(t, ct, `{"text":"outage db-1 is down","post_id":"nt1"}`)
			expectRefused(t, status, 403, ans, nAlerts, nLogs, models.OutcomeBadToken)
			nLogs++
		})
		e.client.SetToken(e.id, token)
		t.Run("right token", func(t *testing.T) {
			status, ans := e.post(t, ct, strings.Replace(sample, `"post_id":"64jb`, `"post_id":"y4jb`, 1))
			if status != 200 || ans["deduplicated"] != false {
				t.Fatalf("right token: %d %v", status, ans)
			}
			nAlerts++
			nLogs++
			if n := len(e.alerts(t)); n != nAlerts {
				t.Errorf("%d alerts, want %d", n, nAlerts)
			}
		})

		// Disabled integration.
		if err := e.srv.DB().SetIntegrationEnabled(context.Background(), e.alerts(t)[0].AccountID, e.id, false); err != nil {
			t.Fatal(err)
		}
		t.Run("disabled", func(t *testing.T) {
			status, ans := e.post(t, ct, strings.Replace(sample, `"post_id":"64jb`, `"post_id":"z4jb`, 1))
			expectRefused(t, status, 409, ans, nAlerts, nLogs, models.OutcomeDisabled)
		})
	})
}

// A 2xx means the alert is on disk: close everything, reopen the file, and
// the alert is there.
func TestIntakeSurvivesReopen(t *testing.T) {
	dbURL := webtest.SQLiteURL(t)
	srv := webtest.Start(t, func(c *web.Config) { c.DatabaseURL = dbURL })
	cl := srv.NewClient()
	cl.SignUp("Ops", "ops@example.com", "correct horse battery")
	id := cl.CreateIntegration("Mattermost", models.UrgencyLow)
	status, raw := webtest.Intake(t, srv.URL, id, "application/x-www-form-urlencoded", webtest.Fixture(t, "form-request.http"))
	if status != 200 {
		t.Fatalf("status %d: %s", status, raw)
	}
	var ans struct {
		AlertID string `json:"alert_id"`
	}
	json.Unmarshal([]byte(raw), &ans)

	db := webtest.OpenDB(t, dbURL) // a second, independent connection pool
	var a models.Alert
	if err := db.Where("public_id = ?", ans.AlertID).First(&a).Error; err != nil {
		t.Fatalf("alert %s not found by a fresh connection: %v", ans.AlertID, err)
	}
	if a.Title != "formalert cpu high" || a.Urgency != models.UrgencyHigh {
		t.Errorf("stored %q %q", a.Title, a.Urgency)
	}
}

func TestIntakeReplyInChannelOff(t *testing.T) {
	e := newIntakeEnv(t, webtest.SQLiteURL(t))
	edit := e.client.Get("/integrations/" + e.id + "/edit")
	p := e.client.Post("/integrations/"+e.id, map[string][]string{
		"_csrf": {edit.CSRF()}, "name": {"Quiet"}, "default_urgency": {"low"}, "reply_in_channel_present": {"1"},
	})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("update: %d %s", p.Status, p.Body)
	}
	status, ans := e.post(t, "application/json", webtest.Fixture(t, "thread-reply.json"))
	if status != 200 || ans["alert_id"] == nil {
		t.Fatalf("%d %v", status, ans)
	}
	if _, ok := ans["text"]; ok {
		t.Errorf("reply in channel is off, but the answer has text: %v", ans)
	}
	if ans["urgency"] != "low" {
		t.Errorf("default urgency not applied: %v", ans)
	}
}

func TestIntakeOtherMethods(t *testing.T) {
	e := newIntakeEnv(t, webtest.SQLiteURL(t))
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		req, _ := http.NewRequest(method, e.srv.URL+"/integration/"+e.id, strings.NewReader(`{"text":"outage"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var ans map[string]any
		err = json.NewDecoder(resp.Body).Decode(&ans)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || err != nil || ans["error"] == nil || resp.Header.Get("Allow") != "POST" {
			t.Errorf("%s: %d %v %v", method, resp.StatusCode, ans, err)
		}
	}
	if n := len(e.alerts(t)); n != 0 {
		t.Errorf("%d alerts from other methods", n)
	}
}

func TestHealthz(t *testing.T) {
	srv := webtest.Start(t)
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
	srv.DB().Close()
	resp, err = http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("healthz with the database closed: %d, want 503", resp.StatusCode)
	}
}
