package models

import (
	"time"
)

// Status is where an alert is in its life: open → acknowledged → resolved,
// or open → resolved.
type Status string

const (
	StatusOpen         Status = "open"
	StatusAcknowledged Status = "acknowledged"
	StatusResolved     Status = "resolved"
)

// Statuses lists the statuses in lifecycle order.
var Statuses = []Status{StatusOpen, StatusAcknowledged, StatusResolved}

// Valid reports whether s is one of Statuses.
func (s Status) Valid() bool {
	return s == StatusOpen || s == StatusAcknowledged || s == StatusResolved
}

// CanAcknowledge reports whether an alert in status s may be acknowledged.
func (s Status) CanAcknowledge() bool { return s == StatusOpen }

// CanResolve reports whether an alert in status s may be resolved.
func (s Status) CanResolve() bool { return s == StatusOpen || s == StatusAcknowledged }

// AdditionalData is what a source's request carried besides its text:
// named fields and links, shown on the alert's page.
type AdditionalData struct {
	Fields []DataField `json:"fields,omitempty"`
	Links  []DataLink  `json:"links,omitempty"`
	// Alerts stored before fields and links were kept these.
	Trigger string `json:"trigger,omitempty"`
	Channel string `json:"channel,omitempty"`
	User    string `json:"user,omitempty"`
	Team    string `json:"team,omitempty"`
	PostID  string `json:"post_id,omitempty"`
	PostURL string `json:"post_url,omitempty"`
}

// DataField is one named value of AdditionalData.
type DataField struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// DataLink is a link of AdditionalData.
type DataLink struct {
	Label string `json:"label"`
	URL   string `json:"url"`
}

// List returns the fields and links, those of alerts stored in the earlier
// form included.
func (d AdditionalData) List() ([]DataField, []DataLink) {
	fields, links := d.Fields, d.Links
	if d.Trigger != "" || d.Channel != "" || d.User != "" || d.Team != "" || d.PostID != "" {
		fields = append(fields, DataField{"Trigger", d.Trigger}, DataField{"Channel", d.Channel},
			DataField{"User", d.User}, DataField{"Team", d.Team}, DataField{"Post id", d.PostID})
	}
	if d.PostURL != "" {
		links = append(links, DataLink{"Mattermost post", d.PostURL})
	}
	return fields, links
}

// Field returns the value of the field named name, or "".
func (d AdditionalData) Field(name string) string {
	fields, _ := d.List()
	for _, f := range fields {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// Alert is something that needs a person's attention.
//
// The list's indexes start with the account and the status, then the
// filters, then the id: every combination of status, integration and
// urgency is one index range already in id order, so a page is read, not
// searched for (see DB.Alerts). idx_alerts_text_filter holds the filtered
// columns by id, so that a text search checks its matches against the
// filters without reading the (wide) rows.
type Alert struct {
	ID             uint           `gorm:"primaryKey;index:idx_alerts_list_status,priority:3;index:idx_alerts_list_integration,priority:4;index:idx_alerts_list_urgency,priority:4;index:idx_alerts_list_integration_urgency,priority:5;index:idx_alerts_text_filter,priority:1"`
	PublicID       string         `gorm:"size:40;not null;uniqueIndex"`
	AccountID      uint           `gorm:"not null;index:idx_alerts_list_status,priority:1;index:idx_alerts_list_integration,priority:1;index:idx_alerts_list_urgency,priority:1;index:idx_alerts_list_integration_urgency,priority:1;index:idx_alerts_text_filter,priority:2"`
	IntegrationID  uint           `gorm:"not null;index:idx_alerts_list_integration,priority:3;index:idx_alerts_list_integration_urgency,priority:3;index:idx_alerts_text_filter,priority:4"`
	Integration    Integration    `gorm:"constraint:OnDelete:CASCADE"`
	Title          string         `gorm:"size:300;not null"`
	Description    string         `gorm:"not null;default:''"`
	Urgency        Urgency        `gorm:"size:16;not null;index:idx_alerts_list_urgency,priority:3;index:idx_alerts_list_integration_urgency,priority:4;index:idx_alerts_text_filter,priority:5"`
	Status         Status         `gorm:"size:16;not null;index:idx_alerts_list_status,priority:2;index:idx_alerts_list_integration,priority:2;index:idx_alerts_list_urgency,priority:2;index:idx_alerts_list_integration_urgency,priority:2;index:idx_alerts_text_filter,priority:3"`
	DedupKey       string         `gorm:"size:300;not null"`
	DedupCount     int            `gorm:"not null;default:0"`
	AdditionalData AdditionalData `gorm:"serializer:json;not null"`
	RawRequest     string         `gorm:"not null;default:''"`
	RawContentType string         `gorm:"size:100;not null;default:''"`
	// RawRequestBytes is the size of the request's body; more than
	// RawRequest holds when that was cut.
	RawRequestBytes  int       `gorm:"not null;default:0"`
	CreatedAt        time.Time `gorm:"not null"`
	AcknowledgedAt   *time.Time
	AcknowledgedByID *uint
	AcknowledgedBy   string `gorm:"size:254;not null;default:''"`
	// Only resolved alerts are in idx_alerts_resolved (retention reads it):
	// a new alert costs no entry there.
	ResolvedAt   *time.Time `gorm:"index:idx_alerts_resolved,where:resolved_at IS NOT NULL"`
	ResolvedByID *uint
	ResolvedBy   string `gorm:"size:254;not null;default:''"`
}

// EventKind names an entry of an alert's timeline.
type EventKind string

const (
	EventCreated      EventKind = "created"
	EventDeduplicated EventKind = "deduplicated"
	EventAcknowledged EventKind = "acknowledged"
	EventResolved     EventKind = "resolved"
)

// AlertEvent is one entry of an alert's timeline.
type AlertEvent struct {
	ID      uint      `gorm:"primaryKey"`
	AlertID uint      `gorm:"not null;index"`
	Alert   Alert     `gorm:"constraint:OnDelete:CASCADE"`
	Kind    EventKind `gorm:"size:20;not null"`
	UserID  *uint
	Actor   string `gorm:"size:254;not null;default:''"`
	// Via is where the actor acted ("browser", "mattermost", …); empty for
	// events written before it existed (Insights then reads UserID).
	Via string `gorm:"size:20;not null;default:''"`
	// ExternalUserID is the chat's own id of an actor from outside
	// Klaxon (Mattermost's user id).
	ExternalUserID string    `gorm:"size:64;not null;default:''"`
	CreatedAt      time.Time `gorm:"not null"`
}

// AsOf returns the alert as it was right after a notification event
// (opened, acknowledged, resolved): what happened later is left out, so a
// post sent late still tells its own event.
func (a Alert) AsOf(event string) Alert {
	switch event {
	case NotifyOpened:
		a.Status = StatusOpen
		a.AcknowledgedAt, a.AcknowledgedByID, a.AcknowledgedBy = nil, nil, ""
		a.ResolvedAt, a.ResolvedByID, a.ResolvedBy = nil, nil, ""
	case NotifyAcknowledged:
		a.Status = StatusAcknowledged
		a.ResolvedAt, a.ResolvedByID, a.ResolvedBy = nil, nil, ""
	case NotifyResolved:
		a.Status = StatusResolved
	}
	return a
}
