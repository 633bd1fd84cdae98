package models

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
)

// Outbox states.
const (
	OutboxPending   = "pending"
	OutboxDelivered = "delivered"
	OutboxFailed    = "failed"
)

// OutboxItem is one alert event waiting to be posted to one channel. It is
// written in the same transaction as the change that caused it, so a crash
// can delay a post but never lose it.
type OutboxItem struct {
	ID            uint      `gorm:"primaryKey"`
	ChannelID     uint      `gorm:"not null;index"`
	AlertID       uint      `gorm:"not null;index"`
	Event         string    `gorm:"size:20;not null"`
	State         string    `gorm:"size:20;not null;index:idx_outbox_due,priority:1"`
	Attempts      int       `gorm:"not null;default:0"`
	NextAttemptAt time.Time `gorm:"not null;index:idx_outbox_due,priority:2"`
	ClaimedUntil  *time.Time
	// ClaimToken fences a claim: it is new at every claim, and a worker's
	// result is recorded only while the item still carries its token.
	ClaimToken string    `gorm:"size:32;not null;default:''"`
	LastError  string    `gorm:"size:500;not null;default:''"`
	CreatedAt  time.Time `gorm:"not null"`
}

// Delivery is one attempt to post to a channel, for its delivery log.
type Delivery struct {
	ID            uint      `gorm:"primaryKey;index:idx_deliveries_channel,priority:2"`
	ChannelID     uint      `gorm:"not null;index:idx_deliveries_channel,priority:1"`
	OutboxID      uint      `gorm:"not null;default:0"`
	AlertPublicID string    `gorm:"size:40;not null;default:''"`
	Event         string    `gorm:"size:20;not null"`
	Attempt       int       `gorm:"not null"`
	Status        int       `gorm:"not null"` // HTTP status, 0 when none came
	Excerpt       string    `gorm:"size:500;not null;default:''"`
	Error         string    `gorm:"size:500;not null;default:''"`
	CreatedAt     time.Time `gorm:"not null"`
}

// sqlEnqueue queues an alert event for every enabled channel of the account
// whose filters let it through. The last two arguments skip "opened" where
// Klaxon already answered in the same Mattermost channel.
const sqlEnqueue = `INSERT INTO outbox_items (channel_id, alert_id, event, state, attempts, next_attempt_at, last_error, created_at)
SELECT c.id, ?, ?, 'pending', 0, ?, '', ? FROM notification_channels c
WHERE c.account_id = ? AND c.enabled = ? AND c.events LIKE ?
AND (c.integrations = '' OR c.integrations LIKE ?)
AND (c.urgencies = '' OR c.urgencies LIKE ?)
AND NOT (c.mattermost_channel <> '' AND c.mattermost_channel = ?)`

// enqueueArgs are sqlEnqueue's arguments. repliedIn is the Mattermost
// channel Klaxon already answered in ("" when it did not).
func enqueueArgs(alertID, accountID, integrationID uint, urgency Urgency, event string, repliedIn string, now time.Time) []any {
	if event != NotifyOpened || repliedIn == "" {
		repliedIn = "\n" // matches no channel name: names are trimmed
	}
	return []any{alertID, event, now, now, accountID, true, "%," + event + ",%",
		"%," + uitoa(integrationID) + ",%", "%," + string(urgency) + ",%", repliedIn}
}

func uitoa(n uint) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// enqueueNotifications queues event for alert in the GORM transaction tx.
func enqueueNotifications(tx *gorm.DB, a *Alert, event string, now time.Time) error {
	return tx.Exec(sqlEnqueue, enqueueArgs(a.ID, a.AccountID, a.IntegrationID, a.Urgency, event, "", now)...).Error
}

// DueOutbox returns up to limit pending items whose time has come and that
// no worker holds, leaving out those of the channels in skip. A channel's
// events go out in order: an item waits while an earlier one of its channel
// is still pending and not due (waiting to be tried again) or held. Items
// come oldest first, so that when limit cuts the list, no channel's later
// event is in it without the earlier ones (a retried event keeps its place
// however late its retry is).
func (d *DB) DueOutbox(ctx context.Context, now time.Time, limit int, skip []uint) ([]OutboxItem, error) {
	var items []OutboxItem
	q := d.WithContext(ctx).Where("state = ? AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until < ?)", OutboxPending, now.UTC(), now.UTC()).
		Where(`NOT EXISTS (SELECT 1 FROM outbox_items AS earlier WHERE earlier.channel_id = outbox_items.channel_id AND earlier.id < outbox_items.id
			AND earlier.state = ? AND (earlier.next_attempt_at > ? OR earlier.claimed_until >= ?))`, OutboxPending, now.UTC(), now.UTC())
	if len(skip) > 0 {
		q = q.Where("channel_id NOT IN ?", skip)
	}
	err := q.Order("id").Limit(limit).Find(&items).Error
	return items, err
}

// ClaimOutbox takes item for one worker until until, and gives it a new
// claim token (kept in item.ClaimToken) that FinishAttempt checks; false
// means another worker (perhaps on another instance) has it, or it may not
// go yet: its retry time has not come, or an earlier event of its channel
// is still pending (whatever list the caller worked from).
func (d *DB) ClaimOutbox(ctx context.Context, item *OutboxItem, now, until time.Time) (bool, error) {
	token := RandomToken(16)
	res := d.WithContext(ctx).Model(&OutboxItem{}).
		Where("id = ? AND state = ? AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until < ?)", item.ID, OutboxPending, now.UTC(), now.UTC()).
		Where(`NOT EXISTS (SELECT 1 FROM outbox_items AS earlier WHERE earlier.channel_id = outbox_items.channel_id AND earlier.id < outbox_items.id AND earlier.state = ?)`, OutboxPending).
		Updates(map[string]any{"claimed_until": until.UTC(), "claim_token": token})
	if res.Error != nil || res.RowsAffected != 1 {
		return false, res.Error
	}
	u := until.UTC()
	item.ClaimedUntil, item.ClaimToken = &u, token
	return true, nil
}

// ErrClaimLost is FinishAttempt's answer to a worker whose claim ran out and
// was taken by another worker: its result is not recorded over the other's.
var ErrClaimLost = errors.New("the outbox item's claim ran out and another worker took it")

// OutboxTarget loads what a post needs: the channel and the alert with its
// integration.
func (d *DB) OutboxTarget(ctx context.Context, item *OutboxItem) (*NotificationChannel, *Alert, error) {
	var c NotificationChannel
	if err := d.WithContext(ctx).First(&c, item.ChannelID).Error; err != nil {
		return nil, nil, err
	}
	var a Alert
	err := d.WithContext(ctx).Preload("Integration", func(db *gorm.DB) *gorm.DB { return db.Unscoped() }).
		Where("id = ? AND account_id = ?", item.AlertID, c.AccountID).First(&a).Error
	if err != nil {
		return nil, nil, err
	}
	return &c, &a, nil
}

// FinishAttempt records an attempt in the delivery log and moves the item
// on: delivered, failed for good, or pending until retryAt. The item moves
// only while it still carries the caller's claim token: a worker that
// stalled past its claim, while another worker took the item, gets
// ErrClaimLost and changes nothing (its attempt stays in the delivery log,
// marked late, since the post itself may have been made).
func (d *DB) FinishAttempt(ctx context.Context, item *OutboxItem, del Delivery, state string, retryAt time.Time) error {
	lost := false
	err := d.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		del.CreatedAt = time.Now().UTC()
		del.Excerpt = truncate(CleanText(del.Excerpt), 500)
		del.Error = truncate(CleanText(del.Error), 500)
		if err := tx.Create(&del).Error; err != nil {
			return err
		}
		if item.ID == 0 { // a test message has no outbox item
			return nil
		}
		res := tx.Model(&OutboxItem{}).Where("id = ? AND claim_token = ? AND state = ?", item.ID, item.ClaimToken, OutboxPending).Updates(map[string]any{
			"state": state, "attempts": del.Attempt, "next_attempt_at": retryAt.UTC(),
			"claimed_until": nil, "claim_token": "", "last_error": del.Error,
		})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			lost = true
			return tx.Model(&Delivery{}).Where("id = ?", del.ID).
				Update("error", truncate("late: the claim ran out and another worker took the item; "+del.Error, 500)).Error
		}
		return nil
	})
	if err == nil && lost {
		return ErrClaimLost
	}
	return err
}

// Deliveries returns the newest limit delivery-log rows of a channel.
func (d *DB) Deliveries(ctx context.Context, channelID uint, limit int) ([]Delivery, error) {
	var list []Delivery
	err := d.WithContext(ctx).Where("channel_id = ?", channelID).Order("id DESC").Limit(limit).Find(&list).Error
	return list, err
}

// PendingCount counts a channel's items still waiting to be posted.
func (d *DB) PendingCount(ctx context.Context, channelID uint) (int64, error) {
	var n int64
	err := d.WithContext(ctx).Model(&OutboxItem{}).Where("channel_id = ? AND state = ?", channelID, OutboxPending).Count(&n).Error
	return n, err
}
