// Package views renders Klaxon's pages with templ. Views take
// screen-shaped models and never query anything.
package views

import (
	"fmt"
	"strings"
	"time"

	"klaxon/models"
)

// Page is what the layout needs on every page.
type Page struct {
	Title   string
	Nav     string // "alerts", "integrations", "team"
	User    *models.User
	CSRF    string
	Flashes []Flash
}

// Flash is a one-time message shown at the top of the next page.
type Flash struct {
	Kind string // "success" or "error"
	Text string
}

// FormErrors maps field names to messages shown next to the fields.
type FormErrors map[string]string

func (e FormErrors) has(field string) bool { _, ok := e[field]; return ok }

// errID is the id of a field's error message, for aria-describedby.
func errID(field string) string { return "err-" + field }

func describedBy(e FormErrors, field string) string {
	if e.has(field) {
		return errID(field)
	}
	return ""
}

// exactTime is a timestamp for titles and tables.
func exactTime(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// relativeTime says how long ago t was, as people say it.
func relativeTime(t time.Time, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return Plural(int(d/time.Minute), "minute") + " ago"
	case d < 24*time.Hour:
		return Plural(int(d/time.Hour), "hour") + " ago"
	case d < 30*24*time.Hour:
		return Plural(int(d/(24*time.Hour)), "day") + " ago"
	default:
		return t.UTC().Format("2 Jan 2006")
	}
}

// Plural counts n of word in English: "1 alert", "2 alerts".
func Plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func navClass(p Page, item string) string {
	if p.Nav == item {
		return "active"
	}
	return ""
}

// createdRange says the alert list's creation-time filter, in the zone its
// times were given in.
func createdRange(from, to time.Time) string {
	const layout = "Mon 2 Jan 2006 15:04"
	switch {
	case from.IsZero():
		return "before " + to.Format(layout+" (UTC-07:00)")
	case to.IsZero():
		return "from " + from.Format(layout+" (UTC-07:00)")
	}
	return from.Format(layout) + " – " + to.Format(layout+" (UTC-07:00)")
}
