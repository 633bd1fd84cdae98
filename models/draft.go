package models

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"
)

// MaxTitleLength is the longest alert title, in characters.
const MaxTitleLength = 255

// DraftAction is what a source asks for: open an alert (or count a
// redelivery of an open one), acknowledge it or resolve it.
type DraftAction string

const (
	ActionOpen        DraftAction = "open"
	ActionAcknowledge DraftAction = "acknowledge"
	ActionResolve     DraftAction = "resolve"
)

// AlertDraft is an alert as a source describes it, before it is stored.
// Each source's package (web/mattermost…) makes one from its request; the
// intake writer knows no source.
type AlertDraft struct {
	Title, Description string
	// Urgency "" means the source named none: the integration's default
	// applies.
	Urgency Urgency
	// DedupKey names the alert at its source: a redelivery while the
	// alert is unresolved counts, it does not open another.
	DedupKey string
	// Action "" is ActionOpen. The intake writer opens alerts only.
	Action DraftAction
	Fields []DataField
	// Links whose URL starts with "/" are relative to the integration's
	// site URL and dropped when it has none.
	Links []DataLink
	// ReplyChannel is where the answer to the request shows (Mattermost:
	// the channel of the triggering post), so that notification channels
	// posting there skip the "opened" post.
	ReplyChannel string
}

// Normalize makes the draft storable: text any database takes, a title
// that fits, a dedup key that fits its column.
func (d *AlertDraft) Normalize() {
	d.Title, d.Description = CleanText(d.Title), CleanText(d.Description)
	if d.Title == "" || utf8.RuneCountInString(d.Title) > MaxTitleLength || strings.ContainsAny(d.Title, "\r\n") {
		title, desc := TitleAndDescription(d.Title)
		if d.Description == "" {
			d.Description = desc
		}
		d.Title = title
	}
	d.DedupKey = CleanText(d.DedupKey)
	if len(d.DedupKey) > maxDedupKey {
		// The column holds 300 characters; a longer key is still unique
		// as its hash.
		sum := sha256.Sum256([]byte(d.DedupKey))
		d.DedupKey = "sha256:" + hex.EncodeToString(sum[:])
	}
	for i := range d.Fields {
		d.Fields[i].Name, d.Fields[i].Value = CleanText(d.Fields[i].Name), CleanText(d.Fields[i].Value)
	}
	for i := range d.Links {
		d.Links[i].Label, d.Links[i].URL = CleanText(d.Links[i].Label), CleanText(d.Links[i].URL)
	}
	d.ReplyChannel = CleanText(d.ReplyChannel)
}

// maxDedupKey is the longest dedup key stored as it is (in bytes; real
// Mattermost post ids have 26 characters).
const maxDedupKey = 200

// TitleAndDescription makes an alert title from the first line of text, at
// most MaxTitleLength characters. The description is the whole text when the
// title does not hold all of it.
func TitleAndDescription(text string) (title, description string) {
	text = strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n"))
	first, _, multiline := strings.Cut(text, "\n")
	title = strings.TrimSpace(first)
	cut := false
	if utf8.RuneCountInString(title) > MaxTitleLength {
		r := []rune(title)
		title = strings.TrimSpace(string(r[:MaxTitleLength-1])) + "…"
		cut = true
	}
	if cut || multiline {
		description = text
	}
	return title, description
}

// CleanText makes s storable in any database: invalid UTF-8 and NUL
// characters (which PostgreSQL refuses in text, failing the whole intake
// batch) become U+FFFD.
func CleanText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
