package web_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"klaxon/models"
	"klaxon/web"
	"klaxon/web/webtest"
)

// multipartBody is what `curl -F token=… -F text=…` sends.
func multipartBody(t *testing.T, fields ...string) (contentType, body string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		if err := w.WriteField(fields[i], fields[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), buf.String()
}

// TestTokenMaskedEverywhere sends an integration's saved token outside the
// token field, in every way a sender can: another key, another content type
// (refused bodies too), the content type itself, inside the text, escaped.
// The token shows nowhere: not in the request log, the stored raw request,
// the alert's fields, the pages, nor Klaxon's own log.
func TestTokenMaskedEverywhere(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		srv := webtest.Start(t, func(c *web.Config) { c.DatabaseURL = dbURL })
		cl := srv.NewClient()
		cl.SignUp("Ops", "ops@example.com", "correct horse battery")
		id := cl.CreateIntegration("Mattermost", models.UrgencyHigh)
		const token = "fsjg44c9ojduudat814ue9uf7y"
		cl.SetToken(id, token)
		escaped := `\u0066sjg44c9ojduudat814ue9uf7y` // "f" escaped

		mpType, mpBody := multipartBody(t, "token", token, "text", "x")
		requests := []struct {
			contentType, body string
			status            int
		}{
			{mpType, mpBody, http.StatusUnsupportedMediaType},
			{"application/json", `{"Token":"` + token + `","token":"` + token + `","text":"outage capital key","post_id":"a"}`, http.StatusOK},
			{"application/json", `{"Token":"` + token + `","text":"outage only capital key"}`, http.StatusForbidden},
			{"application/json", `{"token":"` + token + `","text":"outage leaked ` + token + ` in the title\nand ` + token + ` below","post_id":"b"}`, http.StatusOK},
			{"application/json", `{"token":"` + token + `","text":"outage escaped ` + escaped + `","post_id":"c","channel_name":"` + escaped + `"}`, http.StatusOK},
			{"application/x-www-form-urlencoded", "token=" + token + "&text=outage+form+" + token + "&user_name=%66sjg44c9ojduudat814ue9uf7y&post_id=d", http.StatusOK},
			{"application/json", `{"token":"` + token + `","text":"outage ` + strings.Repeat("long ", 60) + token + `","post_id":"e"}`, http.StatusOK},
			{"text/plain; x=" + token, "hello " + token, http.StatusUnsupportedMediaType},
			{"application/json", `{"token":"` + token + `","text":"` + token + `"`, http.StatusBadRequest},
		}
		for _, r := range requests {
			if status, raw := webtest.Intake(t, srv.URL, id, r.contentType, r.body); status != r.status {
				t.Fatalf("%s %q: %d %s, want %d", r.contentType, r.body, status, raw, r.status)
			}
		}

		leaks := func(s string) bool {
			return strings.Contains(s, token) || strings.Contains(s, escaped) || strings.Contains(s, "%66sjg")
		}
		var alerts []models.Alert
		srv.DB().Order("id").Find(&alerts)
		if len(alerts) != 5 {
			t.Fatalf("%d alerts, want 5", len(alerts))
		}
		for _, a := range alerts {
			if leaks(a.Title) || leaks(a.Description) || leaks(a.RawRequest) || leaks(a.DedupKey) ||
				leaks(a.AdditionalData.Channel) || leaks(a.AdditionalData.User) {
				t.Errorf("alert %s keeps the token: title %q description %q data %+v raw %q", a.PublicID, a.Title, a.Description, a.AdditionalData, a.RawRequest)
			}
		}
		if !strings.Contains(alerts[1].Title, "leaked ****uf7y in the title") {
			t.Errorf("the title does not show where the token was masked: %q", alerts[1].Title)
		}
		var logs []models.IntegrationLog
		srv.DB().Order("id").Find(&logs)
		if len(logs) != len(requests) {
			t.Fatalf("%d request-log rows, want %d", len(logs), len(requests))
		}
		for _, l := range logs {
			if leaks(l.Body) || leaks(l.Message) || leaks(l.ContentType) {
				t.Errorf("request-log row %d (%s) keeps the token: type %q message %q body %q", l.ID, l.Outcome, l.ContentType, l.Message, l.Body)
			}
		}
		if !strings.Contains(logs[0].Body, `name="text"`) {
			t.Errorf("the refused multipart body is not logged: %q", logs[0].Body)
		}

		pages := []string{"/alerts?status=all", "/integrations/" + id}
		for _, a := range alerts {
			pages = append(pages, "/alerts/"+a.PublicID)
		}
		cl.Get("/integrations/" + id).Doc.Find(`[data-testid="log-row"] a[href*="/logs/"]`).Each(func(_ int, s *goquery.Selection) {
			href, _ := s.Attr("href")
			pages = append(pages, href)
		})
		if want := 2 + len(alerts) + len(requests); len(pages) != want {
			t.Fatalf("%d pages to check, want %d", len(pages), want)
		}
		for _, path := range pages {
			p := cl.Get(path)
			if unescaped, _ := url.QueryUnescape(p.Body); p.Status != http.StatusOK || leaks(p.Body) || leaks(unescaped) {
				t.Errorf("GET %s: status %d, token shown", path, p.Status)
			}
		}
		if logs := srv.Logs.String(); leaks(logs) || !strings.Contains(logs, `"outcome":"unsupported_type"`) {
			t.Errorf("Klaxon's log shows the token (or logged no intake)")
		}
	})
}
