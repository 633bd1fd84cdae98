package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"klaxon/models"
	"klaxon/web/webtest"
)

// send delivers a Mattermost message with text and returns the alert id.
func send(t *testing.T, srv *webtest.Server, integrationID, postID, text string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"text": text, "post_id": postID, "channel_name": "ops", "user_name": "joe", "trigger_word": strings.Fields(text + " x")[0]})
	status, raw := webtest.Intake(t, srv.URL, integrationID, "application/json", string(body))
	if status != 200 {
		t.Fatalf("intake %q: %d %s", text, status, raw)
	}
	var ans struct {
		AlertID string `json:"alert_id"`
	}
	json.Unmarshal([]byte(raw), &ans)
	return ans.AlertID
}

func rowIDs(p *webtest.Page) []string {
	var ids []string
	p.Doc.Find(`[data-testid="alert-row"]`).Each(func(_ int, s *goquery.Selection) {
		id, _ := s.Attr("data-id")
		ids = append(ids, id)
	})
	return ids
}

func TestAlertListFilters(t *testing.T) {
	srv, cl := signedIn(t)
	a := cl.CreateIntegration("Alpha", models.UrgencyLow)
	b := cl.CreateIntegration("Beta", models.UrgencyMedium)
	dbDown := send(t, srv, a, "p1", "outage critical db down")
	cpu := send(t, srv, a, "p2", "outage high cpu on web-3")
	disk := send(t, srv, b, "p3", "outage disk full")
	mem := send(t, srv, b, "p4", "outage low memory")
	api := send(t, srv, b, "p5", "outage critical api down")
	cl.Submit("/alerts/"+cpu, "/alerts/"+cpu+"/acknowledge", nil)
	cl.Submit("/alerts/"+mem, "/alerts/"+mem+"/resolve", nil)

	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{api, disk, cpu, dbDown}}, // default: open and acknowledged, newest first
		{"status=active", []string{api, disk, cpu, dbDown}},
		{"status=open", []string{api, disk, dbDown}},
		{"status=acknowledged", []string{cpu}},
		{"status=resolved", []string{mem}},
		{"status=all", []string{api, mem, disk, cpu, dbDown}},
		{"status=all&urgency=critical", []string{api, dbDown}},
		{"status=all&urgency=low", []string{mem}},
		{"status=all&integration=" + b, []string{api, mem, disk}},
		{"status=all&q=down", []string{api, dbDown}},
		{"status=all&q=DISK", []string{disk}},
		{"status=all&q=web-3", []string{cpu}},
		{"status=all&q=cri", []string{api, dbDown}}, // prefix match
		{"status=all&q=api+down", []string{api}},    // every word
		{"status=all&q=nothing-like-this", nil},
		{"status=active&urgency=critical&integration=" + b, []string{api}},
		{"status=open&urgency=critical&integration=" + a + "&q=db", []string{dbDown}},
		{"status=all&integration=int_aaaaaaaaaaaaaaaaaaaaaaaaaa", nil},
		{"status=bogus&urgency=bogus", []string{api, disk, cpu, dbDown}}, // bad values fall back
	}
	for _, tt := range tests {
		p := cl.Get("/alerts?" + tt.query)
		if p.Status != 200 {
			t.Fatalf("%s: %d", tt.query, p.Status)
		}
		if got := rowIDs(p); strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("%s: got %v, want %v", tt.query, got, tt.want)
		}
	}

	// Tabs count with the other filters applied and keep them in their links.
	p := cl.Get("/alerts?urgency=critical&q=down")
	counts := map[string]string{}
	p.Doc.Find(".tabs a").Each(func(_ int, s *goquery.Selection) {
		key, _ := s.Attr("data-testid")
		counts[key] = s.Find(".count").Text()
		href, _ := s.Attr("href")
		if !strings.Contains(href, "urgency=critical") || !strings.Contains(href, "q=down") {
			t.Errorf("tab %s loses the filters: %s", key, href)
		}
	})
	want := map[string]string{"tab-active": "2", "tab-open": "2", "tab-acknowledged": "0", "tab-resolved": "0", "tab-all": "2"}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("tab %s count %q, want %q (all: %v)", k, counts[k], v, counts)
		}
	}
	// The filter form shows the current filters.
	if v, _ := p.Doc.Find(`#filter-q`).Attr("value"); v != "down" {
		t.Errorf("text filter not kept in the form: %q", v)
	}
	if v, _ := p.Doc.Find(`#filter-urgency option[selected]`).Attr("value"); v != "critical" {
		t.Errorf("urgency filter not kept in the form: %q", v)
	}
	// Empty state when nothing matches, explained.
	if none := cl.Get("/alerts?status=all&q=zzzz"); none.Doc.Find(`#alerts-empty .empty h2`).Text() != "No alerts match" {
		t.Errorf("no empty state for a filter without matches")
	}
}

func TestAlertListEmptyState(t *testing.T) {
	_, cl := signedIn(t)
	p := cl.Get("/alerts")
	if p.Status != 200 || p.Doc.Find(`#alerts-empty a[href="/integrations"]`).Length() != 1 || !strings.Contains(p.Text("#alerts-empty"), "trigger word") {
		t.Errorf("empty alert list does not explain how alerts arrive:\n%s", p.Text("#alerts-empty"))
	}
}

func TestAlertKeysetPaging(t *testing.T) {
	srv, cl := signedIn(t)
	id := cl.CreateIntegration("MM", models.UrgencyLow)
	var all []string
	for n := 0; n < 120; n++ {
		all = append(all, send(t, srv, id, fmt.Sprintf("post-%d", n), fmt.Sprintf("outage number %d", n)))
	}
	newestFirst := make([]string, len(all))
	for i, a := range all {
		newestFirst[len(all)-1-i] = a
	}

	page1 := cl.Get("/alerts")
	if got := rowIDs(page1); strings.Join(got, ",") != strings.Join(newestFirst[:50], ",") {
		t.Fatalf("first page is not the newest 50")
	}
	if page1.Doc.Find(`a[rel="prev"]`).Length() != 0 {
		t.Errorf("the first page has a Newer link")
	}
	older, _ := page1.Doc.Find(`a[rel="next"]`).Attr("href")
	if !strings.Contains(older, "before=") || strings.Contains(older, "offset") {
		t.Fatalf("Older link %q is not a keyset cursor", older)
	}
	// New alerts arrive while the user reads page 1.
	for n := 0; n < 7; n++ {
		send(t, srv, id, fmt.Sprintf("late-%d", n), "outage late arrival")
	}
	page2 := cl.Get(older)
	if got := rowIDs(page2); strings.Join(got, ",") != strings.Join(newestFirst[50:100], ",") {
		t.Errorf("page 2 shifted when alerts arrived")
	}
	older3, _ := page2.Doc.Find(`a[rel="next"]`).Attr("href")
	page3 := cl.Get(older3)
	if got := rowIDs(page3); strings.Join(got, ",") != strings.Join(newestFirst[100:], ",") {
		t.Errorf("page 3: %d rows", len(got))
	}
	if page3.Doc.Find(`a[rel="next"]`).Length() != 0 {
		t.Errorf("the last page has an Older link")
	}
	// Newer from page 3 goes back to exactly page 2.
	newer, _ := page3.Doc.Find(`a[rel="prev"]`).Attr("href")
	if back := cl.Get(newer); strings.Join(rowIDs(back), ",") != strings.Join(newestFirst[50:100], ",") {
		t.Errorf("Newer from page 3 is not page 2")
	}
	// Filters survive paging.
	f := cl.Get("/alerts?status=all&q=number")
	next, _ := f.Doc.Find(`a[rel="next"]`).Attr("href")
	if !strings.Contains(next, "q=number") || !strings.Contains(next, "status=all") {
		t.Errorf("Older link loses the filters: %s", next)
	}
	// Live rows: the first page's rows alone, with the late alerts.
	rows := cl.Get("/alerts/rows?status=active")
	if rows.Status != 200 || len(rowIDs(rows)) != 50 || !strings.Contains(rows.Body, "late arrival") {
		t.Errorf("live rows: %d, %d rows", rows.Status, len(rowIDs(rows)))
	}
	if live, _ := page1.Doc.Find("tbody[data-live]").Attr("data-live"); !strings.HasPrefix(live, "/alerts/rows?") {
		t.Errorf("the first page does not ask for live updates: %q", live)
	}
	if page2.Doc.Find("tbody[data-live]").Length() != 0 {
		t.Errorf("an older page must not live-update (rows would shift under the reader)")
	}
}

func TestAlertTransitions(t *testing.T) {
	srv, cl := signedIn(t)
	id := cl.CreateIntegration("MM", models.UrgencyLow)
	a := send(t, srv, id, "t1", "outage one")
	b := send(t, srv, id, "t2", "outage two")

	page := cl.Get("/alerts/" + a)
	if page.Doc.Find(`[data-testid="acknowledge"]`).Length() != 1 || page.Doc.Find(`[data-testid="resolve"]`).Length() != 1 {
		t.Fatalf("an open alert offers Acknowledge and Resolve")
	}
	if p := cl.Post("/alerts/"+a+"/acknowledge", url.Values{"_csrf": {page.CSRF()}}); p.Status != http.StatusSeeOther || p.Location != "/alerts/"+a {
		t.Fatalf("acknowledge: %d → %q", p.Status, p.Location)
	}
	page = cl.Get("/alerts/" + a)
	if page.Doc.Find(`[data-testid="acknowledge"]`).Length() != 0 || page.Doc.Find(`[data-testid="resolve"]`).Length() != 1 {
		t.Errorf("an acknowledged alert offers only Resolve")
	}
	if !strings.Contains(page.Text(`[data-testid="alert-status"]`), "acknowledged") || !strings.Contains(page.Text(".facts"), "by ops@example.com") {
		t.Errorf("acknowledged by whom: %q", page.Text(".facts"))
	}
	// Acknowledging again (a stale page) is refused with a message.
	p := cl.Post("/alerts/"+a+"/acknowledge", url.Values{"_csrf": {page.CSRF()}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("second acknowledge: %d, want a redirect with a message", p.Status)
	}
	if msg := cl.Get(p.Location).Text(".flash-error"); !strings.Contains(msg, "already acknowledged") {
		t.Errorf("refusal message %q", msg)
	}
	cl.Submit("/alerts/"+a, "/alerts/"+a+"/resolve", nil)
	page = cl.Get("/alerts/" + a)
	if page.Doc.Find(`[data-testid="acknowledge"], [data-testid="resolve"]`).Length() != 0 {
		t.Errorf("a resolved alert offers no transition")
	}
	timeline := page.Doc.Find(`[data-testid="timeline"] li`)
	if timeline.Length() != 3 {
		t.Fatalf("timeline has %d entries, want 3", timeline.Length())
	}
	for i, want := range []string{"Opened", "Acknowledged", "Resolved"} {
		entry := timeline.Eq(i).Text()
		if !strings.Contains(entry, want) || !strings.Contains(entry, "UTC") || (i > 0 && !strings.Contains(entry, "ops@example.com")) {
			t.Errorf("timeline entry %d: %q", i, entry)
		}
	}
	if p := cl.Submit("/alerts/"+a, "/alerts/"+a+"/acknowledge", nil); !strings.Contains(cl.Get(p.Location).Text(".flash-error"), "already resolved") {
		t.Errorf("acknowledging a resolved alert is not refused clearly")
	}

	// Open → resolved directly.
	cl.Submit("/alerts/"+b, "/alerts/"+b+"/resolve", nil)
	var alert models.Alert
	srv.DB().Where("public_id = ?", b).First(&alert)
	if alert.Status != models.StatusResolved || alert.ResolvedAt == nil || alert.ResolvedBy != "ops@example.com" || alert.AcknowledgedAt != nil {
		t.Errorf("open → resolved: %+v", alert)
	}
}

func TestTwoUsersRaceToResolve(t *testing.T) {
	srv, owner := signedIn(t)
	owner.Submit("/team", "/team", url.Values{"email": {"mate@example.com"}, "password": {password}, "confirm": {password}})
	mate := srv.NewClient()
	mate.Submit("/login", "/login", url.Values{"email": {"mate@example.com"}, "password": {password}})
	id := owner.CreateIntegration("MM", models.UrgencyLow)
	for n := 0; n < 5; n++ {
		a := send(t, srv, id, fmt.Sprintf("race-%d", n), "outage race")
		tokens := []string{owner.Get("/alerts/" + a).CSRF(), mate.Get("/alerts/" + a).CSRF()}
		var wg sync.WaitGroup
		for i, c := range []*webtest.Client{owner, mate} {
			wg.Add(1)
			go func(c *webtest.Client, token string) {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodPost, c.Base+"/alerts/"+a+"/resolve", strings.NewReader(url.Values{"_csrf": {token}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := c.HTTP.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusSeeOther {
					t.Errorf("resolve: %d", resp.StatusCode)
				}
			}(c, tokens[i])
		}
		wg.Wait()
		var alert models.Alert
		srv.DB().Where("public_id = ?", a).First(&alert)
		var resolved int64
		srv.DB().Model(&models.AlertEvent{}).Where("alert_id = ? AND kind = ?", alert.ID, models.EventResolved).Count(&resolved)
		if alert.Status != models.StatusResolved || resolved != 1 {
			t.Errorf("race %d: status %s, %d resolved events, want exactly 1", n, alert.Status, resolved)
		}
	}
}

func TestBulkActions(t *testing.T) {
	srv, cl := signedIn(t)
	id := cl.CreateIntegration("MM", models.UrgencyLow)
	a := send(t, srv, id, "b1", "outage a")
	b := send(t, srv, id, "b2", "outage b")
	c := send(t, srv, id, "b3", "outage c")
	other := srv.NewClient()
	other.SignUp("Other team", "other@example.com", password)
	foreign := send(t, srv, other.CreateIntegration("Theirs", models.UrgencyLow), "f1", "outage theirs")

	list := cl.Get("/alerts?urgency=low")
	ret, _ := list.Doc.Find(`input[name="return"]`).Attr("value")
	p := cl.Post("/alerts/bulk", url.Values{"_csrf": {list.CSRF()}, "action": {"acknowledge"}, "ids": {a, c, foreign}, "return": {ret}})
	if p.Status != http.StatusSeeOther || p.Location != "/alerts?urgency=low" {
		t.Fatalf("bulk: %d → %q (the list's filters should be kept)", p.Status, p.Location)
	}
	if msg := cl.Get(p.Location).Text(".flash"); !strings.Contains(msg, "2 alerts acknowledged") || !strings.Contains(msg, "1 alert not found") {
		t.Errorf("bulk message %q", msg)
	}
	statuses := map[string]models.Status{}
	var alerts []models.Alert
	srv.DB().Find(&alerts)
	for _, x := range alerts {
		statuses[x.PublicID] = x.Status
	}
	if statuses[a] != models.StatusAcknowledged || statuses[c] != models.StatusAcknowledged || statuses[b] != models.StatusOpen || statuses[foreign] != models.StatusOpen {
		t.Errorf("statuses after bulk acknowledge: %v", statuses)
	}
	p = cl.Submit("/alerts", "/alerts/bulk", url.Values{"action": {"resolve"}, "ids": {a, b}})
	if msg := cl.Get(p.Location).Text(".flash"); !strings.Contains(msg, "2 alerts resolved") {
		t.Errorf("bulk resolve message %q", msg)
	}
	p = cl.Submit("/alerts", "/alerts/bulk", url.Values{"action": {"acknowledge"}, "ids": {a, c}})
	if msg := cl.Get(p.Location).Text(".flash"); !strings.Contains(msg, "0 alerts acknowledged") || !strings.Contains(msg, "2 alerts skipped") {
		t.Errorf("bulk of already-handled alerts: %q", msg)
	}
	p = cl.Submit("/alerts", "/alerts/bulk", url.Values{"action": {"resolve"}})
	if msg := cl.Get(p.Location).Text(".flash-error"); !strings.Contains(msg, "Select") {
		t.Errorf("bulk without a selection: %q", msg)
	}
	p = cl.Submit("/alerts", "/alerts/bulk", url.Values{"action": {"resolve"}, "ids": {c}, "return": {"https://evil.example/"}})
	if p.Location != "/alerts" {
		t.Errorf("bulk return to %q", p.Location)
	}
}

func TestAlertPageShowsEverything(t *testing.T) {
	srv, cl := signedIn(t)
	id := cl.CreateIntegration("MM", models.UrgencyLow)
	edit := cl.Get("/integrations/" + id + "/edit")
	cl.Post("/integrations/"+id, url.Values{"_csrf": {edit.CSRF()}, "name": {"MM"}, "default_urgency": {"low"}, "site_url": {"https://chat.example.com"}, "reply_in_channel_present": {"1"}, "reply_in_channel": {"1"}})
	status, raw := webtest.Intake(t, srv.URL, id, "application/x-www-form-urlencoded", webtest.Fixture(t, "form-request.http"))
	if status != 200 {
		t.Fatalf("%d %s", status, raw)
	}
	var ans struct {
		AlertID string `json:"alert_id"`
	}
	json.Unmarshal([]byte(raw), &ans)
	webtest.Intake(t, srv.URL, id, "application/x-www-form-urlencoded", webtest.Fixture(t, "form-request.http"))

	p := cl.Get("/alerts/" + ans.AlertID)
	data := p.Text(`[data-testid="additional-data"]`)
	for _, want := range []string{"formalert", "town-square", "admin", "alerts", "cb6ebigqstfomnppjs1n5gfome"} {
		if !strings.Contains(data, want) {
			t.Errorf("additional data lacks %q: %q", want, data)
		}
	}
	if href, _ := p.Doc.Find(`[data-testid="additional-data"] a`).Attr("href"); href != "https://chat.example.com/alerts/pl/cb6ebigqstfomnppjs1n5gfome" {
		t.Errorf("post link %q", href)
	}
	if d := p.Text(`[data-testid="alert-description"]`); d != "formalert cpu high\nsecond line" {
		t.Errorf("description %q", d)
	}
	rawReq := p.Text(`[data-testid="raw-request"]`)
	if !strings.Contains(rawReq, "channel_name = town-square") || strings.Contains(rawReq, "gptajz1zhb8upy615krfrr6ddo") || !strings.Contains(rawReq, "token = ****6ddo") {
		t.Errorf("raw request:\n%s", rawReq)
	}
	if !strings.Contains(p.Text(".facts"), "Redeliveries1") && !strings.Contains(p.Text(".facts"), "Redeliveries 1") {
		if !strings.Contains(strings.Join(strings.Fields(p.Text(".facts")), " "), "Redeliveries 1") {
			t.Errorf("dedup count not shown: %q", p.Text(".facts"))
		}
	}
	if p.Doc.Find(`[data-testid="timeline"] li`).Length() != 2 {
		t.Errorf("timeline should show the creation and the redelivery")
	}
}

func TestHTMLInMessagesIsText(t *testing.T) {
	srv, cl := signedIn(t)
	id := cl.CreateIntegration("MM", models.UrgencyLow)
	evil := `outage <script>alert("x")</script><img src=x onerror=alert(1)> <b>bold</b>`
	body, _ := json.Marshal(map[string]string{"text": evil + "\nsecond <i>line</i>", "post_id": "evil1",
		"channel_name": "<script>chan()</script>", "user_name": "<img src=y onerror=alert(2)>", "trigger_word": "outage"})
	status, raw := webtest.Intake(t, srv.URL, id, "application/json", string(body))
	if status != 200 {
		t.Fatalf("%d %s", status, raw)
	}
	var ans struct {
		AlertID string `json:"alert_id"`
	}
	json.Unmarshal([]byte(raw), &ans)
	for _, path := range []string{"/alerts", "/alerts/rows?status=active", "/alerts/" + ans.AlertID, "/integrations/" + id} {
		p := cl.Get(path)
		main := p.Doc.Find("main")
		if main.Find("script, img[onerror], b, i").Length() != 0 {
			t.Errorf("%s: markup from the message became elements", path)
		}
		if strings.Contains(p.Body, "<script>alert") || strings.Contains(p.Body, "<img src=x") {
			t.Errorf("%s: unescaped markup in the HTML", path)
		}
		if !strings.Contains(p.Body, "&lt;script&gt;") {
			t.Errorf("%s: the message is not shown as text", path)
		}
	}
	if !strings.Contains(cl.Get("/alerts/"+ans.AlertID).Text(`[data-testid="additional-data"]`), "<script>chan()</script>") {
		t.Errorf("the channel is not shown as text")
	}
}

func TestAlertSearchWithOddText(t *testing.T) {
	srv, cl := signedIn(t)
	id := cl.CreateIntegration("MM", models.UrgencyLow)
	a := send(t, srv, id, "o1", "outage db-1 \"quoted\" (paren) * star")
	for _, q := range []string{"%00", "db%00", "%FF%FE", "%22", "*", "(", "NEAR(", "AND", "-", "%E2%80", strings.Repeat("%C3%A9", 300), "'", "\\", "%0A%0D"} {
		p := cl.Get("/alerts?status=all&q=" + q)
		if p.Status != 200 {
			t.Errorf("q=%s: %d", q, p.Status)
		}
	}
	for _, q := range []string{"quoted", "%22quoted%22", "db-1", "paren"} {
		if got := rowIDs(cl.Get("/alerts?status=all&q=" + q)); len(got) != 1 || got[0] != a {
			t.Errorf("q=%s: %v, want the alert", q, got)
		}
	}
}
