package models_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"klaxon/models"
	"klaxon/web/webtest"
)

func TestParseSamples(t *testing.T) {
	tests := []struct {
		file, text, trigger, postID, timestamp string
	}{
		{"json-request.http", "alert disk full on db-1 & more", "alert", "64jbm3cftjrqtcsy3iyt9ubujr", "1795835143814"},
		{"form-request.http", "formalert cpu high\nsecond line", "formalert", "cb6ebigqstfomnppjs1n5gfome", "1795835144"},
		{"thread-reply.json", "alert reply in thread", "alert", "br43knmweirr7yhhuk86x8cuwo", "1795835180685"},
		{"leading-spaces.json", "   alert  leading spaces", "alert", "npipb6bjwf8qpcnnedgt917s9e", "1795835180723"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body := []byte(webtest.Fixture(t, tt.file))
			var p *models.MattermostPayload
			var err error
			if webtest.FixtureContentType(t, tt.file) == "application/json" {
				p, err = models.ParseMattermostJSON(body)
			} else {
				p, err = models.ParseMattermostForm(body)
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Text != tt.text || p.TriggerWord != tt.trigger || p.PostID != tt.postID || p.Timestamp != tt.timestamp {
				t.Errorf("got text %q trigger %q post %q timestamp %q", p.Text, p.TriggerWord, p.PostID, p.Timestamp)
			}
			if p.Token == "" || p.ChannelName != "town-square" || p.UserName != "admin" || p.TeamDomain != "alerts" {
				t.Errorf("fields missing: %+v", p)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	jsonTests := map[string]string{
		"not json":    `{"text": "outage`,
		"array":       `["outage"]`,
		"string":      `"outage"`,
		"null":        `null`,
		"no text":     `{"token":"x","trigger_word":"outage"}`,
		"blank text":  `{"text":"   \n "}`,
		"object text": `{"text":{"a":1}}`,
		"bool text":   `{"text":true}`,
		"two values":  `{"text":"a"} {"text":"b"}`,
		// A stray closer after the object, with an escaped key the token
		// masking could not see: refused, so the token is never stored.
		"stray bracket": `{"text":"alert","\u0074oken":"SECRET-TOKEN-VALUE-123"}]`,
		"stray brace":   `{"text":"alert"} }`,
		"invalid utf8":  "{\"text\":\"\xff\xfe\"}",
	}
	for name, body := range jsonTests {
		if _, err := models.ParseMattermostJSON([]byte(body)); err == nil {
			t.Errorf("JSON %s: no error", name)
		} else if strings.TrimSpace(err.Error()) == "" {
			t.Errorf("JSON %s: empty error message", name)
		}
	}
	formTests := map[string]string{
		"truncated escape": "text=outage%2",
		"bad escape":       "text=outage%zz&token=a",
		"no text":          "token=abc&trigger_word=outage",
		"empty":            "",
	}
	for name, body := range formTests {
		if _, err := models.ParseMattermostForm([]byte(body)); err == nil {
			t.Errorf("form %s: no error", name)
		}
	}
	// What a Mattermost admin reads: which field and what to do.
	_, err := models.ParseMattermostJSON([]byte(`{"token":"x"}`))
	if err == nil || !strings.Contains(err.Error(), `"text"`) {
		t.Errorf("missing text error should name the field: %v", err)
	}
}

func TestParseJSONFieldShapes(t *testing.T) {
	p, err := models.ParseMattermostJSON([]byte(`{"text":"outage","timestamp":1656637234966,"file_ids":["a","b"],"user_name":null,"extra":{"x":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.Timestamp != "1656637234966" || p.FileIDs != "a,b" || p.UserName != "" {
		t.Errorf("got %+v", p)
	}
}

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

func TestDedupKey(t *testing.T) {
	integ := &models.Integration{DefaultUrgency: models.UrgencyLow}
	withPost := (&models.MattermostPayload{Text: "x", PostID: "p1", ChannelID: "c", Timestamp: "9"}).Draft(integ)
	noPost := (&models.MattermostPayload{Text: "x", ChannelID: "c", Timestamp: "9"}).Draft(integ)
	none := (&models.MattermostPayload{Text: "x"}).Draft(integ)
	if withPost.DedupKey != "p1" || noPost.DedupKey != "c.9" || none.DedupKey != "" {
		t.Errorf("dedup keys %q %q %q", withPost.DedupKey, noPost.DedupKey, none.DedupKey)
	}
}

func TestPostURL(t *testing.T) {
	i := &models.Integration{SiteURL: "https://chat.example.com"}
	if got := i.PostURL("alerts", "abc"); got != "https://chat.example.com/alerts/pl/abc" {
		t.Errorf("post URL %q", got)
	}
	if got := (&models.Integration{}).PostURL("alerts", "abc"); got != "" {
		t.Errorf("without a site URL there is no link, got %q", got)
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

// ParseMattermostJSON's fast path takes what Mattermost sends and reads it
// as the general path does; anything else goes the general way.
func TestParseMattermostJSONFastPath(t *testing.T) {
	sample := `{"token":"fsjg44c9ojduudat814ue9uf7y","team_id":"iom8hs1izbda7nbg1497g6985r","team_domain":"alerts","channel_id":"n15qytbp638eb8iqwtfx6ex9ga","channel_name":"town-square","timestamp":1795835143814,"user_id":"98hybztiaf855p8mshg3fg59th","user_name":"admin","post_id":"64jbm3cftjrqtcsy3iyt9ubujr","text":"alert disk full on db-1","trigger_word":"alert","file_ids":""}`
	for _, c := range []struct {
		body string
		fast bool
	}{
		{sample, true},
		{" \n\t{ \"text\" : \"outage\" , \"post_id\":\"p1\" }\r\n", true},
		{`{"text":"a","text":"b","post_id":null,"extra":"x","n":-1.5e3}`, true},
		{`{"text":"a","timestamp":0,"timestamp":12.50}`, true},
		{`{"text":"ünïcødé ✓","channel_name":""}`, true},
		{`{}`, true},
		{`{"text":"a\u0026b"}`, false},                 // an escape
		{`{"text":"a","file_ids":["f1","f2"]}`, false}, // a list
		{`{"text":"a","other":{"x":1}}`, false},        // an object
		{`{"text":true}`, false},
		{`{"text":"a"}]`, false}, // not valid JSON
		{`["text","a"]`, false},  // not an object
		{"{\"text\":\"\xff\"}", false},
		{`null`, false},
	} {
		fast, ok := models.ParsePlainJSON([]byte(c.body))
		if ok != c.fast {
			t.Errorf("fast path taken: %v, want %v, for %q", ok, c.fast, c.body)
		}
		if !ok {
			continue
		}
		general, err := models.ParseAnyJSON([]byte(c.body))
		if general == nil {
			t.Errorf("general path refused %q: %v", c.body, err)
			continue
		}
		if *fast != *general {
			t.Errorf("paths differ on %q:\nfast:    %+v\ngeneral: %+v", c.body, *fast, *general)
		}
	}
	p, err := models.ParseMattermostJSON([]byte(sample))
	if err != nil || p.Timestamp != "1795835143814" || p.PostID != "64jbm3cftjrqtcsy3iyt9ubujr" || p.Text != "alert disk full on db-1" || p.Token != "fsjg44c9ojduudat814ue9uf7y" {
		t.Errorf("sample parsed as %+v, %v", p, err)
	}
}
