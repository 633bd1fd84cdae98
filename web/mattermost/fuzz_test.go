package mattermost_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"klaxon/models"
	"klaxon/web/mattermost"
)

// The fuzz targets check properties of the outgoing-webhook parsers on any
// input. `go test` replays the seed corpus in testdata/fuzz/<target>/ (the
// Mattermost samples and every input that once broke a property); `make
// fuzz` explores further.

// FuzzParseJSON: a JSON body parses into a payload with text, or
// is refused with an error; the alert drawn from it is storable and its
// stored body does not leak the token.
func FuzzParseJSON(f *testing.F) {
	f.Add([]byte(`{"text":"outage sev-1 db down","post_id":"p1","token":"abcdefghijklmnopqrstuvwxyz"}`))
	f.Add([]byte(`{"text":"  \n  ","token":"x"}`))
	f.Add([]byte(`{"text":["a","b"],"file_ids":["f1","f2"],"timestamp":1.5e12}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := mattermost.ParseJSON(body)
		checkParsed(t, string(body), p, err)
		checkJSONPaths(t, body)
	})
}

// FuzzParseForm: the same properties for form bodies, Mattermost's
// default encoding.
func FuzzParseForm(f *testing.F) {
	f.Add([]byte("text=outage+p2+api%0Asecond+line&post_id=abc&token=abcdefghijklmnopqrstuvwxyz&channel_name=ops"))
	f.Add([]byte("text=%FF"))
	f.Add([]byte("text=a&text=b&token=%zz"))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := mattermost.ParseForm(body)
		checkParsed(t, string(body), p, err)
	})
}

// checkJSONPaths checks that ParseMattermostJSON's fast path, where it is
// taken, reads body as the general path does.
func checkJSONPaths(t *testing.T, body []byte) {
	t.Helper()
	fast, ok := mattermost.ParsePlainJSON(body)
	if !ok {
		return
	}
	general, err := mattermost.ParseAnyJSON(body)
	if general == nil {
		t.Fatalf("fast path read %q, general path refused it: %v", body, err)
	}
	if *fast != *general {
		t.Errorf("paths differ on %q:\nfast:    %+v\ngeneral: %+v", body, *fast, *general)
	}
}

func checkParsed(t *testing.T, body string, p *mattermost.Outgoing, err error) {
	t.Helper()
	masked := models.MaskToken(body)
	if err != nil {
		if p != nil && strings.TrimSpace(p.Text) != "" {
			// A refused body must not also look accepted.
			t.Errorf("error %v but payload with text %q", err, p.Text)
		}
		if err.Error() == "" {
			t.Error("empty error message")
		}
		return
	}
	if p == nil {
		t.Fatal("nil payload without an error")
	}
	if strings.TrimSpace(p.Text) == "" {
		t.Fatalf("accepted a payload with blank text %q", p.Text)
	}
	if len(p.Token) >= 16 && strings.Contains(masked, p.Token) {
		t.Errorf("MaskToken leaks the token %q:\n%s", p.Token, masked)
	}
	d := p.Draft()
	d.Normalize()
	checkTitle(t, p.Text, d.Title, d.Description)
	if len(d.DedupKey) > 255 {
		t.Errorf("dedup key of %d bytes does not fit its column", len(d.DedupKey))
	}
	if d.Urgency != "" && !d.Urgency.Valid() {
		t.Errorf("urgency %q is not one of the four", d.Urgency)
	}
	// Everything stored must be text PostgreSQL accepts: valid UTF-8
	// without NUL bytes (one bad field would fail the whole batch).
	texts := map[string]string{"title": d.Title, "description": d.Description, "dedup key": d.DedupKey, "reply channel": d.ReplyChannel}
	for _, f := range d.Fields {
		texts["field "+f.Name] = f.Value
	}
	for _, l := range d.Links {
		texts["link "+l.Label] = l.URL
	}
	for name, s := range texts {
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			t.Errorf("%s %q is not storable text (invalid UTF-8 or NUL)", name, s)
		}
	}
}

func checkTitle(t *testing.T, text, title, desc string) {
	t.Helper()
	if strings.TrimSpace(title) == "" {
		t.Errorf("blank title from text %q", text)
	}
	if n := utf8.RuneCountInString(title); n > models.MaxTitleLength {
		t.Errorf("title has %d characters, more than %d", n, models.MaxTitleLength)
	}
	if !utf8.ValidString(title) {
		t.Errorf("title %q is not valid UTF-8", title)
	}
	if strings.ContainsAny(title, "\r\n") {
		t.Errorf("title %q holds a line break (text %q)", title, text)
	}
	if title != strings.TrimSpace(title) {
		t.Errorf("title %q has surrounding spaces", title)
	}
	cut := strings.HasSuffix(title, "…") && !strings.Contains(text, title)
	if (cut || strings.ContainsAny(strings.TrimSpace(text), "\r\n")) && desc == "" {
		t.Errorf("title %q lost part of text %q but the description is empty", title, text)
	}
}
