package mattermost

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"klaxon/models"
)

// Command is a slash command as Mattermost's server posts it
// (form-encoded, method POST).
type Command struct {
	Token       string
	TeamDomain  string
	ChannelName string
	UserID      string
	UserName    string
	// Command is the trigger as typed ("/klaxon"), Text what follows it.
	Command   string
	Text      string
	TriggerID string
}

// ParseCommand reads a slash command's form body. The token comes in the
// body and, from newer servers, in an "Authorization: Token …" header too.
func ParseCommand(body []byte, authorization string) (*Command, error) {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("the command's form body is malformed (%v)", err)
	}
	c := &Command{
		Token: v.Get("token"), TeamDomain: v.Get("team_domain"), ChannelName: v.Get("channel_name"),
		UserID: v.Get("user_id"), UserName: v.Get("user_name"), Command: v.Get("command"),
		Text: v.Get("text"), TriggerID: v.Get("trigger_id"),
	}
	if c.Token == "" {
		if t, ok := strings.CutPrefix(authorization, "Token "); ok {
			c.Token = strings.TrimSpace(t)
		}
	}
	for _, s := range []*string{&c.TeamDomain, &c.ChannelName, &c.UserID, &c.UserName, &c.Command, &c.Text, &c.TriggerID} {
		*s = models.CleanText(*s)
	}
	if c.Command == "" {
		return nil, errors.New("the request is not a Mattermost slash command (no command field)")
	}
	if c.UserName == "" {
		c.UserName = "unknown"
	}
	return c, nil
}

// Verb splits the text into the command word (lower case) and the rest.
func (c *Command) Verb() (verb, rest string) {
	verb, rest, _ = strings.Cut(strings.TrimSpace(c.Text), " ")
	return strings.ToLower(verb), strings.TrimSpace(rest)
}

// ActorName is how Klaxon names the user on the alert.
func (c *Command) ActorName() string { return "@" + c.UserName + " via Mattermost" }

// PageDraft is the alert `page TEXT` opens: title and urgency read from
// TEXT as for an outgoing webhook; each command is its own alert.
func (c *Command) PageDraft(text string) *models.AlertDraft {
	title, desc := models.TitleAndDescription(text)
	d := &models.AlertDraft{
		Title: title, Description: desc, Urgency: models.UrgencyFromText(text, ""), Action: models.ActionOpen,
		ReplyChannel: c.ChannelName, DedupKey: "command:" + c.TriggerID,
	}
	if c.TriggerID == "" {
		d.DedupKey = "command:" + models.RandomToken(16)
	}
	for _, f := range []models.DataField{{Name: "Command", Value: c.Command}, {Name: "Channel", Value: c.ChannelName},
		{Name: "User", Value: c.UserName}, {Name: "Team", Value: c.TeamDomain}} {
		if f.Value != "" {
			d.Fields = append(d.Fields, f)
		}
	}
	return d
}

// CommandAnswer is the answer to a slash command. Mattermost shows a
// non-200 answer as an error instead of its text, so every answer is 200.
type CommandAnswer struct {
	ResponseType string       `json:"response_type"`
	Text         string       `json:"text"`
	Attachments  []Attachment `json:"attachments,omitempty"`
}

// Ephemeral is an answer only the user who typed the command sees.
func Ephemeral(text string) CommandAnswer {
	return CommandAnswer{ResponseType: "ephemeral", Text: text}
}

// Help lists the commands, under the trigger the user typed.
func Help(trigger string) string {
	if trigger == "" {
		trigger = "/klaxon"
	}
	return "**Klaxon commands**\n" +
		"`" + trigger + " list`: open and acknowledged alerts, newest first (10 at most)\n" +
		"`" + trigger + " ack ID`: acknowledge an alert (its `alt_…` id, or the end of it)\n" +
		"`" + trigger + " resolve ID`: resolve an alert\n" +
		"`" + trigger + " page TEXT`: open an alert; an urgency word in TEXT (critical, high, sev-1, p2…) sets its urgency\n" +
		"`" + trigger + " help`: this text"
}

// AlertList shows alerts, one line each: urgency, id, title, status, age
// and link.
func AlertList(alerts []models.Alert, more bool, now time.Time, baseURL string) string {
	if len(alerts) == 0 {
		return "No open or acknowledged alerts. All quiet."
	}
	var b strings.Builder
	b.WriteString("**Open and acknowledged alerts**, newest first\n")
	for _, a := range alerts {
		fmt.Fprintf(&b, "- **%s** [%s](%s/alerts/%s) %s · %s · %s ago\n", a.Urgency, a.PublicID, strings.TrimRight(baseURL, "/"), a.PublicID,
			escapeMarkdown(a.Title), a.Status, age(now.Sub(a.CreatedAt)))
	}
	if more {
		b.WriteString("More in Klaxon: " + strings.TrimRight(baseURL, "/") + "/alerts")
	}
	return strings.TrimRight(b.String(), "\n")
}

// Paged is the in-channel answer to `page`: who opened which alert, with
// the alert's buttons.
func (s *Signer) Paged(res models.IntakeResult, by, baseURL, source string) CommandAnswer {
	link := strings.TrimRight(baseURL, "/") + "/alerts/" + res.AlertPublicID
	text := fmt.Sprintf("%s opened Klaxon alert %s (%s): %s %s", by, res.AlertPublicID, res.Urgency, escapeMarkdown(res.Title), link)
	ans := CommandAnswer{ResponseType: "in_channel", Text: text}
	a := &models.Alert{PublicID: res.AlertPublicID, AccountID: res.AccountID, Title: res.Title, Urgency: res.Urgency, Status: models.StatusOpen}
	if actions := s.buttons(a, source); len(actions) > 0 {
		ans.Attachments = []Attachment{{Fallback: text, Color: colors[models.StatusOpen], Actions: actions}}
	}
	return ans
}

func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "less than a minute"
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

// escapeMarkdown keeps a title from turning into links, mentions or markup
// in Mattermost.
func escapeMarkdown(s string) string {
	r := strings.NewReplacer("\\", "\\\\", "*", "\\*", "_", "\\_", "`", "\\`", "[", "\\[", "]", "\\]", "~", "\\~", "@", "@\u200b", "<", "\\<", ">", "\\>", "#", "\\#", "|", "\\|")
	return r.Replace(s)
}
