package mattermost_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"klaxon/models"
	"klaxon/web/mattermost"
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
			var p *mattermost.Outgoing
			var err error
			if webtest.FixtureContentType(t, tt.file) == "application/json" {
				p, err = mattermost.ParseJSON(body)
			} else {
				p, err = mattermost.ParseForm(body)
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
		if _, err := mattermost.ParseJSON([]byte(body)); err == nil {
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
		if _, err := mattermost.ParseForm([]byte(body)); err == nil {
			t.Errorf("form %s: no error", name)
		}
	}
	// What a Mattermost admin reads: which field and what to do.
	_, err := mattermost.ParseJSON([]byte(`{"token":"x"}`))
	if err == nil || !strings.Contains(err.Error(), `"text"`) {
		t.Errorf("missing text error should name the field: %v", err)
	}
}

func TestParseJSONFieldShapes(t *testing.T) {
	p, err := mattermost.ParseJSON([]byte(`{"text":"outage","timestamp":1656637234966,"file_ids":["a","b"],"user_name":null,"extra":{"x":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.Timestamp != "1656637234966" || p.FileIDs != "a,b" || p.UserName != "" {
		t.Errorf("got %+v", p)
	}
}

func TestDedupKey(t *testing.T) {
	withPost := (&mattermost.Outgoing{Text: "x", PostID: "p1", ChannelID: "c", Timestamp: "9"}).Draft()
	noPost := (&mattermost.Outgoing{Text: "x", ChannelID: "c", Timestamp: "9"}).Draft()
	none := (&mattermost.Outgoing{Text: "x"}).Draft()
	if withPost.DedupKey != "p1" || noPost.DedupKey != "c.9" || none.DedupKey != "" {
		t.Errorf("dedup keys %q %q %q", withPost.DedupKey, noPost.DedupKey, none.DedupKey)
	}
}

// ParseMattermostJSON's fast path takes what Mattermost sends and reads it
// as the general path does; anything else goes the general way.
func TestParseJSONFastPath(t *testing.T) {
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
		fast, ok := mattermost.ParsePlainJSON([]byte(c.body))
		if ok != c.fast {
			t.Errorf("fast path taken: %v, want %v, for %q", ok, c.fast, c.body)
		}
		if !ok {
			continue
		}
		general, err := mattermost.ParseAnyJSON([]byte(c.body))
		if general == nil {
			t.Errorf("general path refused %q: %v", c.body, err)
			continue
		}
		if *fast != *general {
			t.Errorf("paths differ on %q:\nfast:    %+v\ngeneral: %+v", c.body, *fast, *general)
		}
	}
	p, err := mattermost.ParseJSON([]byte(sample))
	if err != nil || p.Timestamp != "1795835143814" || p.PostID != "64jbm3cftjrqtcsy3iyt9ubujr" || p.Text != "alert disk full on db-1" || p.Token != "fsjg44c9ojduudat814ue9uf7y" {
		t.Errorf("sample parsed as %+v, %v", p, err)
	}
}

// PagerTree's adapter fixture: urgency critical, title = the whole text, and
// its trigger, channel and user.
func TestPagerTreeFixture(t *testing.T) {
	body := webtest.Fixture(t, "pagertree-fixture.json")
	p, err := mattermost.ParseJSON([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatal(err)
	}
	d := p.Draft()
	if d.Urgency != models.UrgencyCritical {
		t.Errorf("urgency %q, want critical", d.Urgency)
	}
	if d.Title != raw["text"] || d.Description != "" {
		t.Errorf("title %q description %q, want the whole text and no description", d.Title, d.Description)
	}
	want := []models.DataField{{Name: "Trigger", Value: "#page_noc"}, {Name: "Channel", Value: "noc-ops-center"}, {Name: "User", Value: "joe.bob"}, {Name: "Team", Value: "team_domain"}, {Name: "Post id", Value: "0123456789"}}
	if !slices.Equal(d.Fields, want) {
		t.Errorf("fields %+v, want %+v", d.Fields, want)
	}
	if len(d.Links) != 1 || d.Links[0].URL != "/team_domain/pl/0123456789" {
		t.Errorf("links %+v, want the post relative to the site URL", d.Links)
	}
	if d.DedupKey != "0123456789" {
		t.Errorf("dedup key %q, want the post id", d.DedupKey)
	}
}

// A message that names no urgency leaves it to the integration; its
// channel is where the thread reply lands.
func TestDraftWithoutUrgency(t *testing.T) {
	d := (&mattermost.Outgoing{Text: "outage db-1", ChannelName: "ops"}).Draft()
	if d.Urgency != "" || d.ReplyChannel != "ops" || d.Action != models.ActionOpen || len(d.Links) != 0 {
		t.Errorf("draft %+v", d)
	}
}
