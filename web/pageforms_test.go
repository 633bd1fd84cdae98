package web_test

import (
	"bufio"
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"klaxon/models"
	"klaxon/web"
	"klaxon/web/webtest"
)

// repeatReader is an endless stream of one byte.
type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// hugeBody is size bytes of a form of contentType: a multipart body is one
// file part (the kind Go spills to a temporary file), the rest "a"s.
func hugeBody(contentType string, size int64) io.Reader {
	if !strings.HasPrefix(contentType, "multipart/") {
		return io.LimitReader(io.MultiReader(strings.NewReader("_csrf=x&pad="), repeatReader('a')), size)
	}
	head := "--b0undary\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\nx\r\n" +
		"--b0undary\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"big.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
	tail := "\r\n--b0undary--\r\n"
	fill := size - int64(len(head)+len(tail))
	return io.MultiReader(strings.NewReader(head), io.LimitReader(repeatReader('z'), fill), strings.NewReader(tail))
}

// sendStreamed posts body to path on a raw connection, with Content-Length
// size or chunked when size is -1, and returns the status. The server may
// answer before it has read the body (it should): the answer is read while
// the body is still being written.
func sendStreamed(t *testing.T, srv *webtest.Server, path, contentType, cookie string, body io.Reader, size int64) int {
	t.Helper()
	conn := dialServer(t, srv)
	defer conn.Close()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = max(size, 0) // 0 with a body: chunked
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "text/html")
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	go req.Write(conn) // ends with an error once the connection is closed
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("POST %s (%s, %d bytes): no answer: %v", path, contentType, size, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestPageBodiesAreSmallForms is finding 1 of issue 16: a large multipart
// or oversized body to any page route, signed in or not, is refused (413 or
// 415) before anything parses it, and leaves no file in the temp folder.
func TestPageBodiesAreSmallForms(t *testing.T) {
	srv := webtest.Start(t)
	cl := srv.NewClient()
	cl.SignUp("Ops", "ops@example.com", "correct horse battery")
	base, _ := url.Parse(srv.URL)
	var cookies []string
	for _, c := range cl.HTTP.Jar.Cookies(base) {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	session := strings.Join(cookies, "; ")

	// Temporary files of the server (this process) go here from now on.
	tmp := filepath.Join(t.TempDir(), "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmp)
	if os.TempDir() != tmp {
		t.Fatalf("os.TempDir() = %s, want %s", os.TempDir(), tmp)
	}

	const size = 100 << 20
	const multipart = "multipart/form-data; boundary=b0undary"
	const form = "application/x-www-form-urlencoded"
	targets := []struct{ path, cookie string }{
		{"/login", ""}, {"/signup", ""}, {"/logout", ""}, {"/no/such/page", ""},
		{"/integrations", session}, {"/team", session},
	}
	cases := []struct {
		name, contentType string
		length            int64
		want              int
	}{
		{"multipart with its length", multipart, size, http.StatusRequestEntityTooLarge},
		{"multipart chunked", multipart, -1, http.StatusUnsupportedMediaType},
		{"form with its length", form, size, http.StatusRequestEntityTooLarge},
		{"form chunked", form, -1, http.StatusRequestEntityTooLarge},
		{"text chunked", "text/plain", -1, http.StatusUnsupportedMediaType},
	}
	for _, target := range targets {
		for _, c := range cases {
			start := time.Now()
			status := sendStreamed(t, srv, target.path, c.contentType, target.cookie, hugeBody(c.contentType, size), c.length)
			if status != c.want {
				t.Errorf("POST %s, 100 MiB %s: %d, want %d", target.path, c.name, status, c.want)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("POST %s, 100 MiB %s: answered after %v: the body was read", target.path, c.name, took)
			}
		}
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		info, _ := e.Info()
		t.Errorf("the temp folder holds %s (%d bytes) after the requests", e.Name(), info.Size())
	}
	var integrations int64
	srv.DB().Model(&models.Integration{}).Count(&integrations)
	if integrations != 0 {
		t.Errorf("%d integrations were created", integrations)
	}
}

// TestPageBodyLimitIsExact: a form of exactly web.MaxPageBody bytes is read
// (and refused only for its wrong password), one byte more is 413 with a
// page that says why.
func TestPageBodyLimitIsExact(t *testing.T) {
	srv := webtest.Start(t)
	webtest.NewClientFor(t, srv.URL).SignUp("Ops", "ops@example.com", "correct horse battery")
	cl := srv.NewClient()
	token := cl.Get("/login").CSRF()
	post := func(size int) *webtest.Page {
		body := "_csrf=" + token + "&email=ops%40example.com&password=wrong+password&pad="
		body += strings.Repeat("a", size-len(body))
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/login", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "text/html")
		return cl.Do(req)
	}
	if p := post(web.MaxPageBody); p.Status != http.StatusUnprocessableEntity {
		t.Errorf("a %d-byte log-in form: %d, want 422 (wrong password)", web.MaxPageBody, p.Status)
	}
	p := post(web.MaxPageBody + 1)
	if p.Status != http.StatusRequestEntityTooLarge || !strings.Contains(p.Text("main"), "64 KiB") {
		t.Errorf("a %d-byte log-in form: %d %q, want 413 saying the limit", web.MaxPageBody+1, p.Status, p.Text("main"))
	}
	// Forms that carry the token in the header and no body still work.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/logout", nil)
	req.Header.Set("X-CSRF-Token", token)
	if p := cl.Do(req); p.Status != http.StatusSeeOther {
		t.Errorf("log-out without a body: %d, want 303", p.Status)
	}
}

// TestCrossSitePostsAreRefused: the browser's Fetch metadata (or, from older
// browsers, Origin) refuses a form from another site before the CSRF token
// is looked at; same-origin forms and clients that send neither still work.
func TestCrossSitePostsAreRefused(t *testing.T) {
	srv := webtest.Start(t)
	cl := srv.NewClient()
	cl.SignUp("Ops", "ops@example.com", "correct horse battery")
	token := cl.Get("/integrations/new/mattermost").CSRF()
	create := func(header, value string) *webtest.Page {
		form := url.Values{"_csrf": {token}, "name": {"MM " + value}, "default_urgency": {"high"}}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/integrations", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "text/html")
		if header != "" {
			req.Header.Set(header, value)
		}
		return cl.Do(req)
	}
	for _, h := range [][2]string{{"Sec-Fetch-Site", "cross-site"}, {"Sec-Fetch-Site", "same-site"}, {"Origin", "http://evil.example"}} {
		p := create(h[0], h[1])
		if p.Status != http.StatusForbidden || !strings.Contains(p.Text("main"), "another site") {
			t.Errorf("%s: %s with a valid token: %d %q, want 403 saying it came from another site", h[0], h[1], p.Status, p.Text("main"))
		}
	}
	for _, h := range [][2]string{{"Sec-Fetch-Site", "same-origin"}, {"Origin", srv.URL}, {"", "no header"}} {
		if p := create(h[0], h[1]); p.Status != http.StatusSeeOther {
			t.Errorf("%s %s: %d, want 303", h[0], h[1], p.Status)
		}
	}
	var integrations int64
	srv.DB().Model(&models.Integration{}).Count(&integrations)
	if integrations != 3 {
		t.Errorf("%d integrations, want the 3 same-origin ones", integrations)
	}
}

// TestBrowserRefusesFormFromAnotherSite: in Chromium, a page on another
// port of the same host (same-site, so the Lax session cookie goes along)
// posts a form to Klaxon; Klaxon refuses it as coming from another site,
// says so, and creates nothing.
func TestBrowserRefusesFormFromAnotherSite(t *testing.T) {
	srv := webtest.Start(t)
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><form method="post" action="%s/integrations">
<input name="name" value="Planted"><input name="default_urgency" value="critical">
<button id="go" type="submit">Win a prize</button></form>`, html.EscapeString(srv.URL))
	}))
	t.Cleanup(evil.Close)
	b := newTab(t)
	b.step("sign up", func(ctx context.Context) error {
		if err := open(ctx, srv.URL+"/signup", http.StatusOK); err != nil {
			return err
		}
		if err := chromedp.Do(ctx, typeInto("#f-team", "Ops"), typeInto("#f-email", "ops@example.com"),
			typeInto("#f-password", "correct horse battery"), typeInto("#f-confirm", "correct horse battery")); err != nil {
			return err
		}
		return follow(ctx, `form[action="/signup"] button[type=submit]`, http.StatusOK)
	})
	b.step("submit the other site's form", func(ctx context.Context) error {
		if err := open(ctx, evil.URL, http.StatusOK); err != nil {
			return err
		}
		if err := follow(ctx, "#go", http.StatusForbidden); err != nil {
			return err
		}
		msg, err := text(ctx, "main")
		if err != nil {
			return err
		}
		if !strings.Contains(msg, "sent from another site") {
			return fmt.Errorf("the page says %q, want that the form came from another site", msg)
		}
		return nil
	})
	var integrations int64
	srv.DB().Model(&models.Integration{}).Count(&integrations)
	if integrations != 0 {
		t.Errorf("%d integrations were created by the other site's form", integrations)
	}
}

// TestSlowPageFormIsRefused: a form whose body does not arrive within the
// read timeout is answered 400, saying so without Klaxon's address.
func TestSlowPageFormIsRefused(t *testing.T) {
	srv := webtest.Start(t, func(c *web.Config) { c.ReadTimeout = 500 * time.Millisecond })
	conn := dialServer(t, srv)
	fmt.Fprint(conn, "POST /login HTTP/1.1\r\nHost: klaxon\r\nAccept: text/html\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nemail=")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a form that never ends: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "could not be read completely") ||
		strings.Contains(string(body), strings.TrimPrefix(srv.URL, "http://")) {
		t.Errorf("status %d %s, want 400 saying the form could not be read, without Klaxon's address", resp.StatusCode, body)
	}
}

// TestCSRFTokenComesFromTheBody: the token counts in the form body or the
// X-CSRF-Token header, not in the URL (where it would leak into logs).
func TestCSRFTokenComesFromTheBody(t *testing.T) {
	srv := webtest.Start(t)
	cl := srv.NewClient()
	cl.SignUp("Ops", "ops@example.com", "correct horse battery")
	token := cl.Get("/integrations/new/mattermost").CSRF()
	form := url.Values{"name": {"MM"}, "default_urgency": {"high"}}
	if p := cl.Post("/integrations?_csrf="+url.QueryEscape(token), form); p.Status != http.StatusForbidden {
		t.Errorf("token in the URL: %d, want 403", p.Status)
	}
	form.Set("_csrf", token)
	if p := cl.Post("/integrations", form); p.Status != http.StatusSeeOther {
		t.Errorf("token in the body: %d, want 303", p.Status)
	}
}
