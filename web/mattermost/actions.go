package mattermost

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"klaxon/models"
)

// ActionsPath is where Mattermost's server posts button clicks.
const ActionsPath = "/mattermost/actions"

// MaxActionBody is the largest click Klaxon reads: Mattermost's are under
// 1 KiB.
const MaxActionBody = 16 << 10

// Button is a message button (attachments[].actions[]). Mattermost strips
// Integration from the posts it hands to clients, so the signed context is
// never shown to users.
type Button struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Type        string            `json:"type"`
	Style       string            `json:"style,omitempty"`
	Integration ButtonIntegration `json:"integration"`
}

// ButtonIntegration is where a click goes and what it carries.
type ButtonIntegration struct {
	URL     string        `json:"url"`
	Context ActionContext `json:"context"`
}

// ActionContext names what a button does: an action on one alert of one
// team, offered by one source (an integration's thread reply or a
// notification channel's post), with Klaxon's signature over all of it.
type ActionContext struct {
	Action string `json:"action"`
	Alert  string `json:"alert"`
	Team   string `json:"team"`
	Source string `json:"source"`
	Sig    string `json:"sig"`
}

// Signer signs and checks button contexts with a key only Klaxon knows
// (kept in the database, so every node sharing it has the same).
type Signer struct {
	key []byte
	url string
}

// NewSigner returns a signer whose buttons post to baseURL's ActionsPath.
func NewSigner(key, baseURL string) *Signer {
	return &Signer{key: []byte(key), url: strings.TrimRight(baseURL, "/") + ActionsPath}
}

func (s *Signer) sign(c ActionContext) string {
	m := hmac.New(sha256.New, s.key)
	// NUL cannot occur in any of the parts, so no two contexts sign alike.
	m.Write([]byte("klaxon-button-v1\x00" + c.Team + "\x00" + c.Source + "\x00" + c.Alert + "\x00" + c.Action))
	return hex.EncodeToString(m.Sum(nil))
}

// Valid reports, in constant time, whether c carries Klaxon's signature.
func (s *Signer) Valid(c ActionContext) bool {
	if strings.ContainsRune(c.Team+c.Source+c.Alert+c.Action, 0) {
		return false
	}
	return hmac.Equal([]byte(c.Sig), []byte(s.sign(c)))
}

// buttons are the buttons that still apply to an alert in status st:
// Acknowledge while it is open, Resolve until it is resolved. Ids are
// letters and digits only (Mattermost fails the click otherwise).
func (s *Signer) buttons(a *models.Alert, source string) []Button {
	if s == nil {
		return nil
	}
	var out []Button
	add := func(id, name, style string, action models.DraftAction) {
		c := ActionContext{Action: string(action), Alert: a.PublicID, Team: strconv.FormatUint(uint64(a.AccountID), 10), Source: source}
		c.Sig = s.sign(c)
		out = append(out, Button{ID: id, Name: name, Type: "button", Style: style, Integration: ButtonIntegration{URL: s.url, Context: c}})
	}
	if a.Status.CanAcknowledge() {
		add("acknowledge", "Acknowledge", "primary", models.ActionAcknowledge)
	}
	if a.Status.CanResolve() {
		add("resolve", "Resolve", "good", models.ActionResolve)
	}
	return out
}

// Click is a button click as Mattermost's server posts it.
type Click struct {
	UserID      string        `json:"user_id"`
	UserName    string        `json:"user_name"`
	ChannelID   string        `json:"channel_id"`
	ChannelName string        `json:"channel_name"`
	TeamID      string        `json:"team_id"`
	TeamDomain  string        `json:"team_domain"`
	PostID      string        `json:"post_id"`
	Type        string        `json:"type"`
	Context     ActionContext `json:"context"`
}

// ParseClick reads a click. Its context must name an action, an alert, a
// team and a source, and the user must have a name.
func ParseClick(body []byte) (*Click, error) {
	var c Click
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&c); err != nil {
		return nil, errors.New("the click is not the JSON object Mattermost sends")
	}
	if dec.More() {
		return nil, errors.New("the click holds more than one JSON value")
	}
	ctx := c.Context
	if ctx.Action == "" || ctx.Alert == "" || ctx.Team == "" || ctx.Source == "" || ctx.Sig == "" {
		return nil, errors.New("the button's context is incomplete: it was not made by Klaxon")
	}
	if c.UserName == "" || c.UserID == "" {
		return nil, errors.New("the click names no Mattermost user")
	}
	for _, s := range []*string{&c.UserID, &c.UserName, &c.ChannelID, &c.ChannelName, &c.TeamID, &c.TeamDomain, &c.PostID} {
		*s = models.CleanText(*s)
	}
	return &c, nil
}

// Transition is the alert change the click asks for.
func (c *Click) Transition() (models.Transition, bool) {
	switch models.DraftAction(c.Context.Action) {
	case models.ActionAcknowledge:
		return models.Acknowledge, true
	case models.ActionResolve:
		return models.Resolve, true
	}
	return "", false
}

// ActorName is how Klaxon names the clicking user on the alert.
func (c *Click) ActorName() string { return "@" + c.UserName + " via Mattermost" }

// ActionAnswer is the answer to a click: Update rewrites the post (nil
// leaves it as it is), EphemeralText is shown to the clicking user only.
type ActionAnswer struct {
	Update        *PostUpdate `json:"update,omitempty"`
	EphemeralText string      `json:"ephemeral_text,omitempty"`
}

// PostUpdate replaces the post's message and props. Mattermost empties the
// text of an update without a message, so Message is always set.
type PostUpdate struct {
	Message string         `json:"message"`
	Props   map[string]any `json:"props"`
}

// Refusal answers a click that changes nothing.
func Refusal(text string) ActionAnswer { return ActionAnswer{EphemeralText: text} }

// Updated answers a click with the post rewritten to the alert's state
// now (colour, Status, who acted, the buttons that still apply) and a
// line for the clicker.
func (s *Signer) Updated(a *models.Alert, source, baseURL, ephemeral string) ActionAnswer {
	card := alertCard(a, baseURL)
	card.Pretext = "Alert " + string(a.Status)
	card.Actions = s.buttons(a, source)
	return ActionAnswer{
		Update:        &PostUpdate{Message: StatusLine(a, baseURL), Props: map[string]any{"attachments": []Attachment{card}}},
		EphemeralText: ephemeral,
	}
}

// StatusLine is one line naming the alert and its state.
func StatusLine(a *models.Alert, baseURL string) string {
	line := "Klaxon alert " + a.PublicID + " (" + string(a.Urgency) + "): " + string(a.Status)
	switch a.Status {
	case models.StatusAcknowledged:
		line += " by " + a.AcknowledgedBy
	case models.StatusResolved:
		line += " by " + a.ResolvedBy
	}
	return line + " " + strings.TrimRight(baseURL, "/") + "/alerts/" + a.PublicID
}
