package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"klaxon/models"
	"klaxon/web/webtest"
)

func signedIn(t *testing.T) (*webtest.Server, *webtest.Client) {
	t.Helper()
	srv := webtest.Start(t)
	cl := srv.NewClient()
	cl.SignUp("Ops", "ops@example.com", password)
	return srv, cl
}

func TestCreateIntegrationFromCatalog(t *testing.T) {
	srv, cl := signedIn(t)
	empty := cl.Get("/integrations")
	if empty.Doc.Find(".empty").Length() != 1 || empty.Doc.Find(`.empty a[href="/integrations/new"]`).Length() != 1 {
		t.Errorf("the empty list should explain and offer New integration")
	}
	catalog := cl.Get("/integrations/new")
	card := catalog.Doc.Find(`a[data-testid="kind-mattermost"]`)
	if card.Length() != 1 || card.Find(`img[src="/static/mattermost.svg"]`).Length() != 1 || !strings.Contains(card.Text(), "Mattermost (Outgoing Webhook)") {
		t.Fatalf("catalog card missing or without the logo:\n%s", catalog.Body)
	}
	href, _ := card.Attr("href")
	form := cl.Get(href)
	if form.Status != 200 || form.Doc.Find(`form[action="/integrations"] select[name="default_urgency"] option`).Length() != 4 {
		t.Fatalf("form page %s: %d", href, form.Status)
	}
	if _, checked := form.Doc.Find(`input[name="reply_in_channel"]`).Attr("checked"); !checked {
		t.Errorf("reply in channel should be on by default")
	}
	p := cl.Post("/integrations", url.Values{"_csrf": {form.CSRF()}, "name": {"Mattermost #ops"}, "default_urgency": {"critical"},
		"reply_in_channel_present": {"1"}, "reply_in_channel": {"1"}, "site_url": {"https://chat.example.com/"}})
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/integrations/int_") {
		t.Fatalf("save: %d → %q", p.Status, p.Location)
	}
	id := strings.TrimPrefix(p.Location, "/integrations/")
	if !models.LooksLikePublicID(id, "int_") {
		t.Errorf("public id %q is not int_ + 26 base32 characters", id)
	}
	page := cl.Get(p.Location)
	endpoint := page.Text(`[data-testid="endpoint-url"]`)
	if endpoint != srv.URL+"/integration/"+id {
		t.Errorf("endpoint URL %q, want %q", endpoint, srv.URL+"/integration/"+id)
	}
	if page.Doc.Find(`button[data-copy-target="endpoint-url"]`).Length() != 1 {
		t.Errorf("no Copy button")
	}
	if !strings.Contains(page.Text(".steps"), endpoint) || !strings.Contains(page.Text(".steps"), "application/json") {
		t.Errorf("set-up steps do not carry the endpoint URL")
	}
	if !strings.Contains(page.Text(".flash"), "created") {
		t.Errorf("no confirmation after saving")
	}
	var i models.Integration
	srv.DB().Where("public_id = ?", id).First(&i)
	if i.Name != "Mattermost #ops" || i.DefaultUrgency != models.UrgencyCritical || !i.Enabled || !i.ReplyInChannel || i.SiteURL != "https://chat.example.com" || i.Kind != models.KindMattermostOutgoing {
		t.Errorf("stored %+v", i)
	}
	list := cl.Get("/integrations")
	row := list.Doc.Find(`[data-testid="integration-row"]`)
	if row.Length() != 1 || !strings.Contains(row.Text(), "Mattermost #ops") || !strings.Contains(row.Text(), "None yet") {
		t.Errorf("list row: %q", row.Text())
	}
}

func TestIntegrationValidation(t *testing.T) {
	srv, cl := signedIn(t)
	for _, tt := range []struct {
		field string
		form  url.Values
	}{
		{"name", url.Values{"name": {"  "}, "default_urgency": {"low"}}},
		{"name", url.Values{"name": {strings.Repeat("n", 101)}, "default_urgency": {"low"}}},
		{"default_urgency", url.Values{"name": {"x"}, "default_urgency": {"urgent"}}},
		{"site_url", url.Values{"name": {"x"}, "default_urgency": {"low"}, "site_url": {"chat.example.com"}}},
		{"site_url", url.Values{"name": {"x"}, "default_urgency": {"low"}, "site_url": {"javascript:alert(1)"}}},
	} {
		p := cl.Submit("/integrations/new/mattermost", "/integrations", tt.form)
		if p.Status != http.StatusUnprocessableEntity || p.Text("#err-"+tt.field) == "" {
			t.Errorf("%v: %d, error next to %s: %q", tt.form, p.Status, tt.field, p.Text("#err-"+tt.field))
		}
	}
	var n int64
	srv.DB().Model(&models.Integration{}).Count(&n)
	if n != 0 {
		t.Errorf("%d integrations stored from invalid forms", n)
	}
}

func TestEditTokenProtectsEndpoint(t *testing.T) {
	srv, cl := signedIn(t)
	id := cl.CreateIntegration("MM", models.UrgencyLow)
	sample := webtest.Fixture(t, "json-request.http") // carries Mattermost's token
	const token = "fsjg44c9ojduudat814ue9uf7y"

	edit := cl.Get("/integrations/" + id + "/edit")
	if edit.Doc.Find(`input[name="token"]`).Length() != 1 || !strings.Contains(edit.Doc.Find(`button[type="submit"]`).Text(), "Update") {
		t.Fatalf("edit page has no Token field or Update button")
	}
	cl.SetToken(id, token)
	page := cl.Get("/integrations/" + id)
	if !strings.Contains(page.Text(".flash"), "token") {
		t.Errorf("no confirmation that the token now protects the endpoint: %q", page.Text(".flash"))
	}
	if masked := page.Text(`[data-testid="masked-token"]`); masked == "" || strings.Contains(masked, token) || !strings.HasSuffix(masked, token[len(token)-4:]) {
		t.Errorf("masked token %q", masked)
	}

	noToken := strings.Replace(sample, `"token":"`+token+`",`, "", 1)
	if status, body := webtest.Intake(t, srv.URL, id, "application/json", noToken); status != http.StatusForbidden {
		t.Errorf("without the token: %d %s", status, body)
	}
	wrong := strings.Replace(sample, token, "aaaaaaaaaaaaaaaaaaaaaaaaaa", 1)
	if status, body := webtest.Intake(t, srv.URL, id, "application/json", wrong); status != http.StatusForbidden {
		t.Errorf("wrong token: %d %s", status, body)
	}
	if status, body := webtest.Intake(t, srv.URL, id, "application/json", sample); status != http.StatusOK {
		t.Errorf("right token: %d %s", status, body)
	}
	// The form body carries its own token: refused now.
	if status, _ := webtest.Intake(t, srv.URL, id, "application/x-www-form-urlencoded", webtest.Fixture(t, "form-request.http")); status != http.StatusForbidden {
		t.Errorf("another hook's token: %d", status)
	}

	// The whole token never appears in any page once saved.
	var logs []models.IntegrationLog
	srv.DB().Find(&logs)
	var alert models.Alert
	srv.DB().First(&alert)
	pages := []string{"/integrations", "/integrations/" + id, "/integrations/" + id + "/edit", "/alerts", "/alerts?status=all", "/alerts/" + alert.PublicID}
	for _, l := range logs {
		pages = append(pages, "/integrations/"+id+"/logs/"+itoa(l.ID))
	}
	for _, path := range pages {
		p := cl.Get(path)
		if p.Status != 200 {
			t.Errorf("GET %s: %d", path, p.Status)
		}
		if strings.Contains(p.Body, token) {
			t.Errorf("GET %s shows the whole token", path)
		}
	}

	// A blank token keeps it; "remove token" clears it.
	edit = cl.Get("/integrations/" + id + "/edit")
	keep := cl.Post("/integrations/"+id, url.Values{"_csrf": {edit.CSRF()}, "name": {"Renamed"}, "default_urgency": {"high"}, "token": {""}, "reply_in_channel_present": {"1"}})
	if keep.Status != http.StatusSeeOther {
		t.Fatalf("update: %d %s", keep.Status, keep.Body)
	}
	var i models.Integration
	srv.DB().Where("public_id = ?", id).First(&i)
	if i.Token != token || i.Name != "Renamed" || i.DefaultUrgency != models.UrgencyHigh || i.ReplyInChannel {
		t.Errorf("after a blank token: %+v", i)
	}
	edit = cl.Get("/integrations/" + id + "/edit")
	if edit.Doc.Find(`input[name="remove_token"]`).Length() != 1 {
		t.Fatalf("no remove-token choice")
	}
	cl.Post("/integrations/"+id, url.Values{"_csrf": {edit.CSRF()}, "name": {"Renamed"}, "default_urgency": {"high"}, "remove_token": {"1"}, "reply_in_channel_present": {"1"}})
	srv.DB().Where("public_id = ?", id).First(&i)
	if i.Token != "" {
		t.Errorf("token not removed")
	}
	if status, _ := webtest.Intake(t, srv.URL, id, "application/json", noToken); status != http.StatusOK {
		t.Errorf("without a token after removing it: %d", status)
	}

	bad := cl.Submit("/integrations/"+id+"/edit", "/integrations/"+id, url.Values{"name": {""}, "default_urgency": {"high"}, "token": {"has space"}})
	if bad.Status != 422 || bad.Text("#err-name") == "" || bad.Text("#err-token") == "" {
		t.Errorf("edit validation: %d name %q token %q", bad.Status, bad.Text("#err-name"), bad.Text("#err-token"))
	}
	short := cl.Submit("/integrations/"+id+"/edit", "/integrations/"+id, url.Values{"name": {"MM"}, "default_urgency": {"high"}, "token": {"abc123"}})
	if short.Status != 422 || !strings.Contains(short.Text("#err-token"), "too short") {
		t.Errorf("a guessable token: %d, error %q; want 422 and a message next to the field", short.Status, short.Text("#err-token"))
	}
}

func TestDisableEnableDelete(t *testing.T) {
	srv, cl := signedIn(t)
	id := cl.CreateIntegration("MM", models.UrgencyLow)
	sample := webtest.Fixture(t, "thread-reply.json")
	if status, _ := webtest.Intake(t, srv.URL, id, "application/json", sample); status != 200 {
		t.Fatalf("intake %d", status)
	}
	if p := cl.Submit("/integrations/"+id, "/integrations/"+id+"/disable", nil); p.Status != http.StatusSeeOther {
		t.Fatalf("disable: %d", p.Status)
	}
	page := cl.Get("/integrations/" + id)
	if !strings.Contains(page.Text("h1"), "Disabled") || page.Doc.Find(`form[action$="/enable"]`).Length() != 1 {
		t.Errorf("disabled integration page: %q", page.Text("h1"))
	}
	if status, _ := webtest.Intake(t, srv.URL, id, "application/json", strings.Replace(sample, "br43", "cr43", 1)); status != http.StatusConflict {
		t.Errorf("disabled: %d, want 409", status)
	}
	cl.Submit("/integrations/"+id, "/integrations/"+id+"/enable", nil)
	if status, _ := webtest.Intake(t, srv.URL, id, "application/json", strings.Replace(sample, "br43", "dr43", 1)); status != http.StatusOK {
		t.Errorf("enabled again: %d, want 200", status)
	}

	confirm := cl.Get("/integrations/" + id + "/delete")
	if confirm.Status != 200 || confirm.Doc.Find(`form[action="/integrations/`+id+`/delete"] button`).Length() != 1 {
		t.Fatalf("no confirmation page before deleting")
	}
	if p := cl.Post("/integrations/"+id+"/delete", url.Values{"_csrf": {confirm.CSRF()}}); p.Status != http.StatusSeeOther || p.Location != "/integrations" {
		t.Fatalf("delete: %d → %q", p.Status, p.Location)
	}
	if status, _ := webtest.Intake(t, srv.URL, id, "application/json", strings.Replace(sample, "br43", "er43", 1)); status != http.StatusNotFound {
		t.Errorf("deleted: %d, want 404", status)
	}
	if p := cl.Get("/integrations/" + id); p.Status != http.StatusNotFound {
		t.Errorf("deleted integration page: %d", p.Status)
	}
	list := cl.Get("/alerts?status=all")
	rows := list.Doc.Find(`[data-testid="alert-row"]`)
	if rows.Length() != 2 || !strings.Contains(rows.Text(), "(deleted)") {
		t.Errorf("alerts of a deleted integration: %d rows %q", rows.Length(), rows.Text())
	}
	var a models.Alert
	srv.DB().First(&a)
	if p := cl.Get("/alerts/" + a.PublicID); p.Status != 200 {
		t.Errorf("alert of a deleted integration: %d", p.Status)
	}
}

func TestSendTestAlert(t *testing.T) {
	srv, cl := signedIn(t)
	id := cl.CreateIntegration("MM", models.UrgencyMedium)
	cl.SetToken(id, "tok1234567890abcdefghijklm")
	p := cl.Submit("/integrations/"+id, "/integrations/"+id+"/test", nil)
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/alerts/alt_") {
		t.Fatalf("test alert: %d → %q", p.Status, p.Location)
	}
	alert := cl.Get(p.Location)
	if !strings.Contains(alert.Text(`[data-testid="alert-title"]`), "Test alert") {
		t.Errorf("test alert page: %q", alert.Text("h1"))
	}
	var logs []models.IntegrationLog
	srv.DB().Find(&logs)
	if len(logs) != 1 || logs[0].Outcome != models.OutcomeAccepted || "/alerts/"+logs[0].AlertPublicID != p.Location {
		t.Errorf("test alert log rows: %+v", logs)
	}
	page := cl.Get("/integrations/" + id)
	if page.Doc.Find(`[data-testid="log-row"]`).Length() != 1 || !strings.Contains(page.Text(".card"), "Test alert") {
		t.Errorf("integration page does not show the test alert and its request")
	}
	other := cl.CreateIntegration("Quiet", models.UrgencyLow)
	list := cl.Get("/integrations")
	rows := list.Doc.Find(`[data-testid="integration-row"]`)
	if rows.Length() != 2 || !strings.Contains(rows.Eq(0).Text(), "Alert created") || !strings.Contains(rows.Eq(1).Text(), "None yet") {
		t.Errorf("list does not show the last requests: %q", rows.Text())
	}
	if open := strings.TrimSpace(rows.Eq(0).Find("td.num").Text()); open != "1" {
		t.Errorf("open alerts of MM: %q, want 1", open)
	}
	if open := strings.TrimSpace(rows.Eq(1).Find("td.num").Text()); open != "0" {
		t.Errorf("open alerts of %s: %q, want 0", other, open)
	}
	// Disabled: the test alert is refused like any request, with a message.
	cl.Submit("/integrations/"+id, "/integrations/"+id+"/disable", nil)
	p = cl.Submit("/integrations/"+id, "/integrations/"+id+"/test", nil)
	if p.Status != http.StatusSeeOther || p.Location != "/integrations/"+id {
		t.Fatalf("test alert while disabled: %d → %q", p.Status, p.Location)
	}
	if msg := cl.Get(p.Location).Text(".flash-error"); !strings.Contains(msg, "409") {
		t.Errorf("refusal message %q", msg)
	}
}

func TestRequestLogBody(t *testing.T) {
	srv, cl := signedIn(t)
	id := cl.CreateIntegration("MM", models.UrgencyLow)
	webtest.Intake(t, srv.URL, id, "application/x-www-form-urlencoded", webtest.Fixture(t, "form-request.http"))
	webtest.Intake(t, srv.URL, id, "application/json", `{"text": broken`)
	page := cl.Get("/integrations/" + id)
	rows := page.Doc.Find(`[data-testid="log-row"]`)
	if rows.Length() != 2 || !strings.Contains(rows.First().Text(), "Bad request") || !strings.Contains(rows.First().Text(), "400") {
		t.Fatalf("log rows: %q", rows.Text())
	}
	href, _ := rows.Last().Find(`a[href*="/logs/"]`).Attr("href")
	detail := cl.Get(href)
	body := detail.Text(`[data-testid="log-body"]`)
	if !strings.Contains(body, "text = formalert cpu high\nsecond line") || strings.Contains(body, "gptajz1zhb8upy615krfrr6ddo") {
		t.Errorf("log body:\n%s", body)
	}
}
