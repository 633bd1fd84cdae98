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
	Fallback  string  `json:"fallback"`
	Color     string  `json:"color"`
	Pretext   string  `json:"pretext,omitempty"`
	Title     string  `json:"title"`
	TitleLink string  `json:"title_link"`
	Text      string  `json:"text"`
	Fields    []Field `json:"fields"`
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

// AlertPost makes the post for an alert event. The card shows the
// alert as it is now, coloured by its status.
func AlertPost(a *models.Alert, event, baseURL string) Message {
	title := a.PublicID + ": " + a.Title
	link := strings.TrimRight(baseURL, "/") + "/alerts/" + a.PublicID
	fields := []Field{
		{Title: "Status", Value: string(a.Status), Short: true},
		{Title: "Urgency", Value: string(a.Urgency), Short: true},
		{Title: "Created", Value: a.CreatedAt.UTC().Format(time.RFC3339), Short: true},
		{Title: "Source", Value: a.Integration.Name, Short: true},
	}
	if a.AcknowledgedBy != "" {
		fields = append(fields, Field{Title: "Acknowledged by", Value: a.AcknowledgedBy, Short: true})
	}
	if a.ResolvedBy != "" {
		fields = append(fields, Field{Title: "Resolved by", Value: a.ResolvedBy, Short: true})
	}
	return Message{
		Username: "Klaxon",
		Attachments: []Attachment{{
			Fallback:  fmt.Sprintf("Alert %s %s (%s): %s", a.PublicID, eventWords[event], a.Urgency, a.Title),
			Color:     colors[a.Status],
			Pretext:   "Alert " + eventWords[event],
			Title:     title,
			TitleLink: link,
			Text:      a.Description,
			Fields:    fields,
		}},
	}
}
