package mattermost

import (
	"fmt"
	"strings"
	"time"

	"klaxon/models"
)

// Status colours, as Mattermost shows them on the attachment's edge.
var colors = map[models.Status]string{
	models.StatusOpen:         "#ff5252",
	models.StatusAcknowledged: "#fb8c00",
	models.StatusResolved:     "#4caf50",
}

// Message is the Slack-compatible body Mattermost's incoming webhooks take.
type Message struct {
	Username    string       `json:"username"`
	Text        string       `json:"text,omitempty"`
	Attachments []Attachment `json:"attachments"`
}

// Attachment is the alert's card.
type Attachment struct {
	Fallback  string   `json:"fallback"`
	Color     string   `json:"color"`
	Pretext   string   `json:"pretext,omitempty"`
	Title     string   `json:"title"`
	TitleLink string   `json:"title_link,omitempty"`
	Text      string   `json:"text"`
	Fields    []Field  `json:"fields"`
	Actions   []Button `json:"actions,omitempty"`
}

// Field is one short fact on the card.
type Field struct {
	Title string `json:"title"`
	Value string `json:"value"`
	Short bool   `json:"short"`
}

var eventWords = map[string]string{
	models.NotifyOpened:       "opened",
	models.NotifyAcknowledged: "acknowledged",
	models.NotifyResolved:     "resolved",
}

// AlertPost makes the post for an alert event. The card shows the alert
// as it was right after the event (status, colour, who acted and when),
// however late the post goes out, with the buttons that apply then
// (signed by buttons, for the notification channel source; none when
// buttons is nil).
func AlertPost(a *models.Alert, event, baseURL string, buttons *Signer, source string) Message {
	st := a.AsOf(event)
	card := alertCard(&st, baseURL)
	card.Actions = buttons.buttons(&st, source)
	card.Fallback = fmt.Sprintf("Alert %s %s (%s): %s", st.PublicID, eventWords[event], st.Urgency, st.Title)
	card.Pretext = "Alert " + eventWords[event]
	return Message{Username: "Klaxon", Attachments: []Attachment{card}}
}

// alertCard is the attachment that shows alert a.
func alertCard(a *models.Alert, baseURL string) Attachment {
	fields := []Field{
		{Title: "Status", Value: string(a.Status), Short: true},
		{Title: "Urgency", Value: string(a.Urgency), Short: true},
		{Title: "Created", Value: a.CreatedAt.UTC().Format(time.RFC3339), Short: true},
		{Title: "Source", Value: a.Integration.Name, Short: true},
	}
	if a.AcknowledgedBy != "" {
		fields = append(fields, Field{Title: "Acknowledged by", Value: a.AcknowledgedBy, Short: true})
		if a.AcknowledgedAt != nil {
			fields = append(fields, Field{Title: "Acknowledged at", Value: a.AcknowledgedAt.UTC().Format(time.RFC3339), Short: true})
		}
	}
	if a.ResolvedBy != "" {
		fields = append(fields, Field{Title: "Resolved by", Value: a.ResolvedBy, Short: true})
		if a.ResolvedAt != nil {
			fields = append(fields, Field{Title: "Resolved at", Value: a.ResolvedAt.UTC().Format(time.RFC3339), Short: true})
		}
	}
	return Attachment{
		Fallback:  fmt.Sprintf("Alert %s %s (%s): %s", a.PublicID, a.Status, a.Urgency, a.Title),
		Color:     colors[a.Status],
		Title:     a.PublicID + ": " + a.Title,
		TitleLink: strings.TrimRight(baseURL, "/") + "/alerts/" + a.PublicID,
		Text:      a.Description,
		Fields:    fields,
	}
}

// TestPost is the post of a channel's "Send test message": it says what it
// is and links nowhere, since no alert stands behind it.
func TestPost(channelName, by string, at time.Time) Message {
	when := at.UTC().Format(time.RFC3339)
	return Message{
		Username: "Klaxon",
		Attachments: []Attachment{{
			Fallback: "Klaxon test message for " + channelName + ", sent by " + by + " at " + when,
			Color:    colors[models.StatusOpen],
			Pretext:  "Test message",
			Title:    "Klaxon can post to this channel",
			Text:     "Sent by " + by + " from the notification channel “" + channelName + "” in Klaxon. Alert posts look like this card, with their own title, link and fields.",
			Fields: []Field{
				{Title: "Channel", Value: channelName, Short: true},
				{Title: "Sent", Value: when, Short: true},
			},
		}},
	}
}
