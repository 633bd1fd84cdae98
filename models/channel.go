package models

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Notification events a channel can post.
const (
	NotifyOpened       = "opened"
	NotifyAcknowledged = "acknowledged"
	NotifyResolved     = "resolved"
)

// NotifyEvents lists the events in lifecycle order.
var NotifyEvents = []string{NotifyOpened, NotifyAcknowledged, NotifyResolved}

// NotificationChannel posts alert events to a Mattermost incoming webhook.
// Events, Integrations and Urgencies are comma-separated lists, stored with
// leading and trailing commas (",opened,resolved,") so that one SQL LIKE
// filters them the same way on SQLite and PostgreSQL; an empty list of
// integrations or urgencies means all.
type NotificationChannel struct {
	ID           uint   `gorm:"primaryKey"`
	PublicID     string `gorm:"size:40;not null;uniqueIndex"`
	AccountID    uint   `gorm:"not null;index"`
	Name         string `gorm:"size:100;not null"`
	WebhookURL   string `gorm:"size:1000;not null"`
	Events       string `gorm:"size:100;not null"`
	Integrations string `gorm:"size:1000;not null;default:''"`
	Urgencies    string `gorm:"size:100;not null;default:''"`
	// MattermostChannel is the channel the webhook posts to, when known:
	// "opened" is not posted for alerts that Klaxon already answered in
	// that same channel (see README, "Notification channels").
	MattermostChannel string `gorm:"size:100;not null;default:''"`
	// AllowedUsers lists the Mattermost user names that may use the
	// buttons of its posts ("alice bob"); empty: anyone.
	AllowedUsers string `gorm:"size:1000;not null;default:''"`
	Enabled      bool   `gorm:"not null"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func joinList(items []string) string {
	if len(items) == 0 {
		return ""
	}
	return "," + strings.Join(items, ",") + ","
}

// EventList, IntegrationIDs and UrgencyList unpack the stored lists.
func (c *NotificationChannel) EventList() []string { return splitList(c.Events) }
func (c *NotificationChannel) UrgencyList() []string {
	return splitList(c.Urgencies)
}
func (c *NotificationChannel) IntegrationIDs() []uint {
	var ids []uint
	for _, s := range splitList(c.Integrations) {
		if n, err := strconv.ParseUint(s, 10, 64); err == nil {
			ids = append(ids, uint(n))
		}
	}
	return ids
}

// MaskedWebhookURL shows the webhook's host and hides its secret: the last
// non-empty path segment (Mattermost's are /hooks/{id}; a trailing slash
// must not leave the id showing). Like MaskedToken, it keeps the last 4
// characters of a secret longer than 8, to recognise it by.
func (c *NotificationChannel) MaskedWebhookURL() string {
	u, err := url.Parse(c.WebhookURL)
	if err != nil || u.Host == "" {
		return "••••"
	}
	before, secret, after := splitSecret(u.Path)
	if secret == "" {
		return u.Scheme + "://" + u.Host + u.Path
	}
	masked := "••••"
	if r := []rune(secret); len(r) > 8 {
		masked += string(r[len(r)-4:])
	}
	return u.Scheme + "://" + u.Host + before + masked + after
}

// splitSecret cuts path around its last non-empty segment.
func splitSecret(path string) (before, secret, after string) {
	rest := strings.TrimRight(path, "/")
	i := strings.LastIndex(rest, "/")
	return rest[:i+1], rest[i+1:], path[len(rest):]
}

// WebhookSecrets returns the webhook's secret path segment as it may be
// printed, unescaped and escaped, so that error texts can be cleaned of
// it; nothing when the segment is too short (under 6 bytes) to replace
// without garbling the text.
func WebhookSecrets(u *url.URL) []string {
	var out []string
	for _, p := range []string{u.Path, u.EscapedPath()} {
		if _, secret, _ := splitSecret(p); len(secret) >= 6 && !slices.Contains(out, secret) {
			out = append(out, secret)
		}
	}
	return out
}

// ChannelInput is what a user may set on a notification channel.
type ChannelInput struct {
	Name              string
	WebhookURL        string
	Events            []string
	IntegrationIDs    []uint
	Urgencies         []string
	MattermostChannel string
	AllowedUsers      string
}

// Validate normalises the input and reports what is wrong with it.
func (in *ChannelInput) Validate(keepURL bool) error {
	in.Name = strings.TrimSpace(in.Name)
	in.WebhookURL = strings.TrimSpace(in.WebhookURL)
	in.MattermostChannel = strings.TrimPrefix(strings.TrimSpace(in.MattermostChannel), "~")
	errs := ValidationErrors{}
	if in.Name == "" {
		errs.Add("name", "Name the channel, e.g. “#ops in Mattermost”.")
	} else if len([]rune(in.Name)) > 100 {
		errs.Add("name", "Use at most 100 characters.")
	}
	if in.WebhookURL == "" && !keepURL {
		errs.Add("webhook_url", "Paste the incoming webhook URL from Mattermost (Integrations → Incoming Webhooks).")
	} else if in.WebhookURL != "" {
		u, err := url.Parse(in.WebhookURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(in.WebhookURL) > 1000 {
			errs.Add("webhook_url", "Enter the whole URL, like https://chat.example.com/hooks/xxxxxxxx.")
		}
	}
	var events []string
	for _, e := range NotifyEvents {
		if slices.Contains(in.Events, e) {
			events = append(events, e)
		}
	}
	in.Events = events
	if len(events) == 0 {
		errs.Add("events", "Choose at least one event to post.")
	}
	var urgencies []string
	for _, u := range Urgencies {
		if slices.Contains(in.Urgencies, string(u)) {
			urgencies = append(urgencies, string(u))
		}
	}
	in.Urgencies = urgencies
	if len(in.MattermostChannel) > 100 {
		errs.Add("mattermost_channel", "Use at most 100 characters.")
	}
	if list, bad := NormalizeUserNames(in.AllowedUsers); bad != "" {
		errs.Add("allowed_users", allowedUsersError(bad))
	} else if len(list) > 1000 {
		errs.Add("allowed_users", "List at most 1000 characters of names.")
	} else {
		in.AllowedUsers = list
	}
	return errs.OrNil()
}

func (in *ChannelInput) apply(c *NotificationChannel) {
	c.Name = in.Name
	if in.WebhookURL != "" {
		c.WebhookURL = in.WebhookURL
	}
	c.Events = joinList(in.Events)
	var ids []string
	for _, id := range in.IntegrationIDs {
		ids = append(ids, strconv.FormatUint(uint64(id), 10))
	}
	c.Integrations = joinList(ids)
	c.Urgencies = joinList(in.Urgencies)
	c.MattermostChannel = in.MattermostChannel
	c.AllowedUsers = in.AllowedUsers
}

// checkIntegrations keeps only ids of account's integrations.
func (d *DB) checkIntegrations(ctx context.Context, accountID uint, ids []uint) ([]uint, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var ok []uint
	err := d.WithContext(ctx).Model(&Integration{}).Where("account_id = ? AND id IN ?", accountID, ids).Order("id").Pluck("id", &ok).Error
	return ok, err
}

// CreateChannel adds a notification channel to account.
func (d *DB) CreateChannel(ctx context.Context, accountID uint, in ChannelInput) (*NotificationChannel, error) {
	if err := in.Validate(false); err != nil {
		return nil, err
	}
	ids, err := d.checkIntegrations(ctx, accountID, in.IntegrationIDs)
	if err != nil {
		return nil, err
	}
	in.IntegrationIDs = ids
	c := &NotificationChannel{PublicID: newPublicID("chn_"), AccountID: accountID, Enabled: true}
	in.apply(c)
	return c, d.createWithinLimit(ctx, accountID, d.Limits.Channels, "notification channel", &NotificationChannel{}, c)
}

// Channel returns account's channel with publicID.
func (d *DB) Channel(ctx context.Context, accountID uint, publicID string) (*NotificationChannel, error) {
	var c NotificationChannel
	err := d.WithContext(ctx).Where("account_id = ? AND public_id = ?", accountID, publicID).First(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	return &c, err
}

// Channels lists account's channels by name.
func (d *DB) Channels(ctx context.Context, accountID uint) ([]NotificationChannel, error) {
	var list []NotificationChannel
	err := d.WithContext(ctx).Where("account_id = ?", accountID).Order("name, id").Find(&list).Error
	return list, err
}

// UpdateChannel changes account's channel; a blank webhook URL keeps the
// current one.
func (d *DB) UpdateChannel(ctx context.Context, accountID uint, publicID string, in ChannelInput) (*NotificationChannel, error) {
	if err := in.Validate(true); err != nil {
		return nil, err
	}
	c, err := d.Channel(ctx, accountID, publicID)
	if err != nil {
		return nil, err
	}
	if in.IntegrationIDs, err = d.checkIntegrations(ctx, accountID, in.IntegrationIDs); err != nil {
		return nil, err
	}
	in.apply(c)
	err = d.WithContext(ctx).Model(c).Select("name", "webhook_url", "events", "integrations", "urgencies", "mattermost_channel", "allowed_users", "updated_at").Updates(c).Error
	return c, err
}

// SetChannelEnabled turns account's channel on or off.
func (d *DB) SetChannelEnabled(ctx context.Context, accountID uint, publicID string, enabled bool) error {
	res := d.WithContext(ctx).Model(&NotificationChannel{}).Where("account_id = ? AND public_id = ?", accountID, publicID).
		Updates(map[string]any{"enabled": enabled, "updated_at": time.Now()})
	if res.Error == nil && res.RowsAffected == 0 {
		return ErrNotFound
	}
	return res.Error
}

// DeleteChannel removes account's channel, its pending posts and its
// delivery log.
func (d *DB) DeleteChannel(ctx context.Context, accountID uint, publicID string) error {
	c, err := d.Channel(ctx, accountID, publicID)
	if err != nil {
		return err
	}
	return d.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("channel_id = ?", c.ID).Delete(&Delivery{}).Error; err != nil {
			return err
		}
		if err := tx.Where("channel_id = ?", c.ID).Delete(&OutboxItem{}).Error; err != nil {
			return err
		}
		return tx.Delete(c).Error
	})
}
