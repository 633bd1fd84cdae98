package notify

import (
	"net/http/httptest"
	"strings"
	"testing"
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
