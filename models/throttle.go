package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"time"

	"gorm.io/gorm"
)

// ThrottleFailure is one counted attempt of the log-in throttle, kept in the
// database when several nodes share it (PostgreSQL), so that a password
// guesser gets one count across the cluster, not one per node. Keys are
// stored hashed: they hold emails and addresses.
type ThrottleFailure struct {
	ID  uint      `gorm:"primaryKey"`
	Key string    `gorm:"size:64;not null;index:idx_throttle_key_at,priority:1"`
	At  time.Time `gorm:"not null;index:idx_throttle_key_at,priority:2"`
}

// ThrottleKey is a throttle key and the attempts it allows per window.
type ThrottleKey struct {
	Key string
	Max int
}

func throttleHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// throttleNow is the database's clock on PostgreSQL (nodes' clocks differ),
// the process's on SQLite.
func (d *DB) throttleNow(tx *gorm.DB) (time.Time, error) {
	if d.Dialect != "postgres" {
		return time.Now().UTC(), nil
	}
	var now time.Time
	err := tx.Raw("SELECT clock_timestamp()").Row().Scan(&now)
	return now.UTC(), err
}

// lockThrottleKeys serialises attempts on the same keys across nodes for
// the rest of tx (PostgreSQL advisory transaction locks, taken in one
// order so that two attempts never wait for each other in a circle).
func (d *DB) lockThrottleKeys(tx *gorm.DB, hashed []string) error {
	if d.Dialect != "postgres" {
		return nil // SQLite's write transactions are serial already
	}
	sorted := append([]string(nil), hashed...)
	sort.Strings(sorted)
	for _, h := range sorted {
		if err := tx.Exec("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", h).Error; err != nil {
			return err
		}
	}
	return nil
}

// ThrottleAttempt counts one attempt on every key, unless one of them has
// had its Max attempts within window: then nothing is counted and the
// longest wait is returned (see handlers.Throttle).
func (d *DB) ThrottleAttempt(ctx context.Context, keys []ThrottleKey, window time.Duration) (time.Duration, error) {
	var wait time.Duration
	err := d.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		hashed := make([]string, len(keys))
		for i, k := range keys {
			hashed[i] = throttleHash(k.Key)
		}
		if err := d.lockThrottleKeys(tx, hashed); err != nil {
			return err
		}
		now, err := d.throttleNow(tx)
		if err != nil {
			return err
		}
		for i, k := range keys {
			// The Max-th newest attempt within the window, if there is one.
			var at []time.Time
			if err := tx.Model(&ThrottleFailure{}).Where("key = ? AND at > ?", hashed[i], now.Add(-window)).
				Order("at DESC").Offset(k.Max-1).Limit(1).Pluck("at", &at).Error; err != nil {
				return err
			}
			if len(at) == 1 {
				wait = max(wait, window-now.Sub(at[0]))
			}
		}
		if wait > 0 {
			return nil
		}
		rows := make([]ThrottleFailure, len(keys))
		for i := range keys {
			rows[i] = ThrottleFailure{Key: hashed[i], At: now}
		}
		return tx.Create(&rows).Error
	})
	return wait, err
}

// ThrottleForget drops every attempt counted on key.
func (d *DB) ThrottleForget(ctx context.Context, key string) error {
	return d.WithContext(ctx).Where("key = ?", throttleHash(key)).Delete(&ThrottleFailure{}).Error
}

// ThrottleTakeBack drops the newest attempt counted on key.
func (d *DB) ThrottleTakeBack(ctx context.Context, key string) error {
	h := throttleHash(key)
	return d.WithContext(ctx).Where("id = (?)", d.DB.Model(&ThrottleFailure{}).Select("max(id)").Where("key = ?", h)).
		Delete(&ThrottleFailure{}).Error
}

// ThrottleSweep drops attempts older than window.
func (d *DB) ThrottleSweep(ctx context.Context, window time.Duration) error {
	tx := d.WithContext(ctx)
	now, err := d.throttleNow(tx)
	if err != nil {
		return err
	}
	return tx.Where("at <= ?", now.Add(-window)).Delete(&ThrottleFailure{}).Error
}
