package models

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode"

	"gorm.io/gorm"
)

// AlertFilter selects alerts for the list. Zero values mean "any".
type AlertFilter struct {
	Statuses      []Status
	Urgency       Urgency
	IntegrationID uint
	Text          string
	// Before and After are keyset cursors (alert ids): Before pages to older
	// alerts, After to newer ones.
	Before, After uint
	Limit         int
}

// AlertPage is one page of the list, newest first.
type AlertPage struct {
	Alerts []Alert
	// Older and Newer are the cursors of the neighbouring pages, 0 when
	// there is none.
	Older, Newer uint
}

// scope applies the filter's conditions, except the cursors.
func (d *DB) scope(db *gorm.DB, accountID uint, f AlertFilter) *gorm.DB {
	db = db.Where("alerts.account_id = ?", accountID)
	if len(f.Statuses) == 1 {
		db = db.Where("alerts.status = ?", f.Statuses[0])
	} else if len(f.Statuses) > 1 {
		db = db.Where("alerts.status IN ?", f.Statuses)
	}
	if f.Urgency != "" {
		db = db.Where("alerts.urgency = ?", f.Urgency)
	}
	if f.IntegrationID != 0 {
		db = db.Where("alerts.integration_id = ?", f.IntegrationID)
	}
	if text := strings.TrimSpace(f.Text); text != "" {
		db = d.textCondition(db, text)
	}
	return db
}

// textCondition matches every word of text in the title or description.
func (d *DB) textCondition(db *gorm.DB, text string) *gorm.DB {
	switch {
	case d.Dialect == "sqlite" && d.FullText:
		if q := ftsQuery(text); q != "" {
			return db.Where("alerts.id IN (SELECT rowid FROM alerts_fts WHERE alerts_fts MATCH ?)", q)
		}
	case d.Dialect == "postgres":
		if q := tsQuery(text); q != "" {
			return db.Where("to_tsvector('simple', alerts.title || ' ' || alerts.description) @@ to_tsquery('simple', ?)", q)
		}
	}
	for _, w := range strings.Fields(text) {
		like := "%" + escapeLike(strings.ToLower(w)) + "%"
		db = db.Where("(lower(alerts.title) LIKE ? ESCAPE '\\' OR lower(alerts.description) LIKE ? ESCAPE '\\')", like, like)
	}
	return db
}

// tsQuery makes a PostgreSQL prefix query of the words' letters and digits.
func tsQuery(text string) string {
	var parts []string
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		parts = append(parts, w+":*")
	}
	return strings.Join(parts, " & ")
}

func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// Alerts returns one page of account's alerts matching f, newest first.
// Pages move by keyset on the id, so a deep page costs what the first does
// and alerts arriving meanwhile never shift rows between pages.
func (d *DB) Alerts(ctx context.Context, accountID uint, f AlertFilter) (AlertPage, error) {
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	db := d.scope(d.WithContext(ctx).Model(&Alert{}), accountID, f).Preload("Integration", func(db *gorm.DB) *gorm.DB { return db.Unscoped() })
	var page AlertPage
	var rows []Alert
	switch {
	case f.After != 0:
		if err := db.Where("alerts.id > ?", f.After).Order("alerts.id ASC").Limit(f.Limit + 1).Find(&rows).Error; err != nil {
			return page, err
		}
		more := len(rows) > f.Limit
		if more {
			rows = rows[:f.Limit]
		}
		for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
			rows[i], rows[j] = rows[j], rows[i]
		}
		if more && len(rows) > 0 {
			page.Newer = rows[0].ID
		}
		if len(rows) > 0 {
			page.Older = rows[len(rows)-1].ID
		}
	default:
		if f.Before != 0 {
			db = db.Where("alerts.id < ?", f.Before)
		}
		if err := db.Order("alerts.id DESC").Limit(f.Limit + 1).Find(&rows).Error; err != nil {
			return page, err
		}
		if len(rows) > f.Limit {
			rows = rows[:f.Limit]
			page.Older = rows[len(rows)-1].ID
		}
		if f.Before != 0 && len(rows) > 0 {
			page.Newer = rows[0].ID
		}
	}
	page.Alerts = rows
	return page, nil
}

// CountCap is where status counts stop counting.
const CountCap = 10000

// CountAlerts counts account's alerts matching f, stopping at CountCap so
// that a tab count stays cheap at millions of rows.
func (d *DB) CountAlerts(ctx context.Context, accountID uint, f AlertFilter) (int64, error) {
	sub := d.scope(d.WithContext(ctx).Model(&Alert{}), accountID, f).Select("1").Limit(CountCap + 1)
	var n int64
	err := d.WithContext(ctx).Table("(?) AS capped", sub).Count(&n).Error
	return n, err
}

// AlertDetail is an alert with its integration and timeline.
type AlertDetail struct {
	Alert  Alert
	Events []AlertEvent
}

// Alert returns account's alert with publicID and its timeline.
func (d *DB) Alert(ctx context.Context, accountID uint, publicID string) (*AlertDetail, error) {
	var a Alert
	err := d.WithContext(ctx).Preload("Integration", func(db *gorm.DB) *gorm.DB { return db.Unscoped() }).
		Where("account_id = ? AND public_id = ?", accountID, publicID).First(&a).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	det := &AlertDetail{Alert: a}
	err = d.WithContext(ctx).Where("alert_id = ?", a.ID).Order("id").Find(&det.Events).Error
	return det, err
}

// RecentAlerts returns the newest alerts of one of account's integrations.
func (d *DB) RecentAlerts(ctx context.Context, accountID, integrationID uint, limit int) ([]Alert, error) {
	var list []Alert
	err := d.WithContext(ctx).Where("account_id = ? AND integration_id = ?", accountID, integrationID).
		Order("id DESC").Limit(limit).Find(&list).Error
	return list, err
}

// Transition is a change of an alert's status by a person.
type Transition string

const (
	Acknowledge Transition = "acknowledge"
	Resolve     Transition = "resolve"
)

// from lists the statuses the transition may start from.
func (t Transition) from() []Status {
	if t == Acknowledge {
		return []Status{StatusOpen}
	}
	return []Status{StatusOpen, StatusAcknowledged}
}

// ConflictError says an alert could not change because it is already past
// the transition (someone else got there first).
type ConflictError struct{ Status Status }

func (e *ConflictError) Error() string { return "alert is already " + string(e.Status) }
func (e *ConflictError) Unwrap() error { return ErrConflict }

// ApplyTransition acknowledges or resolves account's alert on behalf of
// user. It fails with a *ConflictError when the alert's status no longer
// allows it.
func (d *DB) ApplyTransition(ctx context.Context, accountID uint, user *User, publicID string, t Transition) error {
	return d.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return transition(tx, accountID, user, publicID, t)
	})
}

func transition(tx *gorm.DB, accountID uint, user *User, publicID string, t Transition) error {
	now := time.Now().UTC()
	updates := map[string]any{}
	kind := EventAcknowledged
	if t == Acknowledge {
		updates = map[string]any{"status": StatusAcknowledged, "acknowledged_at": now, "acknowledged_by_id": user.ID, "acknowledged_by": user.Email}
	} else {
		kind = EventResolved
		updates = map[string]any{"status": StatusResolved, "resolved_at": now, "resolved_by_id": user.ID, "resolved_by": user.Email}
	}
	res := tx.Model(&Alert{}).Where("account_id = ? AND public_id = ? AND status IN ?", accountID, publicID, t.from()).Updates(updates)
	if res.Error != nil {
		return res.Error
	}
	var a Alert
	if err := tx.Select("id", "status", "account_id", "integration_id", "urgency").Where("account_id = ? AND public_id = ?", accountID, publicID).First(&a).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return ErrNotFound
		}
		return err
	}
	if res.RowsAffected == 0 {
		return &ConflictError{Status: a.Status}
	}
	uid := user.ID
	if err := tx.Create(&AlertEvent{AlertID: a.ID, Kind: kind, UserID: &uid, Actor: user.Email, CreatedAt: now}).Error; err != nil {
		return err
	}
	return enqueueNotifications(tx, &a, string(kind), now)
}

// BulkResult counts what a bulk action did.
type BulkResult struct {
	Changed, Skipped, NotFound int
}

// ApplyTransitionMany applies t to each of account's alerts in publicIDs.
// Alerts already past t are skipped; ids of other accounts count as not
// found and are left alone.
func (d *DB) ApplyTransitionMany(ctx context.Context, accountID uint, user *User, publicIDs []string, t Transition) (BulkResult, error) {
	var r BulkResult
	err := d.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		r = BulkResult{}
		for _, id := range publicIDs {
			err := transition(tx, accountID, user, id, t)
			switch {
			case err == nil:
				r.Changed++
			case errors.Is(err, ErrConflict):
				r.Skipped++
			case errors.Is(err, ErrNotFound):
				r.NotFound++
			default:
				return err
			}
		}
		return nil
	})
	return r, err
}
