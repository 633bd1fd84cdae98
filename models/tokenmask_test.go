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
	if newTokenMask("abc") != nil {
		t.Error("a token of 3 characters is masked everywhere (it would garble text)")
	}
	req := &IntakeRequest{Body: "{}", ContentType: "text/plain; t=" + token, Message: "type " + token,
		Payload: &MattermostPayload{Token: token, Text: "outage " + token, UserName: token}}
	if !m.request(req) || req.Payload.Token != token || strings.Contains(req.Payload.Text+req.Payload.UserName+req.ContentType+req.Message, token) {
		t.Errorf("request masked to %+v %+v", req, req.Payload)
	}
	clean := &IntakeRequest{Body: `{"text":"outage"}`, Payload: &MattermostPayload{Token: token, Text: "outage"}}
	if m.request(clean) {
		t.Error("a request without the token outside its token field reports a change")
	}
}
