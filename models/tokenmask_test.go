package models

import (
	"strings"
	"testing"
)

// An integration's token is masked in every spelling a body may give it;
// a body that still spells it after that is withheld.
func TestTokenMaskSpellings(t *testing.T) {
	const token = `abc<def&ghi/jkl+mno=pq"rs`
	m := newTokenMask(token)
	for _, tc := range []struct{ in, want string }{
		{"x " + token + " y", "x ****q\"rs y"},
		{"text=abc%3Cdef%26ghi%2Fjkl%2Bmno%3Dpq%22rs", "text=****q\"rs"},
		{`{"text":"abc\u003cdef\u0026ghi/jkl+mno=pq\"rs"}`, `{"text":"****q"rs"}`},
		{`{"text":"abc<def&ghi/jkl+mno=pq\"rs"}`, `{"text":"****q"rs"}`},
		{"text=abc%3cdef%26ghi%2fjkl%2bmno%3dpq%22rs", withheldBody},
		{`{"text":"\u0061bc<def&ghi\/jkl+mno=pq\"rs"}`, withheldBody},
		{`{"text":"abc<def&ghi\/jkl+mno=pq\"rs \ud83d\ude00"}`, withheldBody},
		{"nothing here, 95% sure \\o/", "nothing here, 95% sure \\o/"},
	} {
		if got := m.body(tc.in); got != tc.want {
			t.Errorf("body(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for s, want := range map[string]bool{"95% full": false, "100%": false, "a%2": false, "%zz%4": false, "50% %41": true, "%4a": true} {
		if hasPercentEscape(s) != want {
			t.Errorf("hasPercentEscape(%q) = %v", s, !want)
		}
	}
	if newTokenMask("abc") != nil {
		t.Error("a token of 3 characters is masked everywhere (it would garble text)")
	}
	req := &IntakeRequest{Body: "{}", ContentType: "text/plain; t=" + token, Message: "type " + token, Token: token,
		Draft: &AlertDraft{Title: "outage " + token, Fields: []DataField{{Name: "User", Value: token}}, Links: []DataLink{{Label: "post", URL: "https://chat/?t=" + token}}}}
	d := req.Draft
	if !m.request(req) || req.Token != token || strings.Contains(d.Title+d.Fields[0].Value+d.Links[0].URL+req.ContentType+req.Message, token) {
		t.Errorf("request masked to %+v %+v", req, req.Draft)
	}
	clean := &IntakeRequest{Body: `{"text":"outage"}`, Token: token, Draft: &AlertDraft{Title: "outage"}}
	if m.request(clean) {
		t.Error("a request without the token outside its token field reports a change")
	}
}

// BenchmarkTokenMask is what masking an integration's token costs the writer
// per request, for a request as Mattermost sends it (the token field
// already masked by MaskToken) and for one carrying the token in its text.
func BenchmarkTokenMask(b *testing.B) {
	const token = "fsjg44c9ojduudat814ue9uf7y"
	m := newTokenMask(token)
	body := `{"token":"****uf7y","team_id":"4sgs8bxt1ig4xecjm9ffxuq9nw","team_domain":"ops","channel_id":"5ujt4oj2wfdr9m1h1kt97hnz3w","channel_name":"town-square","timestamp":1699999999999,"user_id":"kxwxjbyoyjf3bnebfn8z8enyzh","user_name":"admin","post_id":"nrrgd1ixxfdg3g4aduqn1cy5dw","text":"outage db-1 is down: 95% disk","trigger_word":"outage","file_ids":""}`
	for _, bc := range []struct {
		name, body, text string
	}{
		{"mattermost", body, "outage db-1 is down: 95% disk"},
		{"token-in-text", strings.Replace(body, "db-1", token, 1), "outage " + token + " is down: 95% disk"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := &IntakeRequest{Body: bc.body, ContentType: "application/json", Message: "",
					Token: token, Draft: &AlertDraft{Title: bc.text, ReplyChannel: "town-square", Fields: []DataField{{Name: "User", Value: "admin"}}}}
				m.request(req)
			}
		})
	}
	b.Run("new-mask", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			newTokenMask(token)
		}
	})
}
