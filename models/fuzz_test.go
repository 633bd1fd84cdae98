package models_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"klaxon/models"
)

// The fuzz targets below check properties of the intake parsers and the
// urgency rule on any input. `go test` replays the seed corpus in
// testdata/fuzz/<target>/ (the Mattermost samples and every input that once
// broke a property); `make fuzz` explores further.

// FuzzParseMattermostJSON: a JSON body parses into a payload with text, or
// is refused with an error; the alert drawn from it is storable and its
// stored body does not leak the token.
func FuzzParseMattermostJSON(f *testing.F) {
	f.Add([]byte(`{"text":"outage sev-1 db down","post_id":"p1","token":"abcdefghijklmnopqrstuvwxyz"}`))
	f.Add([]byte(`{"text":"  \n  ","token":"x"}`))
	f.Add([]byte(`{"text":["a","b"],"file_ids":["f1","f2"],"timestamp":1.5e12}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := models.ParseMattermostJSON(body)
		checkParsed(t, string(body), p, err)
		checkJSONPaths(t, body)
	})
}

// FuzzParseMattermostForm: the same properties for form bodies, Mattermost's
// default encoding.
func FuzzParseMattermostForm(f *testing.F) {
	f.Add([]byte("text=outage+p2+api%0Asecond+line&post_id=abc&token=abcdefghijklmnopqrstuvwxyz&channel_name=ops"))
	f.Add([]byte("text=%FF"))
	f.Add([]byte("text=a&text=b&token=%zz"))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := models.ParseMattermostForm(body)
		checkParsed(t, string(body), p, err)
	})
}

// checkJSONPaths checks that ParseMattermostJSON's fast path, where it is
// taken, reads body as the general path does.
func checkJSONPaths(t *testing.T, body []byte) {
	t.Helper()
	fast, ok := models.ParsePlainJSON(body)
	if !ok {
		return
	}
	general, err := models.ParseAnyJSON(body)
	if general == nil {
		t.Fatalf("fast path read %q, general path refused it: %v", body, err)
	}
	if *fast != *general {
		t.Errorf("paths differ on %q:\nfast:    %+v\ngeneral: %+v", body, *fast, *general)
	}
}

func checkParsed(t *testing.T, body string, p *models.MattermostPayload, err error) {
	t.Helper()
	masked := models.MaskToken(body)
	if general := models.MaskTokenAnyBody(body); masked != general {
		t.Errorf("MaskToken's fast path and general path differ on %q:\nfast:    %q\ngeneral: %q", body, masked, general)
	}
	if !utf8.ValidString(masked) || strings.ContainsRune(masked, 0) {
		t.Errorf("MaskToken(%q) = %q: not storable text (invalid UTF-8 or NUL)", body, masked)
	}
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
	integ := &models.Integration{DefaultUrgency: models.UrgencyHigh, SiteURL: "https://chat.example.com"}
	d := p.Draft(integ)
	checkTitle(t, p.Text, d.Title, d.Description)
	if len(d.DedupKey) > 255 {
		t.Errorf("dedup key of %d bytes does not fit its column", len(d.DedupKey))
	}
	if !d.Urgency.Valid() {
		t.Errorf("urgency %q is not one of the four", d.Urgency)
	}
	// Everything stored must be text PostgreSQL accepts: valid UTF-8
	// without NUL bytes (one bad field would fail the whole batch).
	for name, s := range map[string]string{
		"title": d.Title, "description": d.Description, "dedup key": d.DedupKey,
		"trigger": d.Data.Trigger, "channel": d.Data.Channel, "user": d.Data.User,
		"team": d.Data.Team, "post id": d.Data.PostID, "post url": d.Data.PostURL,
	} {
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

// FuzzUrgencyFromText: the urgency is always one of the four; it is the
// fallback exactly when no urgency word is found; a leading urgency word
// decides.
func FuzzUrgencyFromText(f *testing.F) {
	for _, s := range []string{"outage sev-1 db down", "slowdown on the highway", "P3 disk", "CRITICAL", "sev5", "low-disk", "", "ſev1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		low := models.UrgencyFromText(text, models.UrgencyLow)
		crit := models.UrgencyFromText(text, models.UrgencyCritical)
		for _, u := range []models.Urgency{low, crit} {
			if !u.Valid() {
				t.Fatalf("UrgencyFromText(%q) = %q, not one of the four", text, u)
			}
		}
		// With a match both calls agree; without one each returns its
		// fallback.
		if low != crit && (low != models.UrgencyLow || crit != models.UrgencyCritical) {
			t.Errorf("UrgencyFromText(%q): %q with fallback low, %q with fallback critical", text, low, crit)
		}
		if low == crit && !containsFold(text, urgencyHints(low)) {
			t.Errorf("UrgencyFromText(%q) = %q, but the text holds no word for it", text, low)
		}
		// A word glued to a letter of any script is not a whole word.
		for _, glued := range []string{"éhigh", "highé", "жp1", "sev1ß"} {
			if got, want := models.UrgencyFromText(glued+" "+text, models.UrgencyLow), models.UrgencyFromText(" "+text, models.UrgencyLow); got != want {
				t.Errorf("UrgencyFromText(%q) = %q, want %q as for the text without %q", glued+" "+text, got, want, glued)
			}
		}
		// A leading whole urgency word always decides.
		for word, want := range map[string]models.Urgency{"Medium": models.UrgencyMedium, "sev-1": models.UrgencyCritical, "p4": models.UrgencyLow} {
			if got := models.UrgencyFromText(word+" "+text, models.UrgencyHigh); got != want {
				t.Errorf("UrgencyFromText(%q) = %q, want %q", word+" "+text, got, want)
			}
		}
	})
}

// urgencyHints lists the words that can name u.
func urgencyHints(u models.Urgency) []string {
	switch u {
	case models.UrgencyCritical:
		return []string{"critical", "ev1", "ev-1", "p1"}
	case models.UrgencyHigh:
		return []string{"high", "ev2", "ev-2", "p2"}
	case models.UrgencyMedium:
		return []string{"medium", "ev3", "ev-3", "p3"}
	default:
		return []string{"low", "ev4", "ev-4", "p4"}
	}
}

// containsFold reports whether text holds one of words, ignoring ASCII case
// (the rule also folds ſ to s, hence "ev" rather than "sev").
func containsFold(text string, words []string) bool {
	lower := strings.ToLower(text)
	for _, w := range words {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}
