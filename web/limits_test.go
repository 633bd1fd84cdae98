package web_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"klaxon/models"
	"klaxon/web"
	"klaxon/web/webtest"
)

// limitsTeam starts Klaxon with options, signs up a team and creates one
// integration.
func limitsTeam(t *testing.T, options ...func(*web.Config)) (*webtest.Server, *webtest.Client, string) {
	t.Helper()
	srv := webtest.Start(t, options...)
	cl := srv.NewClient()
	cl.SignUp("Ops", "ops@example.com", "correct horse battery")
	return srv, cl, cl.CreateIntegration("Mattermost #ops", models.UrgencyMedium)
}

// postJSON posts body as JSON to url and returns the answer and its body.
func postJSON(t *testing.T, url, body string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, raw
}

// dialServer opens a raw TCP connection to srv.
func dialServer(t *testing.T, srv *webtest.Server) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// waitClosed reads from conn until the server closes it, and returns how
// long that took; it fails when the server answers or keeps it open for
// more than max.
func waitClosed(t *testing.T, conn net.Conn, max time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	conn.SetReadDeadline(start.Add(max))
	n, err := conn.Read(make([]byte, 4096))
	var ne net.Error
	switch {
	case n > 0:
		t.Fatalf("the server answered instead of closing the connection")
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatalf("the server still held the connection after %v", max)
	case err == nil:
		t.Fatal("read returned nothing and no error")
	}
	return time.Since(start)
}

func TestSlowHeadersAreCutOff(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv, _, id := limitsTeam(t, func(c *web.Config) { c.ReadHeaderTimeout = timeout })
	conn := dialServer(t, srv)
	start := time.Now()
	if _, err := fmt.Fprintf(conn, "POST /integration/%s HTTP/1.1\r\nHost: klaxon\r\nX-Slow: ", id); err != nil {
		t.Fatal(err)
	}
	// A slow-loris client: one header byte every 50 ms, for 10 s if
	// nobody stops it.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; i < 200; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := conn.Write([]byte("x")); err != nil {
				return
			}
		}
	}()
	waitClosed(t, conn, 5*time.Second)
	if took := time.Since(start); took < timeout-50*time.Millisecond || took > 3*time.Second {
		t.Errorf("connection closed after %v, want about %v", took, timeout)
	}
	// The server is still fine.
	if status, _ := webtest.Intake(t, srv.URL, id, "application/json", `{"text":"outage after slow loris"}`); status != http.StatusOK {
		t.Errorf("intake after the slow client: %d", status)
	}
}

func TestSlowBodyIsCutOff(t *testing.T) {
	const timeout = 500 * time.Millisecond
	srv, _, id := limitsTeam(t, func(c *web.Config) { c.ReadTimeout = timeout })
	conn := dialServer(t, srv)
	start := time.Now()
	fmt.Fprintf(conn, "POST /integration/%s HTTP/1.1\r\nHost: klaxon\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"text\":\"", id)
	go func() {
		for i := 0; i < 200; i++ {
			time.Sleep(50 * time.Millisecond)
			if _, err := conn.Write([]byte("x")); err != nil {
				return
			}
		}
	}()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a body that never ends: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	took := time.Since(start)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "could not be read") {
		t.Errorf("status %d %s, want 400 saying the body could not be read", resp.StatusCode, body)
	}
	if took > 3*time.Second {
		t.Errorf("answered after %v, want about %v", took, timeout)
	}
	var logs []models.IntegrationLog
	srv.DB().Where("outcome = ?", models.OutcomeInvalid).Find(&logs)
	if len(logs) != 1 {
		t.Fatalf("request-log rows for the slow body: %d, want 1", len(logs))
	}
	// Klaxon's own socket address is nobody's business.
	local := strings.TrimPrefix(srv.URL, "http://")
	for where, msg := range map[string]string{"answer": string(body), "request log": logs[0].Message} {
		if strings.Contains(msg, local) || strings.Contains(msg, "tcp") || !strings.Contains(msg, "did not arrive in time") {
			t.Errorf("the %s says %q: want that the body did not arrive in time, without Klaxon's address %s", where, msg, local)
		}
	}
}

func TestIdleConnectionsAreClosed(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv, _, _ := limitsTeam(t, func(c *web.Config) { c.IdleTimeout = timeout })
	conn := dialServer(t, srv)
	fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\nHost: klaxon\r\n\r\n")
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("healthz: %d, close=%v; want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
	}
	if took := waitClosed(t, conn, 5*time.Second); took < timeout-50*time.Millisecond || took > 3*time.Second {
		t.Errorf("idle connection closed after %v, want about %v", took, timeout)
	}
}

func TestHeaderSizeLimit(t *testing.T) {
	srv, _, id := limitsTeam(t) // the default limit: 64 KiB
	send := func(size int) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/integration/"+id, strings.NewReader(`{"text":"outage big headers"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Padding", strings.Repeat("a", size))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%d-byte header: %v", size, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status := send(32 << 10); status != http.StatusOK {
		t.Errorf("32 KiB of headers: %d, want 200", status)
	}
	if status := send(128 << 10); status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("128 KiB of headers: %d, want 431", status)
	}
}

func TestBodyLimitIsOneMiB(t *testing.T) {
	srv, _, id := limitsTeam(t)
	body := func(size int) string {
		prefix, suffix := `{"text":"outage big body","pad":"`, `"}`
		return prefix + strings.Repeat("a", size-len(prefix)-len(suffix)) + suffix
	}
	exact := body(1 << 20)
	if status, raw := webtest.Intake(t, srv.URL, id, "application/json", exact); status != http.StatusOK {
		t.Errorf("exactly 1 MiB: %d %s, want 200", status, raw)
	}
	if status, _ := webtest.Intake(t, srv.URL, id, "application/json", body(1<<20+1)); status != http.StatusRequestEntityTooLarge {
		t.Errorf("1 MiB + 1 byte: %d, want 413", status)
	}
	// Without Content-Length (chunked; MultiReader hides the length) the
	// limit holds while reading.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/integration/"+id, io.MultiReader(strings.NewReader(body(1<<20+1))))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked 1 MiB + 1 byte: %d, want 413", resp.StatusCode)
	}
	var alerts int64
	srv.DB().Model(&models.Alert{}).Count(&alerts)
	if alerts != 1 {
		t.Errorf("%d alerts, want 1 (only the 1 MiB body)", alerts)
	}
}

func TestIntakeRateLimit(t *testing.T) {
	srv, cl, id := limitsTeam(t, func(c *web.Config) { c.RateLimit, c.RateBurst = 0.5, 3 })
	other := cl.CreateIntegration("Other", models.UrgencyLow)
	for i := range 3 {
		if status, raw := webtest.Intake(t, srv.URL, id, "application/json", fmt.Sprintf(`{"text":"outage %d","post_id":"p%d"}`, i, i)); status != http.StatusOK {
			t.Fatalf("request %d within the burst: %d %s", i, status, raw)
		}
	}
	resp, raw := postJSON(t, srv.URL+"/integration/"+id, `{"text":"outage too many","post_id":"p3"}`)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(raw), `"error"`) {
		t.Fatalf("over the limit: %d %s, want 429 with an error", resp.StatusCode, raw)
	}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || secs < 1 || secs > 2 {
		t.Errorf("Retry-After %q, want 1 or 2 seconds at 0.5 requests per second", resp.Header.Get("Retry-After"))
	}
	// The limit is per integration: another one is not affected.
	if status, _ := webtest.Intake(t, srv.URL, other, "application/json", `{"text":"outage elsewhere"}`); status != http.StatusOK {
		t.Errorf("another integration: %d, want 200", status)
	}
	var alerts int64
	srv.DB().Model(&models.Alert{}).Where("dedup_key = ?", "p3").Count(&alerts)
	if alerts != 0 {
		t.Error("the refused request created an alert")
	}
	var logs []models.IntegrationLog
	srv.DB().Where("outcome = ?", models.OutcomeRateLimited).Find(&logs)
	if len(logs) != 1 || logs[0].Status != http.StatusTooManyRequests || !strings.Contains(logs[0].Body, "too many") {
		t.Fatalf("request log: %+v, want one rate_limited row with status 429 and the body", logs)
	}
	page := cl.Get("/integrations/" + id)
	if !strings.Contains(page.Text(`[data-testid="log-row"]`), "Rate limited") {
		t.Errorf("the integration's request log does not show the refusal")
	}
}

// TestWrongTokensDoNotStarveTheSender floods an integration with requests
// carrying a wrong token (someone probing, or an old webhook): they run out
// of their own bucket and get 429, keep only a short excerpt of their body in
// the request log, and the sender with the right token still gets through.
func TestWrongTokensDoNotStarveTheSender(t *testing.T) {
	srv, cl, id := limitsTeam(t, func(c *web.Config) { c.RateLimit, c.RateBurst = 0.5, 3 })
	const token = "fsjg44c9ojduudat814ue9uf7y"
	cl.SetToken(id, token)
	padding := strings.Repeat("x", 10<<10)
	var statuses []int
	for i := range 8 {
		status, _ := webtest.Intake(t, srv.URL, id, "application/json", fmt.Sprintf(`{"token":"wrong","text":"outage %d %s"}`, i, padding))
		statuses = append(statuses, status)
	}
	want := []int{403, 403, 403, 429, 429, 429, 429, 429}
	if fmt.Sprint(statuses) != fmt.Sprint(want) {
		t.Errorf("wrong-token flood answered %v, want %v (the refused requests' own burst of 3, then 429)", statuses, want)
	}
	for i := range 3 {
		if status, raw := webtest.Intake(t, srv.URL, id, "application/json", fmt.Sprintf(`{"token":%q,"text":"real outage %d"}`, token, i)); status != http.StatusOK {
			t.Fatalf("the real sender's request %d after the flood: %d %s", i, status, raw)
		}
	}
	var logs []models.IntegrationLog
	srv.DB().Where("outcome <> ?", models.OutcomeAccepted).Order("id").Find(&logs)
	if len(logs) != 8 {
		t.Fatalf("%d request-log rows for the 8 refused requests", len(logs))
	}
	for _, l := range logs {
		if len(l.Body) > models.MaxRefusedLoggedBody+200 || !strings.Contains(l.Body, "first 2 KiB") {
			t.Errorf("a refused request's log row keeps %d bytes of body, want a cut excerpt of about %d", len(l.Body), models.MaxRefusedLoggedBody)
		}
	}
	if !strings.Contains(logs[7].Message, "wrong token") {
		t.Errorf("the 429 of a refused request does not say what was refused: %q", logs[7].Message)
	}
}

// TestFailedWriteAnswers503AndLogsIt makes the database refuse the alert's
// write: the sender gets 503 with Retry-After, and the request log shows the
// request as not stored.
func TestFailedWriteAnswers503AndLogsIt(t *testing.T) {
	srv, cl, id := limitsTeam(t)
	if err := srv.DB().Exec(`CREATE TRIGGER fail_alerts BEFORE INSERT ON alerts BEGIN SELECT RAISE(ABORT, 'disk full'); END`).Error; err != nil {
		t.Fatal(err)
	}
	resp, raw := postJSON(t, srv.URL+"/integration/"+id, `{"text":"outage db-1","post_id":"p1"}`)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "5" || !strings.Contains(string(raw), "try again") {
		t.Fatalf("failed write: %d, Retry-After %q, %s; want 503 with Retry-After and a message", resp.StatusCode, resp.Header.Get("Retry-After"), raw)
	}
	var logs []models.IntegrationLog
	srv.DB().Find(&logs)
	if len(logs) != 1 || logs[0].Outcome != models.OutcomeFailed || logs[0].Status != 503 || !strings.Contains(logs[0].Body, "outage db-1") {
		t.Fatalf("request log: %+v, want one failed row with status 503 and the body", logs)
	}
	if !strings.Contains(cl.Get("/integrations/"+id).Text(`[data-testid="log-row"]`), "Failed") {
		t.Error("the integration's request log does not show the failure")
	}
	if logs := srv.Logs.String(); !strings.Contains(logs, "disk full") {
		t.Errorf("the server log does not say why the write failed:\n%s", logs)
	}
}

func TestLogInThrottle(t *testing.T) {
	srv, _, _ := limitsTeam(t)
	cl := srv.NewClient()
	login := func(password string) *webtest.Page {
		return cl.Submit("/login", "/login", url.Values{"email": {"ops@example.com"}, "password": {password}})
	}
	for i := range 5 {
		if p := login("wrong password " + strconv.Itoa(i)); p.Status != http.StatusUnprocessableEntity {
			t.Fatalf("failure %d: %d, want 422", i+1, p.Status)
		}
	}
	p := login("correct horse battery")
	if p.Status != http.StatusTooManyRequests {
		t.Fatalf("right password after 5 failures: %d, want 429", p.Status)
	}
	if msg := p.Text("main"); !strings.Contains(msg, "Too many failed log-ins") || !strings.Contains(msg, "minutes") {
		t.Errorf("the page should say why and how long to wait: %q", msg)
	}
	if ra, err := strconv.Atoi(p.Header.Get("Retry-After")); err != nil || ra < 60 {
		t.Errorf("Retry-After %q, want minutes", p.Header.Get("Retry-After"))
	}
	if got := cl.Get("/alerts"); got.Status != http.StatusSeeOther || !strings.HasPrefix(got.Location, "/login") {
		t.Errorf("the throttled client is signed in: GET /alerts = %d %s", got.Status, got.Location)
	}
}

// TestClientAddressBehindProxy: with -trusted-proxies naming the proxy (here
// loopback, where the tests connect from), the request log line and the
// intake request log show the client's address from X-Forwarded-For;
// without it the header is ignored and the peer's address is shown.
func TestClientAddressBehindProxy(t *testing.T) {
	for _, tc := range []struct {
		proxies, want string
	}{
		{"127.0.0.1", "203.0.113.7"},
		{"", "127.0.0.1"},
	} {
		t.Run("proxies="+tc.proxies, func(t *testing.T) {
			srv, _, id := limitsTeam(t, func(c *web.Config) {
				var err error
				if c.TrustedProxies, err = web.ParseTrustedProxies(tc.proxies); err != nil {
					t.Fatal(err)
				}
			})
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/integration/"+id, strings.NewReader(`{"text":"outage db-1"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Forwarded-For", "203.0.113.7")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("intake: %d", resp.StatusCode)
			}
			var logs []models.IntegrationLog
			srv.DB().Find(&logs)
			if len(logs) != 1 || logs[0].Source != tc.want {
				t.Errorf("request log: %+v, want one row from %s", logs, tc.want)
			}
			if line := `"path":"/integration/` + id + `","status":200`; !strings.Contains(srv.Logs.String(), line) {
				t.Fatalf("no request line %s in the log:\n%s", line, srv.Logs.String())
			}
			for _, l := range strings.Split(srv.Logs.String(), "\n") {
				if strings.Contains(l, `"path":"/integration/`) && !strings.Contains(l, `"ip":"`+tc.want+`"`) {
					t.Errorf("the request line does not show ip %s: %s", tc.want, l)
				}
			}
		})
	}
}

// forwardedFor makes cl's requests carry X-Forwarded-For: addr, as a reverse
// proxy in front of Klaxon would add.
func forwardedFor(cl *webtest.Client, addr string) *webtest.Client {
	cl.HTTP.Transport = headerTransport{"X-Forwarded-For", addr}
	return cl
}

type headerTransport struct{ name, value string }

func (h headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set(h.name, h.value)
	return http.DefaultTransport.RoundTrip(req)
}

// TestLogInThrottleBehindProxy: behind a trusted proxy, five wrong passwords
// for one email from one client lock that client out for that email only.
// The same user elsewhere and a colleague at the same address still log in.
func TestLogInThrottleBehindProxy(t *testing.T) {
	srv, owner, _ := limitsTeam(t, func(c *web.Config) {
		var err error
		if c.TrustedProxies, err = web.ParseTrustedProxies("127.0.0.1"); err != nil {
			t.Fatal(err)
		}
	})
	const pw = "correct horse battery"
	if p := owner.Submit("/team", "/team", url.Values{"email": {"mate@example.com"}, "password": {pw}, "confirm": {pw}}); p.Status != http.StatusSeeOther {
		t.Fatalf("add teammate: %d", p.Status)
	}
	login := func(cl *webtest.Client, email, password string) int {
		return cl.Submit("/login", "/login", url.Values{"email": {email}, "password": {password}}).Status
	}
	guesser := forwardedFor(srv.NewClient(), "203.0.113.7")
	for i := range 5 {
		if status := login(guesser, "ops@example.com", "wrong password "+strconv.Itoa(i)); status != http.StatusUnprocessableEntity {
			t.Fatalf("failure %d: %d, want 422", i+1, status)
		}
	}
	if status := login(guesser, "ops@example.com", pw); status != http.StatusTooManyRequests {
		t.Fatalf("sixth try from the same client: %d, want 429", status)
	}
	if status := login(forwardedFor(srv.NewClient(), "198.51.100.8"), "ops@example.com", pw); status != http.StatusSeeOther {
		t.Errorf("the same user from another address: %d, want 303 (logged in)", status)
	}
	if status := login(forwardedFor(srv.NewClient(), "203.0.113.7"), "mate@example.com", pw); status != http.StatusSeeOther {
		t.Errorf("a colleague at the guesser's address: %d, want 303 (logged in)", status)
	}
}

// TestPasswordCheckThrottleIsSeparate: wrong current passwords on "Your
// account" are limited per user, and do not count against log-ins (nor
// failed log-ins against them).
func TestPasswordCheckThrottleIsSeparate(t *testing.T) {
	srv, cl, _ := limitsTeam(t)
	const pw = "correct horse battery"
	const newPw = "a much better passphrase"
	change := func(current string) *webtest.Page {
		return cl.Submit("/account", "/account/password", url.Values{"current": {current}, "password": {newPw}, "confirm": {newPw}})
	}
	other := srv.NewClient()
	for i := range 5 {
		other.Submit("/login", "/login", url.Values{"email": {"ops@example.com"}, "password": {"wrong " + strconv.Itoa(i)}})
	}
	if p := change("still wrong"); p.Status != http.StatusUnprocessableEntity {
		t.Fatalf("wrong current password after 5 failed log-ins: %d, want 422", p.Status)
	}
	for i := range 4 {
		if p := change("wrong " + strconv.Itoa(i)); p.Status != http.StatusUnprocessableEntity {
			t.Fatalf("wrong current password %d: %d, want 422", i+2, p.Status)
		}
	}
	p := change(pw)
	if p.Status != http.StatusTooManyRequests || !strings.Contains(p.Text("main"), "Too many wrong passwords") {
		t.Fatalf("right current password after 5 wrong ones: %d, want 429 with a message\n%s", p.Status, p.Text("main"))
	}
	if ra, err := strconv.Atoi(p.Header.Get("Retry-After")); err != nil || ra < 60 {
		t.Errorf("Retry-After %q, want minutes", p.Header.Get("Retry-After"))
	}
	// The other way round: wrong current passwords do not stop the user
	// from logging in from the same address.
	srv2, cl2, _ := limitsTeam(t)
	for i := range 5 {
		cl2.Submit("/account", "/account/password", url.Values{"current": {"wrong " + strconv.Itoa(i)}, "password": {newPw}, "confirm": {newPw}})
	}
	if p := srv2.NewClient().Submit("/login", "/login", url.Values{"email": {"ops@example.com"}, "password": {pw}}); p.Status != http.StatusSeeOther {
		t.Errorf("log-in after 5 wrong current passwords: %d, want 303", p.Status)
	}
}
