package models

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"
)

// MaxTitleLength is the longest alert title, in characters.
const MaxTitleLength = 255

// MattermostPayload is the body of a Mattermost outgoing webhook.
type MattermostPayload struct {
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
func (p *MattermostPayload) fields() map[string]*string {
	return map[string]*string{
		"token": &p.Token, "team_id": &p.TeamID, "team_domain": &p.TeamDomain,
		"channel_id": &p.ChannelID, "channel_name": &p.ChannelName, "timestamp": &p.Timestamp,
		"user_id": &p.UserID, "user_name": &p.UserName, "post_id": &p.PostID,
		"text": &p.Text, "trigger_word": &p.TriggerWord, "file_ids": &p.FileIDs,
	}
}

// ParseMattermostJSON reads a body sent with Content-Type application/json.
// Fields may be strings, numbers (timestamp) or, for file_ids, a list.
func ParseMattermostJSON(body []byte) (*MattermostPayload, error) {
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
	if dec.More() {
		return nil, errors.New("the body holds more than one JSON value")
	}
	p := &MattermostPayload{}
	for name, dst := range p.fields() {
		v, ok := raw[name]
		if !ok {
			continue
		}
		s, err := jsonFieldString(v)
		if err != nil {
			return nil, fmt.Errorf("field %q %v", name, err)
		}
		*dst = s
	}
	return p, p.validate()
}

// jsonFieldString turns a JSON string, number, null or list of strings into
// text.
func jsonFieldString(v json.RawMessage) (string, error) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || string(v) == "null" {
		return "", nil
	}
	switch v[0] {
	case '"':
		var s string
		err := json.Unmarshal(v, &s)
		return s, err
	case '[':
		var list []string
		if err := json.Unmarshal(v, &list); err != nil {
			return "", errors.New("must be a list of strings")
		}
		return strings.Join(list, ","), nil
	case '{', 't', 'f':
		return "", errors.New("must be a string")
	default:
		var n json.Number
		if err := json.Unmarshal(v, &n); err != nil {
			return "", errors.New("must be a string or a number")
		}
		return n.String(), nil
	}
}

// ParseMattermostForm reads a body sent as application/x-www-form-urlencoded,
// Mattermost's default content type.
func ParseMattermostForm(body []byte) (*MattermostPayload, error) {
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("the form body is malformed (%v)", err)
	}
	p := &MattermostPayload{}
	for name, dst := range p.fields() {
		*dst = values.Get(name)
	}
	if !utf8.ValidString(p.Text) {
		return nil, errors.New("field \"text\" is not valid UTF-8 text")
	}
	return p, p.validate()
}

func (p *MattermostPayload) validate() error {
	if strings.TrimSpace(p.Text) == "" {
		return errors.New("the request has no text: Mattermost sends the message in the \"text\" field, and an alert needs one")
	}
	return nil
}

// AlertDraft is what an alert is made of before it is stored.
type AlertDraft struct {
	Title, Description string
	Urgency            Urgency
	DedupKey           string
	Data               AdditionalData
}

// Draft maps the message to an alert for integ.
func (p *MattermostPayload) Draft(integ *Integration) AlertDraft {
	title, desc := TitleAndDescription(p.Text)
	d := AlertDraft{
		Title:       title,
		Description: desc,
		Urgency:     UrgencyFromText(p.Text, integ.DefaultUrgency),
		Data: AdditionalData{
			Trigger: p.TriggerWord, Channel: p.ChannelName, User: p.UserName,
			Team: p.TeamDomain, PostID: p.PostID, PostURL: integ.PostURL(p.TeamDomain, p.PostID),
		},
	}
	switch {
	case p.PostID != "":
		d.DedupKey = p.PostID
	case p.ChannelID != "" && p.Timestamp != "":
		d.DedupKey = p.ChannelID + "." + p.Timestamp
	}
	return d
}

// TitleAndDescription makes an alert title from the first line of text, at
// most MaxTitleLength characters. The description is the whole text when the
// title does not hold all of it.
func TitleAndDescription(text string) (title, description string) {
	text = strings.TrimSpace(strings.ReplaceAll(text, "\r\n", "\n"))
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

var (
	jsonTokenField = regexp.MustCompile(`("token"\s*:\s*")((?:[^"\\]|\\.)*)(")`)
	formTokenField = regexp.MustCompile(`(^|&)(token=)([^&]*)`)
)

// MaskToken hides the value of the token field in a JSON or form body, for
// logs and stored requests.
func MaskToken(body string) string {
	body = jsonTokenField.ReplaceAllStringFunc(body, func(m string) string {
		parts := jsonTokenField.FindStringSubmatch(m)
		return parts[1] + maskSecret(parts[2]) + parts[3]
	})
	return formTokenField.ReplaceAllStringFunc(body, func(m string) string {
		parts := formTokenField.FindStringSubmatch(m)
		return parts[1] + parts[2] + url.QueryEscape(maskSecret(parts[3]))
	})
}

// maskSecret keeps nothing of short secrets and the last four characters of
// long ones, enough to tell two tokens apart.
func maskSecret(s string) string {
	if s == "" {
		return ""
	}
	if len(s) < 16 {
		return "****"
	}
	return "****" + s[len(s)-4:]
}
