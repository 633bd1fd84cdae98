package mattermost

import (
	"klaxon/models"
)

// IntakeAnswer is the JSON answer to an outgoing webhook. Mattermost posts
// it in the channel when it has a text (only new alerts of integrations
// that reply in channel), as a reply in the thread of the triggering post.
type IntakeAnswer struct {
	AlertID      string       `json:"alert_id,omitempty"`
	Deduplicated *bool        `json:"deduplicated,omitempty"`
	Urgency      string       `json:"urgency,omitempty"`
	URL          string       `json:"url,omitempty"`
	Text         string       `json:"text,omitempty"`
	ResponseType string       `json:"response_type,omitempty"`
	Attachments  []Attachment `json:"attachments,omitempty"`
	Error        string       `json:"error,omitempty"`
}

// IntakeReply answers an outgoing webhook's delivery. baseURL is Klaxon's
// public address, without a trailing slash. Refusals carry no text, so
// that Mattermost posts nothing for them. The thread reply carries the
// alert's buttons, signed by buttons for the integration source.
func IntakeReply(res models.IntakeResult, baseURL string, buttons *Signer, source string) IntakeAnswer {
	if !res.Outcome.OK() {
		return IntakeAnswer{Error: res.Message}
	}
	dedup := res.Outcome == models.OutcomeDeduplicated
	ans := IntakeAnswer{AlertID: res.AlertPublicID, Deduplicated: &dedup}
	if dedup {
		return ans
	}
	ans.Urgency = string(res.Urgency)
	ans.URL = baseURL + "/alerts/" + res.AlertPublicID
	if res.ReplyInChannel {
		ans.Text = "Klaxon alert " + res.AlertPublicID + " opened (" + string(res.Urgency) + "): " + ans.URL
		ans.ResponseType = "comment"
		a := &models.Alert{PublicID: res.AlertPublicID, AccountID: res.AccountID, Title: res.Title, Urgency: res.Urgency, Status: models.StatusOpen}
		if actions := buttons.buttons(a, source); len(actions) > 0 {
			ans.Attachments = []Attachment{{Fallback: ans.Text, Color: colors[models.StatusOpen], Actions: actions}}
		}
	}
	return ans
}

// WrongMethod answers a request to the intake endpoint that is not a POST.
func WrongMethod() IntakeAnswer {
	return IntakeAnswer{Error: "Send messages with POST: this is the endpoint of a Mattermost outgoing webhook."}
}
