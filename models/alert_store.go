package models

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// AlertFilter selects alerts for the list. Zero values mean "any".
type AlertFilter struct {
	Statuses      []Status
	Urgency       Urgency
	IntegrationID uint
	Text          string
	// CreatedFrom and CreatedTo keep alerts created in [CreatedFrom,
	// CreatedTo) when set (the Insights page's links).
	CreatedFrom, CreatedTo time.Time
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
	if !f.CreatedFrom.IsZero() {
		db = db.Where("alerts.created_at >= ?", f.CreatedFrom.UTC())
	}
	if !f.CreatedTo.IsZero() {
		db = db.Where("alerts.created_at < ?", f.CreatedTo.UTC())
	}
	if s := d.ParseSearch(f.Text); !s.Empty() {
		db = d.textCondition(db, accountID, s)
	}
	return db
}

// textCondition matches every word of s in the title or description (not
// used for SQLite's FTS5, which pageIDs queries directly).
func (d *DB) textCondition(db *gorm.DB, accountID uint, s Search) *gorm.DB {
	if s.Unsearchable {
		return db.Where("1 = 0")
	}
	if d.Dialect == "postgres" {
		return db.Where(pgSearchVector+" @@ (CAST(? AS tsquery) && to_tsquery('simple', ?))", pgTeamQuery(accountID), s.tsQuery())
	}
	for _, w := range s.Words {
		like := "%" + escapeLike(w) + "%"
		db = db.Where("(lower(alerts.title) LIKE ? ESCAPE '\\' OR lower(alerts.description) LIKE ? ESCAPE '\\')", like, like)
	}
	return db
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
	var page AlertPage
	ids, err := d.pageIDs(ctx, accountID, f, f.Limit+1)
	if err != nil || len(ids) == 0 {
		return page, err
	}
	more := len(ids) > f.Limit
	if more {
		ids = ids[:f.Limit]
	}
	if f.After != 0 {
		slices.Reverse(ids) // fetched oldest first
	}
	var rows []Alert
	if err := d.WithContext(ctx).Preload("Integration", func(db *gorm.DB) *gorm.DB { return db.Unscoped() }).
		Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return page, err
	}
	slices.SortFunc(rows, func(a, b Alert) int { return cmp.Compare(b.ID, a.ID) })
	switch {
	case f.After != 0:
		if more && len(rows) > 0 {
			page.Newer = rows[0].ID
		}
		if len(rows) > 0 {
			page.Older = rows[len(rows)-1].ID
		}
	default:
		if more && len(rows) > 0 {
			page.Older = rows[len(rows)-1].ID
		}
		if f.Before != 0 && len(rows) > 0 {
			page.Newer = rows[0].ID
		}
	}
	page.Alerts = rows
	return page, nil
}

// pageIDs returns the ids of up to n alerts for the page: newest first, or
// oldest first when paging to newer ones (f.After).
//
// Each status is its own index range (account, status[, integration]
// [, urgency], id), read in id order and cut at n: a UNION ALL of at most
// three such ranges, whatever the table's size. A text search on SQLite
// walks the full-text matches newest first instead, and stops as soon as
// n of them pass the other filters.
func (d *DB) pageIDs(ctx context.Context, accountID uint, f AlertFilter, n int) ([]uint, error) {
	if f.IntegrationID > math.MaxInt64 {
		return nil, nil // an unknown integration: nothing matches
	}
	dir, cursor, cursorArg := "DESC", "", any(nil)
	switch {
	case f.After != 0:
		dir, cursor, cursorArg = "ASC", " AND alerts.id > ?", f.After
	case f.Before != 0:
		cursor, cursorArg = " AND alerts.id < ?", f.Before
	}
	statuses := f.Statuses
	if len(statuses) == 0 {
		statuses = Statuses
	}
	var ids []uint
	search := d.ParseSearch(f.Text)
	switch {
	case search.Unsearchable:
		return nil, nil
	case !search.Empty() && d.Dialect == "sqlite" && d.FullText:
		where, args := filterSQL(accountID, statuses, f)
		if cursorArg != nil {
			where += cursor
			args = append(args, cursorArg)
		}
		err := d.search(ctx, accountID, func(db *gorm.DB) error {
			return db.Raw(`SELECT alerts.id FROM alerts_text CROSS JOIN alerts INDEXED BY idx_alerts_text_filter ON alerts.id = alerts_text.rowid
				WHERE alerts_text MATCH ? AND `+where+` ORDER BY alerts_text.rowid `+dir+` LIMIT ?`,
				append(append([]any{search.ftsMatch(accountID)}, args...), n)...).Scan(&ids).Error
		})
		return ids, err
	case !search.Empty():
		// PostgreSQL (GIN index) or SQLite without FTS5: one query, the
		// planner's choice.
		err := d.search(ctx, accountID, func(db *gorm.DB) error {
			db = d.scope(db.Model(&Alert{}), accountID, AlertFilter{Statuses: f.Statuses, Urgency: f.Urgency, IntegrationID: f.IntegrationID, Text: f.Text, CreatedFrom: f.CreatedFrom, CreatedTo: f.CreatedTo})
			if cursorArg != nil {
				db = db.Where(strings.TrimPrefix(cursor, " AND "), cursorArg)
			}
			return db.Order("alerts.id "+dir).Limit(n).Pluck("alerts.id", &ids).Error
		})
		return ids, err
	}
	var parts []string
	var args []any
	for i, st := range statuses {
		where, a := filterSQL(accountID, []Status{st}, f)
		if cursorArg != nil {
			where += cursor
			a = append(a, cursorArg)
		}
		parts = append(parts, fmt.Sprintf(`SELECT id FROM (SELECT alerts.id FROM alerts WHERE %s ORDER BY alerts.id %s LIMIT %d) AS b%d`, where, dir, n, i))
		args = append(args, a...)
	}
	q := strings.Join(parts, " UNION ALL ") + fmt.Sprintf(" ORDER BY id %s LIMIT %d", dir, n)
	err := d.WithContext(ctx).Raw(q, args...).Scan(&ids).Error
	return ids, err
}

// filterSQL is the condition on account, statuses, urgency and integration.
func filterSQL(accountID uint, statuses []Status, f AlertFilter) (string, []any) {
	where := "alerts.account_id = ?"
	args := []any{accountID}
	if len(statuses) == 1 {
		where += " AND alerts.status = ?"
		args = append(args, statuses[0])
	} else if len(statuses) > 1 {
		where += " AND alerts.status IN (?" + strings.Repeat(", ?", len(statuses)-1) + ")"
		for _, s := range statuses {
			args = append(args, s)
		}
	}
	if f.IntegrationID != 0 {
		where += " AND alerts.integration_id = ?"
		args = append(args, f.IntegrationID)
	}
	if f.Urgency != "" {
		where += " AND alerts.urgency = ?"
		args = append(args, f.Urgency)
	}
	if !f.CreatedFrom.IsZero() {
		where += " AND alerts.created_at >= ?"
		args = append(args, f.CreatedFrom.UTC())
	}
	if !f.CreatedTo.IsZero() {
		where += " AND alerts.created_at < ?"
		args = append(args, f.CreatedTo.UTC())
	}
	return where, args
}

// CountCap is where status counts stop counting.
const CountCap = 10000

// CountAlertsByStatus counts account's alerts matching f (its statuses and
// cursors aside) in each status, each count stopping at CountCap+1 so that
// tab counts stay cheap at millions of rows: one query, one capped index
// range per status. Under a text search, the counts cover the team's newest
// SearchLimits.CountScan matches.
func (d *DB) CountAlertsByStatus(ctx context.Context, accountID uint, f AlertFilter) (map[Status]int64, error) {
	counts := map[Status]int64{}
	if f.IntegrationID > math.MaxInt64 {
		return counts, nil
	}
	var rows []struct {
		Status Status
		N      int64
	}
	search := d.ParseSearch(f.Text)
	scan := d.searchLimits.CountScan
	var err error
	switch {
	case search.Unsearchable:
	case !search.Empty() && d.Dialect == "sqlite" && d.FullText:
		where, args := filterSQL(accountID, nil, f)
		err = d.search(ctx, accountID, func(db *gorm.DB) error {
			return db.Raw(`SELECT alerts.status AS status, count(*) AS n
				FROM (SELECT rowid FROM alerts_text WHERE alerts_text MATCH ? ORDER BY rowid DESC LIMIT ?) AS m
				CROSS JOIN alerts INDEXED BY idx_alerts_text_filter ON alerts.id = m.rowid WHERE `+where+` GROUP BY alerts.status`,
				append([]any{search.ftsMatch(accountID), scan}, args...)...).Scan(&rows).Error
		})
	case !search.Empty():
		err = d.search(ctx, accountID, func(db *gorm.DB) error {
			sub := d.scope(db.Model(&Alert{}), accountID, AlertFilter{Urgency: f.Urgency, IntegrationID: f.IntegrationID, Text: f.Text, CreatedFrom: f.CreatedFrom, CreatedTo: f.CreatedTo}).
				Select("alerts.status AS status").Order("alerts.id DESC").Limit(scan)
			return db.Table("(?) AS m", sub).Select("status, count(*) AS n").Group("status").Scan(&rows).Error
		})
	default:
		var parts []string
		var args []any
		for i, st := range Statuses {
			where, a := filterSQL(accountID, []Status{st}, f)
			parts = append(parts, fmt.Sprintf(`SELECT '%s' AS status, count(*) AS n FROM (SELECT 1 AS one FROM alerts WHERE %s LIMIT %d) AS c%d`, st, where, CountCap+1, i))
			args = append(args, a...)
		}
		err = d.WithContext(ctx).Raw(strings.Join(parts, " UNION ALL "), args...).Scan(&rows).Error
	}
	for _, r := range rows {
		counts[r.Status] = r.N
	}
	return counts, err
}

// CountAlerts counts account's alerts matching f, stopping at CountCap (see
// CountAlertsByStatus).
func (d *DB) CountAlerts(ctx context.Context, accountID uint, f AlertFilter) (int64, error) {
	counts, err := d.CountAlertsByStatus(ctx, accountID, f)
	statuses := f.Statuses
	if len(statuses) == 0 {
		statuses = Statuses
	}
	var n int64
	for _, s := range statuses {
		n += counts[s]
	}
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
	page, err := d.Alerts(ctx, accountID, AlertFilter{IntegrationID: integrationID, Limit: limit})
	return page.Alerts, err
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
	return d.ApplyTransitionAs(ctx, accountID, UserActor(user), publicID, t)
}

// Actor is who changes an alert: a Klaxon user, or a user of a chat that
// Klaxon knows by name and by the chat's own user id.
type Actor struct {
	UserID     *uint
	Name       string
	ExternalID string
	// Via is where the actor acted: "browser", "mattermost", "api"…
	Via string
}

// UserActor is the Klaxon user u as an actor.
func UserActor(u *User) Actor {
	id := u.ID
	return Actor{UserID: &id, Name: u.Email, Via: "browser"}
}

// ApplyTransitionAs is ApplyTransition by any actor.
func (d *DB) ApplyTransitionAs(ctx context.Context, accountID uint, actor Actor, publicID string, t Transition) error {
	return d.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return transition(tx, accountID, actor, publicID, t)
	})
}

func transition(tx *gorm.DB, accountID uint, actor Actor, publicID string, t Transition) error {
	now := time.Now().UTC()
	updates := map[string]any{}
	kind := EventAcknowledged
	if t == Acknowledge {
		updates = map[string]any{"status": StatusAcknowledged, "acknowledged_at": now, "acknowledged_by_id": actor.UserID, "acknowledged_by": truncate(actor.Name, 254)}
	} else {
		kind = EventResolved
		updates = map[string]any{"status": StatusResolved, "resolved_at": now, "resolved_by_id": actor.UserID, "resolved_by": truncate(actor.Name, 254)}
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
	ev := &AlertEvent{AlertID: a.ID, Kind: kind, UserID: actor.UserID, Actor: truncate(actor.Name, 254), ExternalUserID: truncate(actor.ExternalID, 64), Via: actor.Via, CreatedAt: now}
	if err := tx.Create(ev).Error; err != nil {
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
			err := transition(tx, accountID, UserActor(user), id, t)
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

// dropOldAlertIndexes removes the indexes of earlier versions, which the
// indexes declared on Alert replace.
func (d *DB) dropOldAlertIndexes(ctx context.Context) error {
	for _, name := range []string{"idx_alerts_account_id", "idx_alerts_account_status", "idx_alerts_account_integration", "idx_alerts_account_urgency", "idx_alerts_resolved_at"} {
		if err := d.WithContext(ctx).Exec("DROP INDEX IF EXISTS " + name).Error; err != nil {
			return err
		}
	}
	return nil
}

// AlertByTail returns the public id of account's alert that is ref or
// ends with ref (a tail of at least 4 letters and digits). Several matches
// are ErrAmbiguous, with the newest five of them. A tail is found by a scan
// of the team's alerts.
func (d *DB) AlertByTail(ctx context.Context, accountID uint, ref string) (string, []string, error) {
	ref = strings.ToLower(strings.TrimSpace(ref))
	if strings.HasPrefix(ref, "alt_") {
		var ids []string
		err := d.WithContext(ctx).Model(&Alert{}).Where("account_id = ? AND public_id = ?", accountID, ref).Limit(1).Pluck("public_id", &ids).Error
		if err == nil && len(ids) == 0 {
			err = ErrNotFound
		}
		if err != nil {
			return "", nil, err
		}
		return ids[0], nil, nil
	}
	if len(ref) < 4 || len(ref) > 26 || strings.Trim(ref, idAlphabet) != "" {
		return "", nil, ErrNotFound
	}
	var ids []string
	// ref holds only letters and digits: no LIKE wildcard.
	err := d.WithContext(ctx).Model(&Alert{}).Where("account_id = ? AND public_id LIKE ?", accountID, "%"+ref).
		Order("id DESC").Limit(5).Pluck("public_id", &ids).Error
	switch {
	case err != nil:
		return "", nil, err
	case len(ids) == 0:
		return "", nil, ErrNotFound
	case len(ids) > 1:
		return "", ids, ErrAmbiguous
	}
	return ids[0], nil, nil
}
