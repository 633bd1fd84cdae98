package models

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// TeamLimits cap what one team (account) creates; zero means no cap.
type TeamLimits struct {
	Integrations int
	Channels     int
}

// LimitError says that a team already has as many of something as it may.
type LimitError struct {
	What  string // "integration", "notification channel"
	Limit int
}

func (e *LimitError) Error() string {
	what := e.What
	if e.Limit != 1 {
		what += "s"
	}
	return fmt.Sprintf("Your team already has %d %s, the most this Klaxon allows. Delete one you no longer use to add another, or ask whoever runs Klaxon to raise the limit.", e.Limit, what)
}

// createWithinLimit creates row for account unless the account already has
// limit rows of model. The account's row is locked first (SQLite locks the
// whole database at BEGIN), so that two creations at once cannot both pass
// the count.
func (d *DB) createWithinLimit(ctx context.Context, accountID uint, limit int, what string, model, row any) error {
	if limit <= 0 {
		return d.WithContext(ctx).Create(row).Error
	}
	return d.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec(`UPDATE accounts SET name = name WHERE id = ?`, accountID).Error; err != nil {
			return err
		}
		var n int64
		if err := tx.Model(model).Where("account_id = ?", accountID).Count(&n).Error; err != nil {
			return err
		}
		if n >= int64(limit) {
			return &LimitError{What: what, Limit: limit}
		}
		return tx.Create(row).Error
	})
}

// keptRawRequest is what an alert keeps of a request's body: at most keep
// bytes (0: all of it), cut at a character boundary.
func keptRawRequest(body string, keep int) string {
	if keep <= 0 {
		return body
	}
	return truncate(body, keep)
}

// RawRequestCut reports whether the alert keeps only the start of its
// request's body.
func (a *Alert) RawRequestCut() bool { return a.RawRequestBytes > len(a.RawRequest) }

// IntegrationLimitReached returns the error a new integration of account
// would get for the team's limit, or nil when there is room.
func (d *DB) IntegrationLimitReached(ctx context.Context, accountID uint) (*LimitError, error) {
	return d.limitReached(ctx, accountID, d.Limits.Integrations, "integration", &Integration{})
}

// ChannelLimitReached is IntegrationLimitReached for notification channels.
func (d *DB) ChannelLimitReached(ctx context.Context, accountID uint) (*LimitError, error) {
	return d.limitReached(ctx, accountID, d.Limits.Channels, "notification channel", &NotificationChannel{})
}

func (d *DB) limitReached(ctx context.Context, accountID uint, limit int, what string, model any) (*LimitError, error) {
	if limit <= 0 {
		return nil, nil
	}
	var n int64
	if err := d.WithContext(ctx).Model(model).Where("account_id = ?", accountID).Count(&n).Error; err != nil {
		return nil, err
	}
	if n < int64(limit) {
		return nil, nil
	}
	return &LimitError{What: what, Limit: limit}, nil
}
