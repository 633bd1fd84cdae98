package models

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	if p, ok := parsePlainJSON(body); ok {
		return p, p.validate()
	}
	return parseAnyJSON(body)
}

// parseAnyJSON is ParseMattermostJSON for any body.
func parseAnyJSON(body []byte) (*MattermostPayload, error) {
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
		*dst = CleanText(s)
	}
	return p, p.validate()
}

// parsePlainJSON is ParseMattermostJSON's fast path, for what Mattermost
// sends: a valid JSON object of UTF-8 text without a backslash (so no
// escapes: every '"' opens or closes a string) whose members are strings,
// numbers or null. One pass reads the members, and the payload is the one
// the general path makes. ok is false, and the caller takes the general
// path, for any other body.
func parsePlainJSON(body []byte) (p *MattermostPayload, ok bool) {
	if bytes.IndexByte(body, '\\') >= 0 || !utf8.Valid(body) || !json.Valid(body) {
		return nil, false
	}
	s := string(body)
	i := skipJSONSpace(s, 0)
	if i >= len(s) || s[i] != '{' {
		return nil, false
	}
	p = &MattermostPayload{}
	for i = skipJSONSpace(s, i+1); i < len(s) && s[i] != '}'; {
		if s[i] == ',' {
			i = skipJSONSpace(s, i+1)
			continue
		}
		// A member: valid JSON puts a name, a colon and a value here.
		end := i + 1 + strings.IndexByte(s[i+1:], '"')
		name := s[i+1 : end]
		i = skipJSONSpace(s, end+1) // at the colon
		i = skipJSONSpace(s, i+1)   // at the value
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
		i = skipJSONSpace(s, i)
	}
	return p, true
}

// field is the payload's field of the wire name, or nil.
func (p *MattermostPayload) field(name string) *string {
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
	for _, dst := range p.fields() {
		*dst = CleanText(*dst)
	}
	return p, p.validate()
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
	if len(d.DedupKey) > maxDedupKey {
		// The column holds 300 characters; a longer key is still unique
		// as its hash.
		sum := sha256.Sum256([]byte(d.DedupKey))
		d.DedupKey = "sha256:" + hex.EncodeToString(sum[:])
	}
	return d
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

// jsonTokenField finds token members in bodies that are not valid JSON
// (refused, but still logged); jsonTokenOther finds those whose value is a
// number or a list.
var (
	jsonTokenField = regexp.MustCompile(`(` + jsonTokenKey + `\s*:\s*")((?:[^"\\]|\\.)*)(")`)
	jsonTokenOther = regexp.MustCompile(`(` + jsonTokenKey + `\s*:\s*)(-?[0-9][0-9.eE+-]*|\[[^\]]*\])`)
)

// jsonTokenKey matches a JSON string that decodes to "token", each letter
// plain or \u-escaped, as the parser reads it.
var jsonTokenKey = func() string {
	k := `"`
	for _, c := range "token" {
		k += fmt.Sprintf(`(?:%c|\\u00(?i:%x))`, c, c)
	}
	return k + `"`
}()

// MaskToken hides the value of the token field in a JSON or form body, for
// logs and stored requests, however the field is spelled (escaped keys,
// numbers, repeated fields); a token of 16 or more characters is also hidden
// wherever else it appears. The result is storable text (see CleanText).
func MaskToken(body string) string {
	if masked, ok := maskPlainJSON(body); ok {
		return masked
	}
	return maskTokenAnyBody(body)
}

// maskTokenAnyBody is MaskToken for any body: JSON, form or neither.
func maskTokenAnyBody(body string) string {
	masked, tokens, ok := maskJSONTokens(body)
	if !ok {
		masked = jsonTokenField.ReplaceAllStringFunc(body, func(m string) string {
			parts := jsonTokenField.FindStringSubmatch(m)
			tokens = append(tokens, parts[2])
			return parts[1] + maskSecret(parts[2]) + parts[3]
		})
		masked = jsonTokenOther.ReplaceAllStringFunc(masked, func(m string) string {
			parts := jsonTokenOther.FindStringSubmatch(m)
			value := strings.Trim(parts[2], "[]\" ")
			tokens = append(tokens, value)
			return parts[1] + `"` + maskSecret(value) + `"`
		})
	}
	masked, formTokens := maskFormTokens(masked)
	for _, t := range append(tokens, formTokens...) {
		// Each pass shortens the text, so this ends.
		for len(t) >= 16 && strings.Contains(masked, t) {
			masked = strings.ReplaceAll(masked, t, maskSecret(t))
		}
	}
	return CleanText(masked)
}

// maskPlainJSON is MaskToken's fast path, for what Mattermost sends with
// Content-Type application/json: a valid JSON body without a backslash (so
// no escaped names or quotes) and without "=" (so nothing a form parser would
// take for a field). In such a body every '"' opens or closes a string, so
// one pass finds each member named token (invalid UTF-8, which decoding
// would change, also takes the general path); the result is the same as
// maskTokenAnyBody's. ok is false, and the caller takes the general path,
// for any other body or a token that is not a string.
func maskPlainJSON(body string) (masked string, ok bool) {
	if strings.ContainsAny(body, `\=`) || !utf8.ValidString(body) || !json.Valid([]byte(body)) {
		return "", false
	}
	var out strings.Builder
	var tokens []string
	copied := 0
	for i := 0; i < len(body); i++ {
		if body[i] != '"' {
			continue
		}
		end := i + 1 + strings.IndexByte(body[i+1:], '"') // valid JSON: it is there
		name := body[i : end+1]
		i = end
		if name != `"token"` {
			continue
		}
		j := skipJSONSpace(body, end+1)
		if j >= len(body) || body[j] != ':' {
			continue // a string value that reads "token"
		}
		j = skipJSONSpace(body, j+1)
		if body[j] != '"' {
			return "", false
		}
		valueEnd := j + 1 + strings.IndexByte(body[j+1:], '"')
		value := body[j+1 : valueEnd]
		tokens = append(tokens, value)
		replacement, _ := json.Marshal(maskSecret(value))
		out.WriteString(body[copied:j])
		out.Write(replacement)
		copied = valueEnd + 1
		i = valueEnd
	}
	if len(tokens) == 0 {
		return CleanText(body), true
	}
	out.WriteString(body[copied:])
	masked = out.String()
	for _, t := range tokens {
		for len(t) >= 16 && strings.Contains(masked, t) {
			masked = strings.ReplaceAll(masked, t, maskSecret(t))
		}
	}
	return CleanText(masked), true
}

func skipJSONSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// maskJSONTokens masks the value of every member named token (after
// unescaping its name) in a JSON body. ok is false when body is not JSON.
func maskJSONTokens(body string) (masked string, tokens []string, ok bool) {
	dec := json.NewDecoder(strings.NewReader(body))
	// Numbers stay text: one too large for a float64 (1e400) must not
	// stop the walk.
	dec.UseNumber()
	type frame struct{ object, keyNext bool }
	var stack []frame
	var out strings.Builder
	copied := int64(0)
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return body, nil, false
		}
		top := len(stack) - 1
		isKey := top >= 0 && stack[top].object && stack[top].keyNext
		if top >= 0 && stack[top].object {
			stack[top].keyNext = !isKey
		}
		switch d := tok.(type) {
		case json.Delim:
			switch d {
			case '{', '[':
				stack = append(stack, frame{object: d == '{', keyNext: true})
			default:
				stack = stack[:len(stack)-1]
				if n := len(stack) - 1; n >= 0 && stack[n].object {
					stack[n].keyNext = true
				}
			}
			continue
		case string:
			if !isKey || d != "token" {
				continue
			}
		default:
			continue
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return body, nil, false
		}
		stack[top].keyNext = true
		end := dec.InputOffset()
		start := end - int64(len(raw))
		if start < copied || body[start:end] != string(raw) {
			return body, nil, false
		}
		value, err := jsonFieldString(raw)
		if err != nil {
			value = string(raw)
		}
		tokens = append(tokens, value)
		replacement, _ := json.Marshal(maskSecret(value))
		out.WriteString(body[copied:start])
		out.Write(replacement)
		copied = end
	}
	out.WriteString(body[copied:])
	return out.String(), tokens, true
}

// maskFormTokens masks the value of every token field of a form body,
// however its name is percent-encoded.
func maskFormTokens(body string) (string, []string) {
	if !strings.Contains(body, "=") {
		return body, nil
	}
	var tokens []string
	var out strings.Builder
	// Pairs end at & or at ; (which Go's parser refuses but others take),
	// so a token after either is masked.
	for rest := body; ; {
		end := strings.IndexAny(rest, "&;")
		pair, sep := rest, ""
		if end >= 0 {
			pair, sep = rest[:end], rest[end:end+1]
		}
		key, value, ok := strings.Cut(pair, "=")
		if k, err := url.QueryUnescape(key); ok && err == nil && k == "token" {
			if v, err := url.QueryUnescape(value); err == nil {
				value = v
			}
			tokens = append(tokens, value)
			pair = key + "=" + url.QueryEscape(maskSecret(value))
		}
		out.WriteString(pair + sep)
		if end < 0 {
			return out.String(), tokens
		}
		rest = rest[end+1:]
	}
}

// maskSecret keeps nothing of short secrets and the last four characters of
// long ones, enough to tell two tokens apart.
func maskSecret(s string) string {
	if s == "" {
		return ""
	}
	r := []rune(s)
	if len(r) < 16 {
		return "****"
	}
	return "****" + string(r[len(r)-4:])
}
