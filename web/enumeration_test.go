package web_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"klaxon/handlers"
	"klaxon/models"
	"klaxon/web"
	"klaxon/web/webtest"
)

// behindProxy starts Klaxon on dbURL trusting loopback as a reverse proxy,
// so that tests can speak from several client addresses (forwardedFor).
func behindProxy(t *testing.T, dbURL string) *webtest.Server {
	t.Helper()
	return webtest.Start(t, func(c *web.Config) {
		c.DatabaseURL = dbURL
		var err error
		if c.TrustedProxies, err = web.ParseTrustedProxies("127.0.0.1"); err != nil {
			t.Fatal(err)
		}
	})
}

func countRows(t *testing.T, srv *webtest.Server, model any) int64 {
	t.Helper()
	var n int64
	if err := srv.DB().Model(model).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSignupIsThrottledPerAddress is finding 6 of issue 16: sign-up tells
// whether an email is in use, so one address gets DefaultSignupAddress
// sign-ups that reach that check per window (forms with mistakes do not
// count); other addresses are not held up.
func TestSignupIsThrottledPerAddress(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		srv := behindProxy(t, dbURL)
		signup := func(ip, email, pw string) *webtest.Page {
			return forwardedFor(srv.NewClient(), ip).Submit("/signup", "/signup",
				url.Values{"team": {"Probe"}, "email": {email}, "password": {pw}, "confirm": {pw}})
		}
		const prober = "203.0.113.7"
		if p := signup(prober, "first@example.com", password); p.Status != http.StatusSeeOther {
			t.Fatalf("first sign-up: %d", p.Status)
		}
		for i := 1; i < handlers.DefaultSignupAddress; i++ {
			if p := signup(prober, "typo@example.com", "short"); p.Status != http.StatusUnprocessableEntity {
				t.Fatalf("a short password: %d, want 422", p.Status)
			}
			p := signup(prober, "first@example.com", password)
			if p.Status != http.StatusUnprocessableEntity || !strings.Contains(p.Text("#err-email"), "already exists") {
				t.Fatalf("sign-up %d with a taken email: %d %q", i+1, p.Status, p.Text("#err-email"))
			}
		}
		p := signup(prober, "second@example.com", password)
		if p.Status != http.StatusTooManyRequests || !strings.Contains(p.Text("#err-form"), "Too many sign-ups") {
			t.Fatalf("sign-up %d from one address: %d %q, want 429 saying why", handlers.DefaultSignupAddress+1, p.Status, p.Text("#err-form"))
		}
		if ra, err := strconv.Atoi(p.Header.Get("Retry-After")); err != nil || ra < 60 {
			t.Errorf("Retry-After %q, want minutes", p.Header.Get("Retry-After"))
		}
		if v, _ := p.Doc.Find("#f-email").Attr("value"); v != "second@example.com" {
			t.Errorf("the throttled form lost its email: %q", v)
		}
		if p := signup("198.51.100.8", "second@example.com", password); p.Status != http.StatusSeeOther {
			t.Errorf("a sign-up from another address: %d, want 303", p.Status)
		}
		if n := countRows(t, srv, &models.Account{}); n != 2 {
			t.Errorf("%d teams, want 2", n)
		}
	})
}

// TestAddTeammateIsThrottledAndSaysLittle: adding an email in use says
// whether it is on your own team, and nothing of another team; add-teammate
// is limited per team (whatever the address) and per address (whatever
// the team, as one address can sign up several).
func TestAddTeammateIsThrottledAndSaysLittle(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		srv := behindProxy(t, dbURL)
		signUp := func(ip, team, email string) *webtest.Client {
			cl := forwardedFor(srv.NewClient(), ip)
			cl.SignUp(team, email, password)
			return cl
		}
		a := signUp("203.0.113.1", "Alpha Ops", "a@example.com")
		b := signUp("203.0.113.2", "Bravo Secret Team", "b@example.com")
		add := func(cl *webtest.Client, ip, email string) *webtest.Page {
			return forwardedFor(cl, ip).Submit("/team", "/team", url.Values{"email": {email}, "password": {password}, "confirm": {password}})
		}

		const prober = "203.0.113.7"
		other := add(a, prober, "B@example.com")
		msg := other.Text("#err-email")
		if other.Status != http.StatusUnprocessableEntity || !strings.Contains(msg, "cannot be added") {
			t.Fatalf("another team's email: %d %q, want 422 saying it cannot be added", other.Status, msg)
		}
		for _, tell := range []string{"Bravo", "team's", "belongs"} {
			if strings.Contains(other.Text("main"), tell) {
				t.Errorf("the answer for another team's email says %q: %q", tell, msg)
			}
		}
		own := add(a, prober, "a@example.com")
		if own.Status != http.StatusUnprocessableEntity || !strings.Contains(own.Text("#err-email"), "already on your team") {
			t.Errorf("one's own email: %d %q, want 422 saying it is on the team", own.Status, own.Text("#err-email"))
		}
		if p := add(a, prober, "bad address"); p.Status != http.StatusUnprocessableEntity || p.Text("#err-email") == "" {
			t.Errorf("an invalid email: %d, want 422 (not counted)", p.Status)
		}
		for i := 2; i < handlers.DefaultTeammateTeam; i++ {
			if p := add(a, prober, "b@example.com"); p.Status != http.StatusUnprocessableEntity {
				t.Fatalf("attempt %d: %d, want 422", i+1, p.Status)
			}
		}
		p := add(a, prober, "new@example.com")
		if p.Status != http.StatusTooManyRequests || !strings.Contains(p.Text("#err-form"), "Too many teammates") {
			t.Fatalf("attempt %d for one team: %d %q, want 429 saying why", handlers.DefaultTeammateTeam+1, p.Status, p.Text("#err-form"))
		}
		if p.Header.Get("Retry-After") == "" {
			t.Error("no Retry-After")
		}
		if p := add(a, "198.51.100.9", "new@example.com"); p.Status != http.StatusTooManyRequests {
			t.Errorf("the same team from another address: %d, want 429 (per team)", p.Status)
		}
		if p := add(b, prober, "new@example.com"); p.Status != http.StatusTooManyRequests {
			t.Errorf("another team from the same address: %d, want 429 (per address)", p.Status)
		}
		if p := add(b, "198.51.100.9", "new@example.com"); p.Status != http.StatusSeeOther {
			t.Errorf("another team from another address: %d, want 303", p.Status)
		}
		if n := countRows(t, srv, &models.User{}); n != 3 {
			t.Errorf("%d users, want 3", n)
		}
	})
}
