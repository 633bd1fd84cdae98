// Package mattermost is Klaxon's one home for Mattermost's formats: it
// parses what Mattermost sends (outgoing webhooks, button clicks, slash
// commands) into Klaxon's own types and builds everything Klaxon sends
// back (the intake answer, notification posts, button updates, command
// answers). Storage and handlers know nothing of Mattermost's wire format.
package mattermost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"klaxon/models"
)

// Outgoing is the body of a Mattermost outgoing webhook.
type Outgoing struct {
	Token       string
	TeamID      string
	TeamDomain  string
	ChannelID   string
	ChannelName string
	// Timestamp is as sent: milliseconds in JSON bodies, seconds in forms.
	Timestamp   string
	UserID      string
	UserName    string
	PostID      string
	Text        string
	TriggerWord string
	FileIDs     string
}

// fields maps the wire names to the payload's fields.
func (p *Outgoing) fields() map[string]*string {
	return map[string]*string{
		"token": &p.Token, "team_id": &p.TeamID, "team_domain": &p.TeamDomain,
		"channel_id": &p.ChannelID, "channel_name": &p.ChannelName, "timestamp": &p.Timestamp,
		"user_id": &p.UserID, "user_name": &p.UserName, "post_id": &p.PostID,
		"text": &p.Text, "trigger_word": &p.TriggerWord, "file_ids": &p.FileIDs,
	}
}

// ParseJSON reads a body sent with Content-Type application/json. Fields
// may be strings, numbers (timestamp) or, for file_ids, a list.
func ParseJSON(body []byte) (*Outgoing, error) {
	if p, ok := parsePlainJSON(body); ok {
		return p, p.validate()
	}
	return parseAnyJSON(body)
}

// parseAnyJSON is ParseJSON for any body.
func parseAnyJSON(body []byte) (*Outgoing, error) {
	if !utf8.Valid(body) {
		return nil, errors.New("the body is not valid UTF-8 text")
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, errors.New("the body must be a JSON object like Mattermost sends, e.g. {\"text\":\"…\"}")
		}
		return nil, fmt.Errorf("the body is not valid JSON (%v); set the webhook's Content Type to application/json or leave it empty for a form body", err)
	}
	if raw == nil {
		return nil, errors.New("the body must be a JSON object like Mattermost sends, e.g. {\"text\":\"…\"}")
	}
	// Only white space may follow the object (Decoder.More misses a stray
	// "]" or "}").
	if len(bytes.TrimSpace(body[dec.InputOffset():])) > 0 {
		return nil, errors.New("the body holds more than one JSON value")
	}
	p := &Outgoing{}
	for name, dst := range p.fields() {
		v, ok := raw[name]
		if !ok {
			continue
		}
		s, err := models.JSONText(v)
		if err != nil {
			return nil, fmt.Errorf("field %q %v", name, err)
		}
		*dst = models.CleanText(s)
	}
	return p, p.validate()
}

// parsePlainJSON is ParseJSON's fast path, for what Mattermost sends: a
// valid JSON object of UTF-8 text without a backslash (so no escapes: every
// '"' opens or closes a string) whose members are strings, numbers or null.
// One pass reads the members, and the payload is the one the general path
// makes. ok is false, and the caller takes the general path, for any other
// body.
func parsePlainJSON(body []byte) (p *Outgoing, ok bool) {
	if bytes.IndexByte(body, '\\') >= 0 || !utf8.Valid(body) || !json.Valid(body) {
		return nil, false
	}
	s := string(body)
	i := skipSpace(s, 0)
	if i >= len(s) || s[i] != '{' {
		return nil, false
	}
	p = &Outgoing{}
	for i = skipSpace(s, i+1); i < len(s) && s[i] != '}'; {
		if s[i] == ',' {
			i = skipSpace(s, i+1)
			continue
		}
		// A member: valid JSON puts a name, a colon and a value here.
		end := i + 1 + strings.IndexByte(s[i+1:], '"')
		name := s[i+1 : end]
		i = skipSpace(s, end+1) // at the colon
		i = skipSpace(s, i+1)   // at the value
		var value string
		switch c := s[i]; {
		case c == '"':
			end = i + 1 + strings.IndexByte(s[i+1:], '"')
			value, i = s[i+1:end], end+1
		case c == '-' || c >= '0' && c <= '9':
			end = i + 1
			for end < len(s) && strings.IndexByte("0123456789.eE+-", s[end]) >= 0 {
				end++
			}
			value, i = s[i:end], end
		case strings.HasPrefix(s[i:], "null"):
			i += len("null")
		default: // a list, an object, true or false
			return nil, false
		}
		if dst := p.field(name); dst != nil {
			*dst = value
		}
		i = skipSpace(s, i)
	}
	return p, true
}

// field is the payload's field of the wire name, or nil.
func (p *Outgoing) field(name string) *string {
	switch name {
	case "token":
		return &p.Token
	case "team_id":
		return &p.TeamID
	case "team_domain":
		return &p.TeamDomain
	case "channel_id":
		return &p.ChannelID
	case "channel_name":
		return &p.ChannelName
	case "timestamp":
		return &p.Timestamp
	case "user_id":
		return &p.UserID
	case "user_name":
		return &p.UserName
	case "post_id":
		return &p.PostID
	case "text":
		return &p.Text
	case "trigger_word":
		return &p.TriggerWord
	case "file_ids":
		return &p.FileIDs
	}
	return nil
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// ParseForm reads a body sent as application/x-www-form-urlencoded,
// Mattermost's default content type.
func ParseForm(body []byte) (*Outgoing, error) {
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("the form body is malformed (%v)", err)
	}
	p := &Outgoing{}
	for name, dst := range p.fields() {
		*dst = values.Get(name)
	}
	if !utf8.ValidString(p.Text) {
		return nil, errors.New("field \"text\" is not valid UTF-8 text")
	}
	for _, dst := range p.fields() {
		*dst = models.CleanText(*dst)
	}
	return p, p.validate()
}

func (p *Outgoing) validate() error {
	if strings.TrimSpace(p.Text) == "" {
		return errors.New("the request has no text: Mattermost sends the message in the \"text\" field, and an alert needs one")
	}
	return nil
}

// Draft maps the message to an alert: the title is the first line, the
// urgency the first urgency word ("" when there is none: the integration's
// default applies), the dedup key the post id.
func (p *Outgoing) Draft() *models.AlertDraft {
	title, desc := models.TitleAndDescription(p.Text)
	d := &models.AlertDraft{
		Title:        title,
		Description:  desc,
		Urgency:      models.UrgencyFromText(p.Text, ""),
		Action:       models.ActionOpen,
		ReplyChannel: p.ChannelName,
	}
	for _, f := range []models.DataField{{Name: "Trigger", Value: p.TriggerWord}, {Name: "Channel", Value: p.ChannelName},
		{Name: "User", Value: p.UserName}, {Name: "Team", Value: p.TeamDomain}, {Name: "Post id", Value: p.PostID}} {
		if f.Value != "" {
			d.Fields = append(d.Fields, f)
		}
	}
	if p.TeamDomain != "" && p.PostID != "" {
		// Relative to the integration's site URL.
		d.Links = []models.DataLink{{Label: "Mattermost post", URL: "/" + url.PathEscape(p.TeamDomain) + "/pl/" + url.PathEscape(p.PostID)}}
	}
	switch {
	case p.PostID != "":
		d.DedupKey = p.PostID
	case p.ChannelID != "" && p.Timestamp != "":
		d.DedupKey = p.ChannelID + "." + p.Timestamp
	}
	return d
}
