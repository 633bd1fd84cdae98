package notify

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Only Mattermost's own answers are shown: "ok", and the message of its
// JSON error (sent as application/json, or untyped by older versions and
// then sniffed as text/plain). Anything else is only described.
func TestExcerptShowsOnlyMattermostAnswers(t *testing.T) {
	appErr := `{"id":"web.incoming_webhook.invalid.app_error","message":"Invalid webhook.","detailed_error":"","request_id":"8xq3","status_code":400}`
	for _, tt := range []struct {
		name, ctype, body string
		status            int
		want              string
	}{
		{"ok", "text/plain", "ok", 200, "ok"},
		{"ok untyped", "", "ok", 200, "ok"},
		{"app error", "application/json", appErr, 400, "Invalid webhook."},
		{"app error sniffed", "text/plain; charset=utf-8", appErr, 400, "Invalid webhook."},
		{"hardened mode 5xx", "application/json", `{"id":"","message":"Internal Server Error","detailed_error":"","request_id":"x","status_code":500}`, 500, "Internal Server Error"},
		{"message cleaned", "application/json", `{"id":"x","message":"two\nlines\u0000 and\ttabs  ","status_code":400}`, 400, "two lines\uFFFD and tabs"},
		{"message cut", "application/json", `{"id":"x","message":"` + strings.Repeat("é", 300) + `"}`, 400, "" + strings.Repeat("é", 199) + "…"},
		{"detailed error not shown", "application/json", `{"id":"x","message":"Unable to post.","detailed_error":"pq: connection to 10.0.0.5 refused"}`, 500, "Unable to post."},

		{"other text", "text/plain", "internal config: password=hunter2", 200, "(a text/plain answer of 33 bytes, not shown)"},
		{"other JSON", "application/json", `{"message":"bad"}`, 400, "(an application/json answer of 17 bytes, not shown)"},
		{"other JSON with Mattermost's fields and more", "application/json", `{"id":"1","message":"hi","secret":"s3cr3t"}`, 400, "(an application/json answer of 43 bytes, not shown)"},
		{"status code not the answer's", "application/json", `{"id":"1","message":"db password is hunter2","status_code":400}`, 200, "(an application/json answer of 63 bytes, not shown)"},
		{"empty message", "application/json", `{"id":"1","message":" "}`, 400, "(an application/json answer of 24 bytes, not shown)"},
		{"two objects", "application/json", `{"id":"1","message":"a"}{"x":1}`, 400, "(an application/json answer of 31 bytes, not shown)"},
		{"JSON array", "application/json", `[{"id":"1","message":"a"}]`, 400, "(an application/json answer of 26 bytes, not shown)"},
		{"HTML", "text/html", "<html>secret</html>", 200, "(a text/html answer of 19 bytes, not shown)"},
		{"HTML shaped like an error", "text/html", `{"id":"1","message":"a"}`, 400, "(a text/html answer of 24 bytes, not shown)"},
		{"long", "text/plain", strings.Repeat("x", 5000), 200, "(a text/plain answer of more than 4096 bytes, not shown)"},
		{"ok with more", "text/plain", "ok\nroot:x:0:0", 200, "(a text/plain answer of 13 bytes, not shown)"},
		{"untyped", "", "hello", 200, "(an untyped answer of 5 bytes, not shown)"},
	} {
		rec := httptest.NewRecorder()
		if tt.ctype != "" {
			rec.Header().Set("Content-Type", tt.ctype)
		}
		rec.WriteHeader(tt.status)
		rec.WriteString(tt.body)
		resp := rec.Result()
		if tt.ctype == "" {
			resp.Header.Del("Content-Type")
		}
		if got := excerpt(resp); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

// refusedAddr returns a loopback address nothing listens on.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Go's errors print the webhook URL as url.Parse made it, not as it was
// stored: every spelling is redacted. The errors are real: posts to a
// port nothing listens on.
func TestRedactURLErrorOfRealErrors(t *testing.T) {
	addr := refusedAddr(t)
	client := NewClient(Networks{AllowLoopback: true})
	for _, tt := range []struct {
		name, webhook string
		secrets       []string // must not be in the text
	}{
		{"as stored", "http://" + addr + "/hooks/abcdefghijklmnopqrstuvwxyz", []string{"abcdefghijklmnopqrstuvwxyz"}},
		{"scheme in capitals", "HTTP://" + addr + "/hooks/3fjq8kxdyb8r5jfi7wsomqn3uw", []string{"3fjq8kxdyb8r5jfi7wsomqn3uw"}},
		{"space escaped", "http://" + addr + "/hooks/ab cd ef gh", []string{"ab cd ef gh", "ab%20cd%20ef%20gh"}},
		{"non-ASCII escaped", "http://" + addr + "/hooks/ключсекрет", []string{"ключсекрет", "%D0%BA%D0%BB%D1%8E%D1%87"}},
		{"quote escaped", "http://" + addr + `/hooks/abc"defghij`, []string{`abc"defghij`, "abc%22defghij"}},
		{"password", "http://user:pa55word@" + addr + "/hooks/abcdefghijklmnop", []string{"pa55word", "abcdefghijklmnop"}},
		{"trailing slash", "http://" + addr + "/hooks/abcdefghijklmnop/", []string{"abcdefghijklmnop"}},
		{"query and fragment", "HTTP://" + addr + "/hooks/abcdefghijklmnop?x=1#f", []string{"abcdefghijklmnop"}},
		{"escaped slash", "http://" + addr + "/hooks/abc%2Fdefghijk", []string{"abc%2Fdefghijk"}},
	} {
		_, err := client.Post(tt.webhook, "application/json", strings.NewReader("{}"))
		if err == nil {
			t.Fatalf("%s: the post went through", tt.name)
		}
		got := postError(err, tt.webhook)
		for _, s := range tt.secrets {
			if strings.Contains(got, s) {
				t.Errorf("%s: %q still shows %q (Go's text: %q)", tt.name, got, s, err)
			}
		}
		if !strings.Contains(got, "connection refused") || !strings.Contains(got, addr) {
			t.Errorf("%s: %q no longer says what happened (Go's text: %q)", tt.name, got, err)
		}
	}
}

// The exact texts, Go's spellings of the URL included, and the secret
// where it appears on its own.
func TestRedactURLError(t *testing.T) {
	const secret = "3fjq8kxdyb8r5jfi7wsomqn3uw"
	for _, tt := range []struct{ webhook, msg, want string }{
		{"https://chat.example.com/hooks/" + secret, `Post "https://chat.example.com/hooks/` + secret + `": EOF`, `Post "(webhook URL)": EOF`},
		{"HTTPS://chat.example.com/hooks/" + secret, `Post "https://chat.example.com/hooks/` + secret + `": EOF`, `Post "(webhook URL)": EOF`},
		{"https://u:p4ss@chat.example.com/hooks/" + secret, `Post "https://u:***@chat.example.com/hooks/` + secret + `": EOF`, `Post "(webhook URL)": EOF`},
		{"https://u:p4ss@chat.example.com/hooks/" + secret, `Post "https://u:xxxxx@chat.example.com/hooks/` + secret + `": EOF`, `Post "(webhook URL)": EOF`},
		{"https://chat.example.com/hooks/" + secret, `Post "https://chat.example.com:443/hooks/` + secret + `": EOF`, `Post "https://chat.example.com:443/hooks/(webhook secret)": EOF`},
		{"https://chat.example.com/hooks/" + secret, "proxy said: no route for /hooks/" + secret, "proxy said: no route for /hooks/(webhook secret)"},
		{"https://chat.example.com/hooks/abc", `Post "https://chat.example.com/hooks/abc": EOF`, `Post "(webhook URL)": EOF`},
		// A segment too short to be a secret is left in the rest of the text.
		{"https://chat.example.com/hooks/abc", "abc: EOF", "abc: EOF"},
	} {
		if got := redactURLError(tt.msg, tt.webhook); got != tt.want {
			t.Errorf("%s in %q:\ngot  %q\nwant %q", tt.webhook, tt.msg, got, tt.want)
		}
	}
}

// An answer that is not HTTP at all (here an SSH server's greeting) makes
// net/http quote its first line in the error: that is not shown either.
func TestPostErrorHidesNonHTTPAnswers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("SSH-2.0-OpenSSH_9.6p1 internal-bastion-7\r\n"))
			c.Close()
		}
	}()
	webhook := "http://" + ln.Addr().String() + "/hooks/abcdefghijklmnop"
	_, err = NewClient(Networks{AllowLoopback: true}).Post(webhook, "application/json", strings.NewReader("{}"))
	if err == nil || !strings.Contains(err.Error(), "internal-bastion-7") {
		t.Fatalf("Go's error %q does not quote the answer: the test does not test anything", err)
	}
	got := postError(err, webhook)
	if strings.Contains(got, "bastion") || strings.Contains(got, "SSH") || !strings.Contains(got, "not HTTP") {
		t.Errorf("got %q", got)
	}
}

func TestPostErrorOfTimeout(t *testing.T) {
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-done }))
	defer srv.Close()
	defer close(done)
	client := NewClient(Networks{AllowLoopback: true})
	client.Timeout = 50 * time.Millisecond
	_, err := client.Post(srv.URL+"/hooks/abcdefghijklmnop", "application/json", strings.NewReader("{}"))
	if got := postError(err, srv.URL+"/hooks/abcdefghijklmnop"); got != "timed out waiting for Mattermost" {
		t.Errorf("got %q", got)
	}
}
