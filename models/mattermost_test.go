package models_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"klaxon/models"
)

func TestTitleAndDescription(t *testing.T) {
	long := strings.Repeat("é", 300)
	tests := []struct {
		name, text, title, desc string
	}{
		{"one line", "outage db-1 is down", "outage db-1 is down", ""},
		{"trimmed", "   alert  leading spaces  ", "alert  leading spaces", ""},
		{"two lines", "formalert cpu high\nsecond line", "formalert cpu high", "formalert cpu high\nsecond line"},
		{"crlf", "a\r\nb", "a", "a\nb"},
		{"exactly 255", strings.Repeat("x", 255), strings.Repeat("x", 255), ""},
		{"cut", long, strings.Repeat("é", 254) + "…", long},
	}
	for _, tt := range tests {
		title, desc := models.TitleAndDescription(tt.text)
		if title != tt.title || desc != tt.desc {
			t.Errorf("%s: got (%q, %q), want (%q, %q)", tt.name, title, desc, tt.title, tt.desc)
		}
		if utf8.RuneCountInString(title) > models.MaxTitleLength {
			t.Errorf("%s: title has %d characters", tt.name, utf8.RuneCountInString(title))
		}
	}
}

func TestSiteLink(t *testing.T) {
	i := &models.Integration{SiteURL: "https://chat.example.com"}
	if got, ok := i.SiteLink("/alerts/pl/abc"); got != "https://chat.example.com/alerts/pl/abc" || !ok {
		t.Errorf("site link %q %v", got, ok)
	}
	if got, ok := (&models.Integration{}).SiteLink("/alerts/pl/abc"); got != "" || ok {
		t.Errorf("without a site URL there is no link, got %q %v", got, ok)
	}
	if got, ok := (&models.Integration{}).SiteLink("https://grafana.example.com/d/1"); got != "https://grafana.example.com/d/1" || !ok {
		t.Errorf("an absolute link stays, got %q %v", got, ok)
	}
}

func TestMaskToken(t *testing.T) {
	const tok = "fsjg44c9ojduudat814ue9uf7y"
	for _, body := range []string{
		`{"token":"` + tok + `","text":"x"}`,
		`{"text":"x", "token" : "` + tok + `"}`,
		`channel_id=c&token=` + tok + `&text=x`,
		`token=` + tok,
		`text=x;token=` + tok + `;channel_id=c`,
		`text=x&tok%65n=` + tok,
		`{"n":1e400,"token":["` + tok + `"]}`,
		`{"token":"` + tok + `","n":1e400}`,
		`{"token":["` + tok + `"],"text":"not JSON at the end"`,
		`{"text":"x","\u0074oken":"` + tok + `"}]`,
		`{"\u0074\u006F\u006b\u0065\u006e": "` + tok + `", "text": oops}`,
	} {
		got := models.MaskToken(body)
		if strings.Contains(got, tok) {
			t.Errorf("token left in %q", got)
		}
		if !strings.Contains(got, "9uf7y"[1:]) {
			t.Errorf("the last four characters help tell tokens apart: %q", got)
		}
	}
	for _, body := range []string{`{"token": 912345678901234567890123, "text":"x"`, `{"token":912345678901234567890123,"n":1e400}`} {
		if got := models.MaskToken(body); strings.Contains(got, "912345678901234567890123") {
			t.Errorf("numeric token left in %q", got)
		}
	}
	if got := models.MaskToken(`{"token":"short","text":"x"}`); strings.Contains(got, "short") {
		t.Errorf("short token left in %q", got)
	}
	if got := models.MaskToken(`{"text":"my token is here"}`); got != `{"text":"my token is here"}` {
		t.Errorf("a body without a token field changed: %q", got)
	}
}

// TestMaskTokenFastPathAgrees runs bodies that take MaskToken's fast path
// (plain JSON) and some that must not, and checks that both paths agree.
func TestMaskTokenFastPathAgrees(t *testing.T) {
	const tok = "fsjg44c9ojduudat814ue9uf7y"
	// The bodies that must take the fast path; all others must not.
	plain := map[string]bool{
		`{"token":"` + tok + `","text":"x"}`:                             true,
		`{"token":"` + tok + `","text":"repeat ` + tok + `"}`:            true,
		"{\n  \"token\"\t:\n \"" + tok + "\",\"text\":\"x\"}":            true,
		`{"text":"token","token":"` + tok + `"}`:                         true,
		`{"a":{"token":"` + tok + `"},"token":"other-token-0123456789"}`: true,
		`{"token":"<b>&amp;</b>-long-enough-token"}`:                     true,
		`{"token":"ünïcødé-token-välue"}`:                                true,
		`{"text":"no token here","x":"token"}`:                           true,
		`["token",":","not-a-member-so-kept"]`:                           true,
		`{"token":"abcdefghijklmnop<>&x","n":1e400}`:                     true,
		"{\"token\":\"abcdefghijklmnop\u2028x\",\"n\":1e400}":            true,
	}
	for _, body := range []string{
		`{"token":"` + tok + `","text":"x"}`,
		`{"token":"` + tok + `","text":"repeat ` + tok + `"}`,
		"{\n  \"token\"\t:\n \"" + tok + "\",\"text\":\"x\"}",
		`{"text":"token","token":"` + tok + `"}`,
		`{"a":{"token":"` + tok + `"},"token":"other-token-0123456789"}`,
		`{"token":["` + tok + `"]}`,
		`{"token":12345678901234567890}`,
		`{"token":"<b>&amp;</b>-long-enough-token"}`,
		`{"token":"ünïcødé-token-välue"}`,
		"{\"token\":\"bad-utf8-\xff-token-value\",\"text\":\"bad-utf8-\xff-token-value\"}",
		`{"text":"no token here","x":"token"}`,
		`{"token":"` + tok + `","text":"a=b"}`,
		`{"t\u006fken":"` + tok + `"}`,
		`{"token":"` + tok + `"`,
		`{"n":1e400,"token":["` + tok + `"]}`,
		`{"token":"abcdefghijklmnop<>&x","n":1e400}`,
		"{\"token\":\"abcdefghijklmnop\u2028x\",\"n\":1e400}",
		`["token",":","not-a-member-so-kept"]`,
		``,
	} {
		fast, general := models.MaskToken(body), models.MaskTokenAnyBody(body)
		if _, ok := models.MaskPlainJSON(body); ok != plain[body] {
			t.Errorf("fast path taken: %v, want %v, for %q", ok, plain[body], body)
		}
		if fast != general {
			t.Errorf("paths differ on %q:\nMaskToken: %q\ngeneral:   %q", body, fast, general)
		}
		if strings.Contains(fast, tok) {
			t.Errorf("token left in %q", fast)
		}
	}
}
