package models

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
)

// Session is a signed-in browser. The cookie carries only its random id, so
// that logging out (deleting the row) really ends it and idle sessions expire
// on the server, whichever instance serves the next request.
type Session struct {
	ID         string `gorm:"primaryKey;size:64"`
	UserID     uint   `gorm:"not null;index"`
	CreatedAt  time.Time
	LastSeenAt time.Time `gorm:"not null"`
}

// MaxSessionAge ends every session this long after log-in, however active:
// a tab left open on the live alert list does not stay logged in forever.
const MaxSessionAge = 30 * 24 * time.Hour

// CreateSession starts a session for user.
func (d *DB) CreateSession(ctx context.Context, userID uint) (*Session, error) {
	now := time.Now()
	s := &Session{ID: RandomToken(32), UserID: userID, CreatedAt: now, LastSeenAt: now}
	return s, d.WithContext(ctx).Create(s).Error
}

// SessionUser returns the user of a live session, touching it at most once a
// minute. A session idle for longer than idle, or older than MaxSessionAge,
// is deleted and ErrNotFound.
func (d *DB) SessionUser(ctx context.Context, id string, idle time.Duration) (*User, error) {
	db := d.WithContext(ctx)
	var s Session
	if err := db.First(&s, "id = ?", id).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	now := time.Now()
	if now.Sub(s.LastSeenAt) > idle || now.Sub(s.CreatedAt) > MaxSessionAge {
		db.Delete(&Session{}, "id = ?", id)
		return nil, ErrNotFound
	}
	var u User
	if err := db.Preload("Account").First(&u, s.UserID).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	if now.Sub(s.LastSeenAt) > time.Minute {
		db.Model(&Session{}).Where("id = ?", id).Update("last_seen_at", now)
	}
	return &u, nil
}

// DeleteSession ends a session.
func (d *DB) DeleteSession(ctx context.Context, id string) error {
	return d.WithContext(ctx).Delete(&Session{}, "id = ?", id).Error
}

// PruneSessions deletes sessions idle for longer than idle.
func (d *DB) PruneSessions(ctx context.Context, idle time.Duration) error {
	return d.WithContext(ctx).Where("last_seen_at < ?", time.Now().Add(-idle)).Delete(&Session{}).Error
}
