package models

import (
	"regexp"
	"strings"
)

// Urgency is how loudly an alert should wake people.
type Urgency string

const (
	UrgencyLow      Urgency = "low"
	UrgencyMedium   Urgency = "medium"
	UrgencyHigh     Urgency = "high"
	UrgencyCritical Urgency = "critical"
)

// Urgencies lists the urgencies from the mildest up.
var Urgencies = []Urgency{UrgencyLow, UrgencyMedium, UrgencyHigh, UrgencyCritical}

// Valid reports whether u is one of Urgencies.
func (u Urgency) Valid() bool {
	switch u {
	case UrgencyLow, UrgencyMedium, UrgencyHigh, UrgencyCritical:
		return true
	}
	return false
}

// urgencyWord matches the urgency words as whole words, case-insensitively,
// so that "slowdown", "highway" and "following" do not count (PagerTree
// matches inside words; Klaxon does not). A word ends at anything but a
// letter, digit, mark or underscore in any script: \b knows only ASCII, and
// would find "high" in "éhigh".
var urgencyWord = regexp.MustCompile(`(?i)(?:^|[^\pL\pN\pM_])(low|medium|high|critical|sev-?[1-4]|p[1-4])(?:[^\pL\pN\pM_]|$)`)

// UrgencyFromText returns the urgency named by the first urgency word in
// text, or fallback when there is none.
func UrgencyFromText(text string, fallback Urgency) Urgency {
	m := urgencyWord.FindStringSubmatch(text)
	if m == nil {
		return fallback
	}
	w := strings.ToLower(m[1])
	switch w {
	case "low", "medium", "high", "critical":
		return Urgency(w)
	}
	switch w[len(w)-1] {
	case '1':
		return UrgencyCritical
	case '2':
		return UrgencyHigh
	case '3':
		return UrgencyMedium
	default:
		return UrgencyLow
	}
}
