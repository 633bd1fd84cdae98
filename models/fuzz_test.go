package models_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"klaxon/models"
)

// The fuzz targets below check properties of token masking and the urgency
// rule on any input. `go test` replays the seed corpus in
// testdata/fuzz/<target>/ (the Mattermost samples and every input that once
// broke a property); `make fuzz` explores further.

// FuzzMaskToken: MaskToken's fast path, where it is taken, masks as the
// general path does, and what it returns is storable text. (That the token
// never shows is checked with the parsers, in web/mattermost.)
func FuzzMaskToken(f *testing.F) {
	f.Add([]byte(`{"text":"outage","token":"abcdefghijklmnopqrstuvwxyz"}`))
	f.Add([]byte("text=outage&token=abcdefghijklmnopqrstuvwxyz"))
	f.Fuzz(func(t *testing.T, body []byte) {
		masked := models.MaskToken(string(body))
		if general := models.MaskTokenAnyBody(string(body)); masked != general {
			t.Errorf("MaskToken's fast path and general path differ on %q:\nfast:    %q\ngeneral: %q", body, masked, general)
		}
		if !utf8.ValidString(masked) || strings.ContainsRune(masked, 0) {
			t.Errorf("MaskToken(%q) = %q: not storable text (invalid UTF-8 or NUL)", body, masked)
		}
	})
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
