package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"klaxon/web/mattermost"
	"klaxon/web/webtest"
)

// alertRow is what the alert list shows of one alert.
type alertRow struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Urgency string `json:"urgency"`
}

const readAlertRows = `Array.from(document.querySelectorAll("[data-testid=alert-row]")).map(r => ({
	id: r.dataset.id,
	urgency: r.dataset.urgency,
	title: r.querySelector("[data-testid=alert-title]").textContent.trim(),
}))`

func alertRows(ctx context.Context) ([]alertRow, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[[]alertRow](readAlertRows))
}

func rowByTitle(rows []alertRow, title string) (alertRow, bool) {
	for _, r := range rows {
		if r.Title == title {
			return r, true
		}
	}
	return alertRow{}, false
}

// waitForRow waits until the alert list shows a row titled title, without
// reloading: the page polls for new rows every 3 s.
func waitForRow(ctx context.Context, title string) error {
	js, _ := json.Marshal(title)
	return waitFor(ctx, fmt.Sprintf("an alert row titled %s", js), fmt.Sprintf(
		`Array.from(document.querySelectorAll("[data-testid=alert-row] [data-testid=alert-title]")).some(a => a.textContent.trim() === %s)`, js),
		15*time.Second)
}

// waitForActiveCount waits until the Active tab counts n alerts; the counts
// follow the live rows.
func waitForActiveCount(ctx context.Context, n int) error {
	return waitFor(ctx, fmt.Sprintf("the Active tab to count %d", n), fmt.Sprintf(
		`(document.querySelector("[data-testid=tab-active] .count") || {}).textContent === "%d"`, n), 10*time.Second)
}

// setMarker and markerKept prove that the page was not reloaded in between.
const setMarker = `window.__marker = 1`

func markerKept(ctx context.Context) error {
	kept, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__marker === 1`))
	if err != nil {
		return err
	}
	if !kept {
		return fmt.Errorf("window.__marker is gone: the page was reloaded")
	}
	return nil
}

// jsonSample is the JSON fixture with some fields replaced, numbers kept
// exactly as Mattermost wrote them.
func jsonSample(t *testing.T, replace map[string]string) string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(webtest.Fixture(t, "json-request.http")))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode the JSON sample: %v", err)
	}
	for k, v := range replace {
		m[k] = v
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func intake(t *testing.T, base, id, contentType, body string, want int) error {
	t.Helper()
	status, resp := webtest.Intake(t, base, id, contentType, body)
	if status != want {
		return fmt.Errorf("POST /integration/%s (%s): status %d, want %d: %s", id, contentType, status, want, resp)
	}
	return nil
}

// TestBrowserScenario is a new user's first session, in a real browser:
// sign up, create a Mattermost integration, copy its endpoint URL, watch
// alerts arrive live, paste the token, acknowledge and resolve, log out.
func TestBrowserScenario(t *testing.T) {
	began := time.Now()
	srv := webtest.Start(t)
	serverUp := time.Now()
	b := newTab(t)
	started := time.Now()

	const (
		team     = "Night Watch"
		email    = "ada@example.com"
		password = "correct horse battery"
		// The integration's default urgency: the JSON sample names none.
		defaultUrgency = "critical"
		jsonTitle      = "alert disk full on db-1 & more"
		formTitle      = "formalert cpu high"
		token          = "fsjg44c9ojduudat814ue9uf7y" // the JSON sample's
		wrongTitle     = "alert sent with a wrong token"
		rightTitle     = "alert sent with the right token"
		buttonTitle    = "alert acknowledged from Mattermost"
	)
	var integrationID, endpoint string

	b.step("sign up", func(ctx context.Context) error {
		if err := open(ctx, srv.URL+"/", http.StatusOK); err != nil {
			return err
		}
		if err := wantPath(ctx, "/signup"); err != nil {
			return fmt.Errorf("a fresh Klaxon should send visitors to sign-up: %w", err)
		}
		if err := b.screen(ctx, "signup"); err != nil {
			return err
		}
		if err := chromedp.Do(ctx,
			typeInto("#f-team", team),
			typeInto("#f-email", email),
			typeInto("#f-password", password),
			typeInto("#f-confirm", password),
		); err != nil {
			return err
		}
		if err := follow(ctx, `form[action="/signup"] button[type=submit]`, http.StatusOK); err != nil {
			return err
		}
		if err := wantPath(ctx, "/integrations"); err != nil {
			return err
		}
		menu, err := text(ctx, ".usermenu summary")
		if err != nil {
			return err
		}
		if menu != email {
			return fmt.Errorf("user menu shows %q, want %q", menu, email)
		}
		return b.screen(ctx, "integrations-empty")
	})

	b.step("create the Mattermost integration", func(ctx context.Context) error {
		if err := follow(ctx, `.page-head a[href="/integrations/new"]`, http.StatusOK); err != nil {
			return err
		}
		if err := b.screen(ctx, "catalog"); err != nil {
			return err
		}
		logo, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`[data-testid=kind-mattermost] img`), "src"))
		if err != nil {
			return err
		}
		if !logo.Exists || !strings.HasSuffix(logo.Value, "mattermost.svg") {
			return fmt.Errorf("the Mattermost card shows no Mattermost logo (src %q)", logo.Value)
		}
		if err := follow(ctx, `[data-testid=kind-mattermost]`, http.StatusOK); err != nil {
			return err
		}
		if err := b.screen(ctx, "new-integration"); err != nil {
			return err
		}
		if err := chromedp.Do(ctx,
			chromedp.Clear(chromedp.CSS("#f-name")),
			typeInto("#f-name", "Prod chat"),
			chromedp.SetValue(chromedp.CSS("#f-default_urgency"), defaultUrgency),
		); err != nil {
			return err
		}
		if err := follow(ctx, `form[action="/integrations"] button[type=submit]`, http.StatusOK); err != nil {
			return err
		}
		path, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname`))
		if err != nil {
			return err
		}
		integrationID, _ = strings.CutPrefix(path, "/integrations/")
		if !strings.HasPrefix(integrationID, "int_") {
			return fmt.Errorf("after Save the browser is at %s, want /integrations/int_…", path)
		}
		if endpoint, err = text(ctx, "[data-testid=endpoint-url]"); err != nil {
			return err
		}
		if want := srv.URL + "/integration/" + integrationID; endpoint != want {
			return fmt.Errorf("endpoint URL %q, want %q", endpoint, want)
		}
		return b.screen(ctx, "integration")
	})

	b.step("copy the endpoint URL", func(ctx context.Context) error {
		if err := grantClipboard(ctx, srv.URL); err != nil {
			return err
		}
		// Something else on the clipboard first, so only Copy can put the URL there.
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`navigator.clipboard.writeText("not the endpoint")`, chromedp.EvalAwaitPromise)); err != nil {
			return fmt.Errorf("write the clipboard: %w", err)
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("[data-testid=copy-endpoint]"))); err != nil {
			return err
		}
		if err := waitFor(ctx, "the copy status", `document.getElementById("copy-status").textContent !== ""`, 5*time.Second); err != nil {
			return err
		}
		if status, err := text(ctx, "#copy-status"); err != nil || status != "Copied to the clipboard" {
			return fmt.Errorf("copy status %q (%v), want %q", status, err, "Copied to the clipboard")
		}
		clip, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
		if err != nil {
			return fmt.Errorf("read the clipboard: %w", err)
		}
		if clip != endpoint {
			return fmt.Errorf("the clipboard holds %q, want the endpoint URL %q", clip, endpoint)
		}
		return nil
	})

	b.step("watch both samples arrive live", func(ctx context.Context) error {
		if err := follow(ctx, `.topbar nav a[href="/alerts"]`, http.StatusOK); err != nil {
			return err
		}
		if _, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#alerts-empty"), chromedp.NodeVisible)); err != nil {
			return fmt.Errorf("the empty alert list shows no empty state: %w", err)
		}
		if err := b.screen(ctx, "alerts-empty"); err != nil {
			return err
		}
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](setMarker)); err != nil {
			return err
		}
		if err := intake(t, srv.URL, integrationID, "application/json", webtest.Fixture(t, "json-request.http"), http.StatusOK); err != nil {
			return err
		}
		if err := intake(t, srv.URL, integrationID, "application/x-www-form-urlencoded", webtest.Fixture(t, "form-request.http"), http.StatusOK); err != nil {
			return err
		}
		if err := waitForRow(ctx, jsonTitle); err != nil {
			return err
		}
		if err := waitForRow(ctx, formTitle); err != nil {
			return err
		}
		if err := waitForActiveCount(ctx, 2); err != nil {
			return err
		}
		if err := markerKept(ctx); err != nil {
			return err
		}
		rows, err := alertRows(ctx)
		if err != nil {
			return err
		}
		if len(rows) != 2 {
			return fmt.Errorf("%d alert rows, want 2: %+v", len(rows), rows)
		}
		for title, want := range map[string]string{jsonTitle: defaultUrgency, formTitle: "high"} {
			if r, _ := rowByTitle(rows, title); r.Urgency != want {
				return fmt.Errorf("alert %q has urgency %q, want %q", title, r.Urgency, want)
			}
		}
		return b.screen(ctx, "alerts-full")
	})

	b.step("paste the token", func(ctx context.Context) error {
		if err := follow(ctx, `.topbar nav a[href="/integrations"]`, http.StatusOK); err != nil {
			return err
		}
		if err := b.screen(ctx, "integrations-full"); err != nil {
			return err
		}
		if err := follow(ctx, `[data-testid=integration-row] a[href="/integrations/`+integrationID+`"]`, http.StatusOK); err != nil {
			return err
		}
		if err := follow(ctx, `.page-head a[href$="/edit"]`, http.StatusOK); err != nil {
			return err
		}
		if err := b.screen(ctx, "edit-integration"); err != nil {
			return err
		}
		if err := chromedp.Do(ctx, typeInto("#f-token", token)); err != nil {
			return err
		}
		if label, err := text(ctx, `form[action="/integrations/`+integrationID+`"] button.primary`); err != nil || label != "Update" {
			return fmt.Errorf("the edit form's button says %q (%v), want Update", label, err)
		}
		if err := follow(ctx, `form[action="/integrations/`+integrationID+`"] button.primary`, http.StatusOK); err != nil {
			return err
		}
		if err := wantPath(ctx, "/integrations/"+integrationID); err != nil {
			return err
		}
		masked, err := text(ctx, "[data-testid=masked-token]")
		if err != nil {
			return fmt.Errorf("the integration page shows no token after Update: %w", err)
		}
		if masked == token || !strings.HasSuffix(masked, token[len(token)-4:]) {
			return fmt.Errorf("token shown as %q: want it masked, ending like the pasted one", masked)
		}
		return b.screen(ctx, "integration-with-alerts")
	})

	b.step("only the right token opens an alert", func(ctx context.Context) error {
		if err := follow(ctx, `.topbar nav a[href="/alerts"]`, http.StatusOK); err != nil {
			return err
		}
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](setMarker)); err != nil {
			return err
		}
		wrong := jsonSample(t, map[string]string{"token": "not-the-token", "post_id": "wrongtokenpost00000000000a", "text": wrongTitle})
		if err := intake(t, srv.URL, integrationID, "application/json", wrong, http.StatusForbidden); err != nil {
			return err
		}
		right := jsonSample(t, map[string]string{"post_id": "righttokenpost00000000000a", "text": rightTitle})
		if err := intake(t, srv.URL, integrationID, "application/json", right, http.StatusOK); err != nil {
			return err
		}
		// The refused request came first: had it opened an alert, that row
		// would show up no later than the accepted one.
		if err := waitForRow(ctx, rightTitle); err != nil {
			return err
		}
		if err := waitForActiveCount(ctx, 3); err != nil {
			return err
		}
		if err := markerKept(ctx); err != nil {
			return err
		}
		rows, err := alertRows(ctx)
		if err != nil {
			return err
		}
		if _, ok := rowByTitle(rows, wrongTitle); ok || len(rows) != 3 {
			return fmt.Errorf("want 3 alert rows and none for the wrong token, got %+v", rows)
		}
		return nil
	})

	b.step("a search says what it searched", func(ctx context.Context) error {
		// Nine different words (Disk repeats disk): the ninth is left out,
		// and the short ones match whole words only.
		q := "disk Disk full on db-1 more alert db 1 zzz9"
		if err := chromedp.Do(ctx, chromedp.Clear(chromedp.CSS("#filter-q")), typeInto("#filter-q", q)); err != nil {
			return err
		}
		if err := follow(ctx, `form.filters button[type=submit]`, http.StatusOK); err != nil {
			return err
		}
		notice, err := text(ctx, "[data-testid=search-notice]")
		if err != nil {
			return err
		}
		for _, want := range []string{"left out: zzz9.", "whole words only: on db-1 db 1."} {
			if !strings.Contains(notice, want) {
				return fmt.Errorf("the search notice %q does not say %q", notice, want)
			}
		}
		rows, err := alertRows(ctx)
		if err != nil {
			return err
		}
		if _, ok := rowByTitle(rows, jsonTitle); !ok || len(rows) != 1 {
			return fmt.Errorf("search rows %+v, want the one titled %q", rows, jsonTitle)
		}
		if err := b.screen(ctx, "alerts-search-notice"); err != nil {
			return err
		}
		return open(ctx, srv.URL+"/alerts", http.StatusOK)
	})

	b.step("acknowledge from a Mattermost button", func(ctx context.Context) error {
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](setMarker)); err != nil {
			return err
		}
		body := jsonSample(t, map[string]string{"post_id": "buttonpost0000000000000000a", "text": buttonTitle})
		status, raw := webtest.Intake(t, srv.URL, integrationID, "application/json", body)
		var reply mattermost.IntakeAnswer
		if err := json.Unmarshal([]byte(raw), &reply); err != nil || status != http.StatusOK || len(reply.Attachments) != 1 || len(reply.Attachments[0].Actions) == 0 {
			return fmt.Errorf("the thread reply has no buttons: %d %s", status, raw)
		}
		if err := waitForRow(ctx, buttonTitle); err != nil {
			return err
		}
		// Mattermost's server posts the click, as captured.
		if status, ans := clickButton(t, srv.URL, reply.Attachments[0].Actions[0].Integration.Context); status != http.StatusOK || ans.Update == nil {
			return fmt.Errorf("the click was answered %d %+v", status, ans)
		}
		js, _ := json.Marshal(reply.AlertID)
		if err := waitFor(ctx, "the row to show the Mattermost user", fmt.Sprintf(
			`(document.querySelector("[data-testid=alert-row][data-id=" + JSON.stringify(%s) + "] [data-testid=alert-actor]") || {}).textContent === "by @mmadmin via Mattermost"`, js),
			15*time.Second); err != nil {
			return err
		}
		if err := markerKept(ctx); err != nil {
			return err
		}
		return b.screen(ctx, "acknowledged-from-mattermost")
	})

	b.step("acknowledge and resolve", func(ctx context.Context) error {
		rows, err := alertRows(ctx)
		if err != nil {
			return err
		}
		row, ok := rowByTitle(rows, jsonTitle)
		if !ok {
			return fmt.Errorf("no row for %q", jsonTitle)
		}
		if err := follow(ctx, `[data-testid=alert-row][data-id="`+row.ID+`"] a[data-testid=alert-title]`, http.StatusOK); err != nil {
			return err
		}
		if err := wantPath(ctx, "/alerts/"+row.ID); err != nil {
			return err
		}
		if err := follow(ctx, "[data-testid=acknowledge]", http.StatusOK); err != nil {
			return err
		}
		if status, err := text(ctx, "[data-testid=alert-status]"); err != nil || status != "acknowledged" {
			return fmt.Errorf("status %q (%v) after Acknowledge, want acknowledged", status, err)
		}
		if err := follow(ctx, "[data-testid=resolve]", http.StatusOK); err != nil {
			return err
		}
		if status, err := text(ctx, "[data-testid=alert-status]"); err != nil || status != "resolved" {
			return fmt.Errorf("status %q (%v) after Resolve, want resolved", status, err)
		}
		events, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
			`Array.from(document.querySelectorAll("[data-testid=timeline] li")).map(li => li.innerText.replace(/\s+/g, " ").trim())`))
		if err != nil {
			return err
		}
		for _, want := range []string{"Acknowledged by " + email, "Resolved by " + email} {
			found := false
			for _, e := range events {
				found = found || strings.HasPrefix(e, want)
			}
			if !found {
				return fmt.Errorf("the timeline has no %q: %q", want, events)
			}
		}
		return b.screen(ctx, "alert")
	})

	b.step("team and missing pages", func(ctx context.Context) error {
		if err := follow(ctx, `.topbar nav a[href="/team"]`, http.StatusOK); err != nil {
			return err
		}
		members, err := text(ctx, "[data-testid=member-row]")
		if err != nil || !strings.Contains(members, email) {
			return fmt.Errorf("the team page lists %q (%v), want %s", members, err, email)
		}
		if err := b.screen(ctx, "team"); err != nil {
			return err
		}
		if err := open(ctx, srv.URL+"/no/such/page", http.StatusNotFound); err != nil {
			return err
		}
		if _, err := text(ctx, "h1"); err != nil {
			return err
		}
		if err := b.screen(ctx, "not-found"); err != nil {
			return err
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(".usermenu summary"))); err != nil {
			return err
		}
		if err := follow(ctx, `.usermenu a[href="/account"]`, http.StatusOK); err != nil {
			return err
		}
		if heading, err := text(ctx, "h1"); err != nil || heading != "Your account" {
			return fmt.Errorf("the account page's heading is %q (%v)", heading, err)
		}
		return b.screen(ctx, "account")
	})

	b.step("log out", func(ctx context.Context) error {
		if err := open(ctx, srv.URL+"/alerts", http.StatusOK); err != nil {
			return err
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(".usermenu summary"))); err != nil {
			return err
		}
		if err := follow(ctx, `.usermenu form[action="/logout"] button`, http.StatusOK); err != nil {
			return err
		}
		if err := wantPath(ctx, "/login"); err != nil {
			return err
		}
		if err := b.screen(ctx, "login"); err != nil {
			return err
		}
		if err := open(ctx, srv.URL+"/alerts", http.StatusOK); err != nil {
			return err
		}
		if err := wantPath(ctx, "/login"); err != nil {
			return fmt.Errorf("after logging out, /alerts must ask to log in: %w", err)
		}
		return nil
	})

	t.Logf("browser scenario: %v (before it: Klaxon start %v, Chromium start %v)",
		time.Since(started).Round(time.Millisecond), serverUp.Sub(began).Round(time.Millisecond), started.Sub(serverUp).Round(time.Millisecond))
}
