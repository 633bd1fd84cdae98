package notify

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestClientRefusesLoopbackUnlessAllowed(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	_, err := NewClient(false).Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("post to loopback: %v, want a refusal", err)
	}
	if hits.Load() != 0 {
		t.Fatalf("the request reached the server")
	}
	resp, err := NewClient(true).Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("allowed loopback: %v", err)
	}
	resp.Body.Close()
}

func TestBlockedAddresses(t *testing.T) {
	for addr, want := range map[string]string{
		"169.254.169.254": "link-local", "fe80::1": "link-local", "127.0.0.1": "loopback", "::1": "loopback",
		"0.0.0.0": "unspecified", "224.0.0.1": "link-local", "239.1.1.1": "multicast",
		"10.1.2.3": "", "192.168.1.10": "", "203.0.113.7": "",
	} {
		if got := blocked(parseIP(t, addr), false); got != want {
			t.Errorf("%s: %q, want %q", addr, got, want)
		}
	}
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	var secret atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/secret" {
			secret.Add(1)
			w.Write([]byte("internal"))
			return
		}
		http.Redirect(w, r, "/secret", http.StatusFound)
	}))
	defer srv.Close()
	resp, err := NewClient(true).Post(srv.URL+"/hook", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || secret.Load() != 0 {
		t.Errorf("status %d, %d requests to the redirect target", resp.StatusCode, secret.Load())
	}
}

func TestExcerptShowsOnlyShortText(t *testing.T) {
	for _, tt := range []struct {
		ctype, body, want string
	}{
		{"text/plain", "ok", "ok"},
		{"application/json; charset=utf-8", `{"message":"bad"}`, `{"message":"bad"}`},
		{"text/html", "<html>secret</html>", "(a text/html answer of 19 bytes, not shown)"},
		{"text/plain", strings.Repeat("x", 300), "(a text/plain answer of more than 200 bytes, not shown)"},
		{"text/plain", "nul\x00byte", "nul\uFFFDbyte"},
	} {
		rec := httptest.NewRecorder()
		rec.Header().Set("Content-Type", tt.ctype)
		rec.WriteString(tt.body)
		if got := excerpt(rec.Result()); got != tt.want {
			t.Errorf("%s %q: got %q, want %q", tt.ctype, tt.body, got, tt.want)
		}
	}
}

func parseIP(t *testing.T, s string) net.IP {
	t.Helper()
	ip := net.ParseIP(s)
	if ip == nil {
		t.Fatalf("bad IP %q", s)
	}
	return ip
}
