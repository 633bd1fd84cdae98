package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"klaxon/models"
	"klaxon/web"
	"klaxon/web/webtest"
)

const password = "correct horse battery"

func TestFreshInstallSendsToSignUpThenLogIn(t *testing.T) {
	srv := webtest.Start(t)
	cl := srv.NewClient()
	if p := cl.Get("/"); p.Status != http.StatusSeeOther || p.Location != "/signup" {
		t.Fatalf("fresh install: %d → %q, want /signup", p.Status, p.Location)
	}
	if p := cl.Get("/login"); p.Location != "/signup" {
		t.Errorf("log-in page on a fresh install should send to sign-up, got %d %q", p.Status, p.Location)
	}
	cl.SignUp("Ops", "ops@example.com", password)
	other := srv.NewClient()
	if p := other.Get("/"); p.Location != "/login" {
		t.Fatalf("with a team: → %q, want /login", p.Location)
	}
	login := other.Get("/login")
	if login.Status != 200 || login.Doc.Find(`a[href="/signup"]`).Length() != 1 {
		t.Errorf("log-in page should link to sign-up while it is open")
	}
}

func TestSignUpValidation(t *testing.T) {
	srv := webtest.Start(t)
	cl := srv.NewClient()
	cl.SignUp("Ops", "taken@example.com", password)
	anon := srv.NewClient()
	tests := []struct {
		name, field string
		form        url.Values
	}{
		{"no team", "team", url.Values{"team": {" "}, "email": {"a@example.com"}, "password": {password}, "confirm": {password}}},
		{"bad email", "email", url.Values{"team": {"T"}, "email": {"not-an-email"}, "password": {password}, "confirm": {password}}},
		{"short password", "password", url.Values{"team": {"T"}, "email": {"a@example.com"}, "password": {"short"}, "confirm": {"short"}}},
		{"confirmation differs", "confirm", url.Values{"team": {"T"}, "email": {"a@example.com"}, "password": {password}, "confirm": {password + "x"}}},
		{"email taken", "email", url.Values{"team": {"T"}, "email": {"Taken@Example.com"}, "password": {password}, "confirm": {password}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := anon.Submit("/signup", "/signup", tt.form)
			if p.Status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", p.Status)
			}
			msg := p.Text("#err-" + tt.field)
			if msg == "" {
				t.Errorf("no error next to %s; page:\n%s", tt.field, p.Body)
			}
			if inv, _ := p.Doc.Find("#f-" + tt.field).Attr("aria-invalid"); inv != "true" {
				t.Errorf("field %s not marked invalid", tt.field)
			}
			if v, _ := p.Doc.Find("#f-team").Attr("value"); tt.field != "team" && v != "T" {
				t.Errorf("the form lost what was typed: team=%q", v)
			}
		})
	}
	var n int64
	srv.DB().Model(&models.User{}).Count(&n)
	if n != 1 {
		t.Errorf("%d users after refused sign-ups, want 1", n)
	}
}

func TestLogInAndOut(t *testing.T) {
	srv := webtest.Start(t)
	first := srv.NewClient()
	first.SignUp("Ops", "ops@example.com", password)

	cl := srv.NewClient()
	// Wrong password and unknown email get the same answer.
	bad := cl.Submit("/login", "/login", url.Values{"email": {"ops@example.com"}, "password": {"wrong password!"}})
	unknown := cl.Submit("/login", "/login", url.Values{"email": {"nobody@example.com"}, "password": {"wrong password!"}})
	if bad.Status != 422 || unknown.Status != 422 || bad.Text("#err-form") != unknown.Text("#err-form") || bad.Text("#err-form") == "" {
		t.Fatalf("failed log-ins: %d %q / %d %q", bad.Status, bad.Text("#err-form"), unknown.Status, unknown.Text("#err-form"))
	}
	if p := cl.Get("/alerts"); p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/login") {
		t.Fatalf("no session: /alerts → %d %q", p.Status, p.Location)
	}

	before := cl.Get("/login").CSRF()
	ok := cl.Submit("/login", "/login", url.Values{"email": {"OPS@example.com "}, "password": {password}, "next": {"/integrations"}})
	if ok.Status != http.StatusSeeOther || ok.Location != "/integrations" {
		t.Fatalf("log-in: %d → %q", ok.Status, ok.Location)
	}
	page := cl.Get("/integrations")
	if page.Status != 200 || !strings.Contains(page.Text(".usermenu summary"), "ops@example.com") {
		t.Fatalf("after log-in: %d, user menu %q", page.Status, page.Text(".usermenu summary"))
	}
	if after := page.CSRF(); after == "" || after == before {
		t.Errorf("log-in must start a new session with a new CSRF token")
	}

	// Keep the session cookie to replay it after log-out.
	u, _ := url.Parse(srv.URL)
	old := cl.HTTP.Jar.Cookies(u)
	out := cl.Submit("/integrations", "/logout", nil)
	if out.Status != http.StatusSeeOther || out.Location != "/login" {
		t.Fatalf("log-out: %d → %q", out.Status, out.Location)
	}
	if p := cl.Get("/alerts"); p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/login") {
		t.Errorf("after log-out /alerts → %d %q", p.Status, p.Location)
	}
	replay := srv.NewClient()
	replay.HTTP.Jar.SetCookies(u, old)
	if p := replay.Get("/alerts"); p.Status != http.StatusSeeOther {
		t.Errorf("a cookie from before log-out still works: %d", p.Status)
	}
}

func TestPagesNeedASession(t *testing.T) {
	srv := webtest.Start(t)
	owner := srv.NewClient()
	owner.SignUp("Ops", "ops@example.com", password)
	id := owner.CreateIntegration("MM", models.UrgencyLow)
	cl := srv.NewClient()
	for _, path := range []string{"/alerts", "/alerts?status=all", "/integrations", "/integrations/new", "/integrations/" + id, "/integrations/" + id + "/edit", "/team", "/alerts/alt_aaaaaaaaaaaaaaaaaaaaaaaaaa"} {
		p := cl.Get(path)
		if p.Status != http.StatusSeeOther || p.Location != "/login?next="+url.QueryEscape(path) {
			t.Errorf("GET %s without a session: %d → %q", path, p.Status, p.Location)
		}
	}
	for _, path := range []string{"/integrations", "/integrations/" + id + "/delete", "/alerts/bulk", "/team"} {
		p := cl.Submit("/login", path, url.Values{"name": {"x"}})
		if p.Status != http.StatusSeeOther || p.Location != "/login" {
			t.Errorf("POST %s without a session: %d → %q", path, p.Status, p.Location)
		}
	}
	var n int64
	srv.DB().Model(&models.Integration{}).Count(&n)
	if n != 1 {
		t.Errorf("%d integrations, want 1", n)
	}
}

func TestCSRF(t *testing.T) {
	srv := webtest.Start(t)
	cl := srv.NewClient()
	cl.SignUp("Ops", "ops@example.com", password)
	id := cl.CreateIntegration("MM", models.UrgencyLow)
	other := srv.NewClient()
	otherToken := other.Get("/login").CSRF()

	attempts := map[string]url.Values{
		"no token":            {"name": {"Evil"}, "default_urgency": {"low"}},
		"wrong token":         {"name": {"Evil"}, "default_urgency": {"low"}, "_csrf": {"wrong"}},
		"another's token":     {"name": {"Evil"}, "default_urgency": {"low"}, "_csrf": {otherToken}},
		"empty token":         {"name": {"Evil"}, "default_urgency": {"low"}, "_csrf": {""}},
		"token of other case": {"name": {"Evil"}, "default_urgency": {"low"}, "_csrf": {strings.ToUpper(cl.Get("/integrations").CSRF())}},
	}
	for name, form := range attempts {
		for _, path := range []string{"/integrations", "/integrations/" + id, "/integrations/" + id + "/delete", "/logout"} {
			p := cl.Post(path, form)
			if p.Status != http.StatusForbidden {
				t.Errorf("%s to %s: status %d, want 403", name, path, p.Status)
			}
		}
	}
	var list []models.Integration
	srv.DB().Find(&list)
	if len(list) != 1 || list[0].Name != "MM" {
		t.Errorf("integrations changed by forged requests: %+v", list)
	}
	if p := cl.Get("/integrations"); p.Status != 200 {
		t.Errorf("forged log-out logged the user out: %d", p.Status)
	}
}

func TestAccountsAreIsolated(t *testing.T) {
	srv := webtest.Start(t)
	a := srv.NewClient()
	a.SignUp("Team A", "a@example.com", password)
	aInt := a.CreateIntegration("A's hook", models.UrgencyHigh)
	status, raw := webtest.Intake(t, srv.URL, aInt, "application/json", webtest.Fixture(t, "thread-reply.json"))
	if status != 200 {
		t.Fatalf("intake %d %s", status, raw)
	}
	var alert models.Alert
	srv.DB().First(&alert)
	var log models.IntegrationLog
	srv.DB().First(&log)

	b := srv.NewClient()
	b.SignUp("Team B", "b@example.com", password)
	b.CreateIntegration("B's hook", models.UrgencyLow)

	for _, path := range []string{
		"/integrations/" + aInt, "/integrations/" + aInt + "/edit", "/integrations/" + aInt + "/delete",
		"/integrations/" + aInt + "/logs/" + itoa(log.ID), "/alerts/" + alert.PublicID,
	} {
		if p := b.Get(path); p.Status != http.StatusNotFound {
			t.Errorf("B GET %s: %d, want 404", path, p.Status)
		}
	}
	for _, path := range []string{
		"/integrations/" + aInt, "/integrations/" + aInt + "/disable", "/integrations/" + aInt + "/enable",
		"/integrations/" + aInt + "/delete", "/integrations/" + aInt + "/test",
		"/alerts/" + alert.PublicID + "/acknowledge", "/alerts/" + alert.PublicID + "/resolve",
	} {
		p := b.Submit("/integrations", path, url.Values{"name": {"Hijacked"}, "default_urgency": {"low"}, "token": {"evil"}})
		if p.Status != http.StatusNotFound {
			t.Errorf("B POST %s: %d, want 404", path, p.Status)
		}
	}
	bulk := b.Submit("/alerts", "/alerts/bulk", url.Values{"action": {"resolve"}, "ids": {alert.PublicID}})
	if bulk.Status != http.StatusSeeOther {
		t.Errorf("bulk: %d", bulk.Status)
	}
	if list := b.Get("/alerts?status=all"); list.Doc.Find(`[data-testid="alert-row"]`).Length() != 0 || strings.Contains(list.Body, alert.Title) {
		t.Errorf("B's alert list shows A's alert")
	}
	if list := b.Get("/alerts?status=all&integration=" + aInt); list.Doc.Find(`[data-testid="alert-row"]`).Length() != 0 {
		t.Errorf("B can filter by A's integration")
	}
	if page := b.Get("/integrations"); strings.Contains(page.Body, "A&#39;s hook") || strings.Contains(page.Body, "A's hook") {
		t.Errorf("B's integration list shows A's integration")
	}

	var integ models.Integration
	srv.DB().Where("public_id = ?", aInt).First(&integ)
	var after models.Alert
	srv.DB().First(&after, alert.ID)
	var events int64
	srv.DB().Model(&models.AlertEvent{}).Where("alert_id = ?", alert.ID).Count(&events)
	if integ.Name != "A's hook" || !integ.Enabled || integ.Token != "" || integ.DeletedAt.Valid || after.Status != models.StatusOpen || events != 1 {
		t.Errorf("A's data changed: integration %+v, alert status %s, %d events", integ, after.Status, events)
	}
	// A still sees everything.
	if p := a.Get("/alerts/" + alert.PublicID); p.Status != 200 {
		t.Errorf("A cannot see its own alert: %d", p.Status)
	}
}

func TestNextIsLocalOnly(t *testing.T) {
	srv := webtest.Start(t)
	srv.NewClient().SignUp("Ops", "ops@example.com", password)
	for next, want := range map[string]string{
		"https://evil.example":   "/alerts",
		"//evil.example/path":    "/alerts",
		"/\\evil.example":        "/alerts",
		"javascript:alert(1)":    "/alerts",
		"/integrations?x=1":      "/integrations?x=1",
		"":                       "/alerts",
		"http:/\\/evil.example/": "/alerts",
	} {
		cl := srv.NewClient()
		p := cl.Submit("/login?next="+url.QueryEscape(next), "/login", url.Values{"email": {"ops@example.com"}, "password": {password}, "next": {next}})
		if p.Status != http.StatusSeeOther || p.Location != want {
			t.Errorf("next=%q: %d → %q, want %q", next, p.Status, p.Location, want)
		}
	}
}

func TestCookieFlagsAndHeaders(t *testing.T) {
	for _, tt := range []struct {
		base   string
		secure bool
	}{{"", false}, {"https://klaxon.example.com", true}} {
		srv := webtest.Start(t, func(c *web.Config) {
			if tt.base != "" {
				c.BaseURL = tt.base
			}
		})
		resp, err := http.Get(srv.URL + "/signup")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var cookie *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == "klaxon_session" {
				cookie = c
			}
		}
		if cookie == nil {
			t.Fatalf("no session cookie")
		}
		if !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Secure != tt.secure || cookie.Path != "/" {
			t.Errorf("base %q: cookie HttpOnly=%v SameSite=%v Secure=%v Path=%q", tt.base, cookie.HttpOnly, cookie.SameSite, cookie.Secure, cookie.Path)
		}
		if cookie.MaxAge != int((7 * 24 * time.Hour).Seconds()) {
			t.Errorf("cookie max age %d, want 7 days", cookie.MaxAge)
		}
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("CSP %q", csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" {
			t.Errorf("headers %v", h)
		}
		if hsts := h.Get("Strict-Transport-Security"); (hsts != "") != tt.secure {
			t.Errorf("base %q: Strict-Transport-Security %q", tt.base, hsts)
		}
	}
}

func TestSessionsExpireWhenIdle(t *testing.T) {
	srv := webtest.Start(t, func(c *web.Config) { c.SessionIdle = 2 * time.Second })
	cl := srv.NewClient()
	cl.SignUp("Ops", "ops@example.com", password)
	if p := cl.Get("/alerts"); p.Status != 200 {
		t.Fatalf("fresh session: %d", p.Status)
	}
	// Age the session on the server as if two idle seconds had passed.
	if err := srv.DB().Model(&models.Session{}).Where("1 = 1").Update("last_seen_at", time.Now().Add(-3*time.Second)).Error; err != nil {
		t.Fatal(err)
	}
	if p := cl.Get("/alerts"); p.Status != http.StatusSeeOther {
		t.Errorf("idle session still works: %d", p.Status)
	}
}

func TestSessionsEndAfterThirtyDays(t *testing.T) {
	srv := webtest.Start(t)
	cl := srv.NewClient()
	cl.SignUp("Ops", "ops@example.com", password)
	// Active all along, but logged in 31 days ago.
	if err := srv.DB().Model(&models.Session{}).Where("1 = 1").Updates(map[string]any{"created_at": time.Now().AddDate(0, 0, -31), "last_seen_at": time.Now()}).Error; err != nil {
		t.Fatal(err)
	}
	if p := cl.Get("/alerts"); p.Status != http.StatusSeeOther {
		t.Errorf("a 31-day-old session still works: %d", p.Status)
	}
}

func TestClosedSignup(t *testing.T) {
	srv := webtest.Start(t, func(c *web.Config) { c.Signup = "closed" })
	first := srv.NewClient()
	first.SignUp("Ops", "ops@example.com", password) // the first team is always allowed
	cl := srv.NewClient()
	if p := cl.Get("/signup"); p.Status != http.StatusForbidden {
		t.Errorf("second sign-up page: %d, want 403", p.Status)
	}
	if p := cl.Get("/login"); p.Doc.Find(`a[href="/signup"]`).Length() != 0 {
		t.Errorf("log-in page links to a closed sign-up")
	}
	token := cl.Get("/login").CSRF()
	p := cl.Post("/signup", url.Values{"_csrf": {token}, "team": {"Other"}, "email": {"x@example.com"}, "password": {password}, "confirm": {password}})
	var n int64
	srv.DB().Model(&models.Account{}).Count(&n)
	if p.Status != http.StatusForbidden || n != 1 {
		t.Errorf("closed sign-up: %d, %d accounts", p.Status, n)
	}
}

func TestTeammates(t *testing.T) {
	srv := webtest.Start(t)
	owner := srv.NewClient()
	owner.SignUp("Ops", "ops@example.com", password)
	id := owner.CreateIntegration("MM", models.UrgencyLow)

	bad := owner.Submit("/team", "/team", url.Values{"email": {"ops@example.com"}, "password": {password}, "confirm": {password}})
	if bad.Status != 422 || bad.Text("#err-email") == "" {
		t.Errorf("duplicate teammate: %d %q", bad.Status, bad.Text("#err-email"))
	}
	p := owner.Submit("/team", "/team", url.Values{"email": {"mate@example.com"}, "password": {password}, "confirm": {password}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("add teammate: %d %s", p.Status, p.Body)
	}
	mate := srv.NewClient()
	if p := mate.Submit("/login", "/login", url.Values{"email": {"mate@example.com"}, "password": {password}}); p.Status != http.StatusSeeOther {
		t.Fatalf("teammate log-in: %d", p.Status)
	}
	if p := mate.Get("/integrations/" + id); p.Status != 200 {
		t.Errorf("teammate cannot see the team's integration: %d", p.Status)
	}
	var users []models.User
	srv.DB().Order("id").Find(&users)
	// Nobody removes themselves.
	self := mate.Submit("/team", "/team/"+itoa(users[1].ID)+"/remove", nil)
	if self.Status != http.StatusSeeOther {
		t.Errorf("remove self: %d", self.Status)
	}
	var n int64
	srv.DB().Model(&models.User{}).Count(&n)
	if n != 2 {
		t.Fatalf("a user removed themselves")
	}
	confirm := owner.Get("/team/" + itoa(users[1].ID) + "/remove")
	if confirm.Status != 200 || !strings.Contains(confirm.Text("h1"), "mate@example.com") {
		t.Fatalf("no confirmation before removing a teammate: %d %q", confirm.Status, confirm.Text("h1"))
	}
	stranger := srv.NewClient()
	stranger.SignUp("Strangers", "stranger@example.com", password)
	if p := stranger.Get("/team/" + itoa(users[1].ID) + "/remove"); p.Status != http.StatusNotFound {
		t.Errorf("another team's member: %d, want 404", p.Status)
	}
	if p := stranger.Submit("/team", "/team/"+itoa(users[1].ID)+"/remove", nil); p.Status != http.StatusNotFound {
		t.Errorf("another team removing a member: %d, want 404", p.Status)
	}
	if p := owner.Post("/team/"+itoa(users[1].ID)+"/remove", url.Values{"_csrf": {confirm.CSRF()}}); p.Status != http.StatusSeeOther {
		t.Fatalf("remove teammate: %d", p.Status)
	}
	if p := mate.Get("/integrations"); p.Status != http.StatusSeeOther {
		t.Errorf("a removed teammate keeps their session: %d", p.Status)
	}
}

func itoa(n uint) string { return strconvUint(uint64(n)) }

// TestChangePassword changes a password from the account page: wrong
// current password and bad new ones are shown next to their fields; success
// keeps this session, logs the user's other sessions out, and only the new
// password logs in afterwards.
func TestChangePassword(t *testing.T) {
	srv, cl := signedIn(t)
	other := srv.NewClient()
	if p := other.Submit("/login", "/login", url.Values{"email": {"ops@example.com"}, "password": {password}}); p.Status != http.StatusSeeOther {
		t.Fatalf("second session: log-in %d", p.Status)
	}
	if p := cl.Get("/alerts"); p.Doc.Find(`a[href="/account"]`).Length() != 1 {
		t.Error("the user menu has no link to the account page")
	}
	const newPassword = "a much better passphrase"
	for _, tc := range []struct {
		form  url.Values
		field string
	}{
		{url.Values{"current": {"not my password"}, "password": {newPassword}, "confirm": {newPassword}}, "current"},
		{url.Values{"current": {password}, "password": {"short"}, "confirm": {"short"}}, "password"},
		{url.Values{"current": {password}, "password": {newPassword}, "confirm": {newPassword + "!"}}, "confirm"},
		{url.Values{"current": {password}, "password": {password}, "confirm": {password}}, "password"},
	} {
		p := cl.Submit("/account", "/account/password", tc.form)
		if p.Status != http.StatusUnprocessableEntity || p.Doc.Find(`#err-`+tc.field).Length() != 1 {
			t.Errorf("%v: status %d, error next to %q: %d", tc.form, p.Status, tc.field, p.Doc.Find(`#err-`+tc.field).Length())
		}
	}
	if p := other.Get("/alerts"); p.Status != http.StatusOK {
		t.Fatalf("failed changes must not log anyone out: %d", p.Status)
	}
	csrfBefore := cl.Get("/account").CSRF()
	p := cl.Submit("/account", "/account/password", url.Values{"current": {password}, "password": {newPassword}, "confirm": {newPassword}})
	if p.Status != http.StatusSeeOther || p.Location != "/account" {
		t.Fatalf("change: %d → %q\n%s", p.Status, p.Location, p.Body)
	}
	after := cl.Get("/account")
	if after.Status != http.StatusOK || !strings.Contains(after.Text(".flash-success"), "password is changed") {
		t.Errorf("this session after the change: %d, flash %q", after.Status, after.Text(".flash-success"))
	}
	if after.CSRF() == csrfBefore || after.CSRF() == "" {
		t.Error("the session was not renewed (same CSRF token) after the password change")
	}
	if p := other.Get("/alerts"); p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/login") {
		t.Errorf("the other session still works after the change: %d %q", p.Status, p.Location)
	}
	third := srv.NewClient()
	if p := third.Submit("/login", "/login", url.Values{"email": {"ops@example.com"}, "password": {password}}); p.Status != http.StatusUnprocessableEntity {
		t.Errorf("old password: %d, want 422", p.Status)
	}
	if p := third.Submit("/login", "/login", url.Values{"email": {"ops@example.com"}, "password": {newPassword}}); p.Status != http.StatusSeeOther {
		t.Errorf("new password: %d, want 303", p.Status)
	}
}
