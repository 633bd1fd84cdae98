package models

import (
	"context"
	"errors"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Setting is a key/value row for installation-wide values such as the
// generated session secret.
type Setting struct {
	Key   string `gorm:"primaryKey;size:64"`
	Value string `gorm:"not null"`
}

// SettingOrCreate returns the value stored under key, storing make() first
// when there is none. Two instances starting at once agree on one value.
func (d *DB) SettingOrCreate(ctx context.Context, key string, make func() string) (string, error) {
	db := d.WithContext(ctx)
	if err := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&Setting{Key: key, Value: make()}).Error; err != nil {
		return "", err
	}
	var s Setting
	if err := db.First(&s, "key = ?", key).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return "", ErrNotFound
		}
		return "", err
	}
	return s.Value, nil
}
