package models

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Integration kinds.
const (
	KindMattermostOutgoing = "mattermost_outgoing_webhook"
	KindMattermostSlash    = "mattermost_slash_command"
)

// KindLabel names an integration kind for people.
func KindLabel(kind string) string {
	if kind == KindMattermostSlash {
		return "Mattermost (Slash Command)"
	}
	return "Mattermost (Outgoing Webhook)"
}

// IntegrationKind returns the kind of the integration with publicID (kinds
// never change), or ErrNotFound.
func (d *DB) IntegrationKind(ctx context.Context, publicID string) (string, error) {
	var kinds []string
	if err := d.WithContext(ctx).Model(&Integration{}).Where("public_id = ?", publicID).Limit(1).Pluck("kind", &kinds).Error; err != nil {
		return "", err
	}
	if len(kinds) == 0 {
		return "", ErrNotFound
	}
	return kinds[0], nil
}

// IntegrationByPublicID returns the integration with publicID, of any
// account: for machine endpoints, where the id is the credential.
func (d *DB) IntegrationByPublicID(ctx context.Context, publicID string) (*Integration, error) {
	var i Integration
	err := d.WithContext(ctx).Where("public_id = ?", publicID).First(&i).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	return &i, err
}

// Integration is an endpoint that turns incoming requests into alerts.
type Integration struct {
	ID             uint    `gorm:"primaryKey"`
	PublicID       string  `gorm:"size:40;not null;uniqueIndex"`
	AccountID      uint    `gorm:"not null;index"`
	Name           string  `gorm:"size:100;not null"`
	Kind           string  `gorm:"size:40;not null"`
	DefaultUrgency Urgency `gorm:"size:16;not null"`
	Token          string  `gorm:"size:200;not null;default:''"`
	Enabled        bool    `gorm:"not null"`
	ReplyInChannel bool    `gorm:"not null"`
	SiteURL        string  `gorm:"size:500;not null;default:''"`
	// AllowedUsers lists the Mattermost user names that may use the
	// buttons of its thread replies ("alice bob"); empty: anyone.
	AllowedUsers string         `gorm:"size:1000;not null;default:''"`
	CreatedAt    time.Time      `gorm:"not null"`
	UpdatedAt    time.Time      `gorm:"not null"`
	DeletedAt    gorm.DeletedAt `gorm:"index"`
}

// MaskedToken shows enough of the token to recognise it, never all of it.
func (i *Integration) MaskedToken() string {
	if i.Token == "" {
		return ""
	}
	r := []rune(i.Token)
	if len(r) <= 8 {
		return "••••••••"
	}
	return "••••••••" + string(r[len(r)-4:])
}

// SiteLink makes a link relative to the integration's site URL (one that
// starts with "/") absolute; ok is false when it has no site URL. Other
// links are returned as they are.
func (i *Integration) SiteLink(link string) (string, bool) {
	if !strings.HasPrefix(link, "/") {
		return link, true
	}
	if i.SiteURL == "" {
		return "", false
	}
	return strings.TrimRight(i.SiteURL, "/") + link, true
}

// IntegrationInput is what a user may set on an integration.
type IntegrationInput struct {
	Name           string
	DefaultUrgency string
	Token          string
	RemoveToken    bool
	ReplyInChannel bool
	SiteURL        string
	AllowedUsers   string
	// Kind is set on creation only; "" is KindMattermostOutgoing.
	Kind string
}

// MinTokenLength is the shortest token Klaxon takes. Mattermost's are 26
// random characters; a short one could be found by trying them all, since
// the endpoint answers every guess.
const MinTokenLength = 16

// Validate normalises the input and reports what is wrong with it.
func (in *IntegrationInput) Validate() error {
	in.Name = strings.TrimSpace(in.Name)
	in.Token = strings.TrimSpace(in.Token)
	in.SiteURL = strings.TrimRight(strings.TrimSpace(in.SiteURL), "/")
	errs := ValidationErrors{}
	if in.Name == "" {
		errs.Add("name", "Give the integration a name, e.g. “Mattermost #ops”.")
	} else if len([]rune(in.Name)) > 100 {
		errs.Add("name", "Use at most 100 characters.")
	}
	if !Urgency(in.DefaultUrgency).Valid() {
		errs.Add("default_urgency", "Choose low, medium, high or critical.")
	}
	switch {
	case len(in.Token) > 200:
		errs.Add("token", "That is longer than any Mattermost token (26 characters).")
	case strings.ContainsAny(in.Token, " \t\r\n"):
		errs.Add("token", "A Mattermost token has no spaces; copy it again from Mattermost.")
	case in.Token != "" && len(in.Token) < MinTokenLength:
		// A short token could be guessed by trying them all.
		errs.Add("token", "That is too short for a Mattermost token (26 characters); copy the whole token from Mattermost.")
	}
	if list, bad := NormalizeUserNames(in.AllowedUsers); bad != "" {
		errs.Add("allowed_users", allowedUsersError(bad))
	} else if len(list) > 1000 {
		errs.Add("allowed_users", "List at most 1000 characters of names.")
	} else {
		in.AllowedUsers = list
	}
	if in.SiteURL != "" {
		u, err := url.Parse(in.SiteURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs.Add("site_url", "Enter the address you open Mattermost at, e.g. https://chat.example.com.")
		} else if len(in.SiteURL) > 500 {
			errs.Add("site_url", "Use at most 500 characters.")
		}
	}
	return errs.OrNil()
}

// CreateIntegration adds a Mattermost outgoing-webhook integration to account.
func (d *DB) CreateIntegration(ctx context.Context, accountID uint, in IntegrationInput) (*Integration, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	kind := KindMattermostOutgoing
	if in.Kind == KindMattermostSlash {
		kind = KindMattermostSlash
	}
	i := &Integration{
		PublicID:       newPublicID("int_"),
		AccountID:      accountID,
		Name:           in.Name,
		Kind:           kind,
		DefaultUrgency: Urgency(in.DefaultUrgency),
		Token:          in.Token,
		Enabled:        true,
		ReplyInChannel: in.ReplyInChannel,
		SiteURL:        in.SiteURL,
		AllowedUsers:   in.AllowedUsers,
	}
	return i, d.createWithinLimit(ctx, accountID, d.Limits.Integrations, "integration", &Integration{}, i)
}

// Integration returns account's integration with publicID.
func (d *DB) Integration(ctx context.Context, accountID uint, publicID string) (*Integration, error) {
	var i Integration
	err := d.WithContext(ctx).Where("account_id = ? AND public_id = ?", accountID, publicID).First(&i).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	return &i, err
}

// UpdateIntegration changes account's integration. A blank token keeps the
// current one; RemoveToken clears it.
func (d *DB) UpdateIntegration(ctx context.Context, accountID uint, publicID string, in IntegrationInput) (*Integration, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	i, err := d.Integration(ctx, accountID, publicID)
	if err != nil {
		return nil, err
	}
	i.Name = in.Name
	i.DefaultUrgency = Urgency(in.DefaultUrgency)
	i.ReplyInChannel = in.ReplyInChannel
	i.SiteURL = in.SiteURL
	i.AllowedUsers = in.AllowedUsers
	switch {
	case in.RemoveToken:
		i.Token = ""
	case in.Token != "":
		i.Token = in.Token
	}
	err = d.WithContext(ctx).Model(i).Select("name", "default_urgency", "reply_in_channel", "site_url", "allowed_users", "token", "updated_at").Updates(i).Error
	return i, err
}

// SetIntegrationEnabled turns account's integration on or off.
func (d *DB) SetIntegrationEnabled(ctx context.Context, accountID uint, publicID string, enabled bool) error {
	res := d.WithContext(ctx).Model(&Integration{}).Where("account_id = ? AND public_id = ?", accountID, publicID).
		Updates(map[string]any{"enabled": enabled, "updated_at": time.Now()})
	if res.Error == nil && res.RowsAffected == 0 {
		return ErrNotFound
	}
	return res.Error
}

// DeleteIntegration removes account's integration: its endpoint answers 404
// from now on, and its alerts stay.
func (d *DB) DeleteIntegration(ctx context.Context, accountID uint, publicID string) error {
	res := d.WithContext(ctx).Where("account_id = ? AND public_id = ?", accountID, publicID).Delete(&Integration{})
	if res.Error == nil && res.RowsAffected == 0 {
		return ErrNotFound
	}
	return res.Error
}

// IntegrationSummary is a row of the integrations list.
type IntegrationSummary struct {
	Integration
	OpenAlerts  int64
	LastRequest *IntegrationLog
}

// Integrations lists account's integrations by name, with their open alert
// counts and last request: three queries, however many integrations.
func (d *DB) Integrations(ctx context.Context, accountID uint) ([]IntegrationSummary, error) {
	db := d.WithContext(ctx)
	var list []Integration
	if err := db.Where("account_id = ?", accountID).Order("name, id").Find(&list).Error; err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, nil
	}
	var counts []struct {
		IntegrationID uint
		N             int64
	}
	if err := db.Model(&Alert{}).Select("integration_id, count(*) AS n").
		Where("account_id = ? AND status = ?", accountID, StatusOpen).Group("integration_id").Scan(&counts).Error; err != nil {
		return nil, err
	}
	open := map[uint]int64{}
	for _, c := range counts {
		open[c.IntegrationID] = c.N
	}
	ids := make([]uint, len(list))
	for n, i := range list {
		ids[n] = i.ID
	}
	var lasts []IntegrationLog
	if err := db.Where("id IN (SELECT max(id) FROM integration_logs WHERE integration_id IN ? GROUP BY integration_id)", ids).
		Find(&lasts).Error; err != nil {
		return nil, err
	}
	last := map[uint]*IntegrationLog{}
	for n := range lasts {
		last[lasts[n].IntegrationID] = &lasts[n]
	}
	out := make([]IntegrationSummary, len(list))
	for n, i := range list {
		out[n] = IntegrationSummary{Integration: i, OpenAlerts: open[i.ID], LastRequest: last[i.ID]}
	}
	return out, nil
}

// AllIntegrations lists account's integrations, deleted ones too, for filters.
func (d *DB) AllIntegrations(ctx context.Context, accountID uint) ([]Integration, error) {
	var list []Integration
	err := d.WithContext(ctx).Unscoped().Where("account_id = ?", accountID).Order("name, id").Find(&list).Error
	return list, err
}
