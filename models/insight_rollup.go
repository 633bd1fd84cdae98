package models

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"strconv"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// InsightHour holds one UTC hour of an account's alerts for the Insights
// page: one compact record per alert (see insightFact), so that 90 days are
// about 2,200 short rows to read instead of every alert. The rollup is kept
// by RefreshInsights, which reads alerts and timeline events past a
// watermark; what it has not reached yet is read directly (see Insights).
type InsightHour struct {
	AccountID uint   `gorm:"primaryKey;autoIncrement:false"`
	Hour      int64  `gorm:"primaryKey;autoIncrement:false"` // Unix seconds at the hour's start
	Facts     []byte `gorm:"not null"`
}

// InsightTitle numbers an account's distinct alert titles, so that hour
// records carry a number instead of the text.
type InsightTitle struct {
	ID        uint   `gorm:"primaryKey"`
	AccountID uint   `gorm:"not null;uniqueIndex:idx_insight_titles,priority:1"`
	Title     string `gorm:"size:300;not null;uniqueIndex:idx_insight_titles,priority:2"`
}

// AckVia tells where an alert was acknowledged.
type AckVia uint8

const (
	AckNone AckVia = iota
	AckBrowser
	AckMattermost
	AckOther
)

// AckVias lists the places an alert can be acknowledged from, as shown.
var AckVias = []AckVia{AckBrowser, AckMattermost, AckOther}

func (v AckVia) String() string {
	switch v {
	case AckBrowser:
		return "browser"
	case AckMattermost:
		return "mattermost"
	case AckOther:
		return "other"
	}
	return "none"
}

// ackViaOf reads from an acknowledge event where it came from: its Via when
// set (Mattermost buttons and other sources set it), else a signed-in user
// means the browser.
func ackViaOf(e *AlertEvent, a *Alert) AckVia {
	if a.AcknowledgedAt == nil {
		return AckNone
	}
	if e != nil {
		switch e.Via {
		case "mattermost":
			return AckMattermost
		case "browser":
			return AckBrowser
		case "":
			if e.UserID != nil {
				return AckBrowser
			}
		}
		return AckOther
	}
	if a.AcknowledgedByID != nil {
		return AckBrowser
	}
	return AckOther
}

// insightFact is what Insights needs of one alert.
type insightFact struct {
	AlertID       uint
	Created       int64 // Unix milliseconds
	IntegrationID uint
	Urgency       uint8 // index in Urgencies
	TitleID       int64 // InsightTitle id; negative: a title not numbered yet (Title holds it)
	Title         string
	AckMs         int64 // -1: not acknowledged
	ResolveMs     int64 // -1: not resolved
	Via           AckVia
}

const hourMs = int64(time.Hour / time.Millisecond)

func (f *insightFact) hour() int64 { return f.Created - f.Created%hourMs }

// encodeFacts writes facts (all of one hour, sorted by alert id) as varints.
func encodeFacts(hourStart int64, facts []insightFact) []byte {
	b := make([]byte, 0, len(facts)*20)
	prev := uint(0)
	for _, f := range facts {
		b = binary.AppendUvarint(b, uint64(f.AlertID-prev))
		prev = f.AlertID
		b = binary.AppendUvarint(b, uint64(f.Created-hourStart))
		b = binary.AppendUvarint(b, uint64(f.IntegrationID))
		b = append(b, f.Urgency, byte(f.Via))
		b = binary.AppendUvarint(b, uint64(f.TitleID))
		b = binary.AppendUvarint(b, uint64(f.AckMs+1))
		b = binary.AppendUvarint(b, uint64(f.ResolveMs+1))
	}
	return b
}

var errBadFacts = errors.New("insights: corrupt hour record")

// decodeFacts appends the facts stored in b to dst.
func decodeFacts(dst []insightFact, hourStart int64, b []byte) ([]insightFact, error) {
	prev := uint64(0)
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	for len(b) > 0 {
		var f insightFact
		d, ok1 := next()
		off, ok2 := next()
		integ, ok3 := next()
		if !ok1 || !ok2 || !ok3 || len(b) < 2 {
			return dst, errBadFacts
		}
		f.Urgency, f.Via = b[0], AckVia(b[1])
		b = b[2:]
		title, ok4 := next()
		ack, ok5 := next()
		res, ok6 := next()
		if !ok4 || !ok5 || !ok6 {
			return dst, errBadFacts
		}
		prev += d
		f.AlertID, f.Created, f.IntegrationID = uint(prev), hourStart+int64(off), uint(integ)
		f.TitleID, f.AckMs, f.ResolveMs = int64(title), int64(ack)-1, int64(res)-1
		dst = append(dst, f)
	}
	return dst, nil
}

// insightRow is the part of an alert that Insights reads.
type insightRow struct {
	ID               uint
	AccountID        uint
	IntegrationID    uint
	Title            string
	Urgency          Urgency
	CreatedAt        time.Time
	AcknowledgedAt   *time.Time
	AcknowledgedByID *uint
	ResolvedAt       *time.Time
}

const insightColumns = "id, account_id, integration_id, title, urgency, created_at, acknowledged_at, acknowledged_by_id, resolved_at"

// factsOf turns alert rows into facts, reading their acknowledge events to
// tell where each was acknowledged. Titles are left as text (TitleID -1).
func factsOf(db *gorm.DB, rows []insightRow) ([]insightFact, error) {
	var acked []uint
	for _, r := range rows {
		if r.AcknowledgedAt != nil {
			acked = append(acked, r.ID)
		}
	}
	events := map[uint]*AlertEvent{}
	for chunk := range slices.Chunk(acked, 500) {
		var evs []AlertEvent
		if err := db.Select("id, alert_id, kind, user_id, via").Where("alert_id IN ? AND kind = ?", chunk, EventAcknowledged).Order("id").Find(&evs).Error; err != nil {
			return nil, err
		}
		for i := range evs {
			events[evs[i].AlertID] = &evs[i]
		}
	}
	facts := make([]insightFact, 0, len(rows))
	for _, r := range rows {
		f := insightFact{AlertID: r.ID, Created: r.CreatedAt.UnixMilli(), IntegrationID: r.IntegrationID, TitleID: -1, Title: r.Title, AckMs: -1, ResolveMs: -1}
		f.Urgency = uint8(max(slices.Index(Urgencies, r.Urgency), 0))
		if r.AcknowledgedAt != nil {
			f.AckMs = max(r.AcknowledgedAt.UnixMilli()-f.Created, 0)
		}
		if r.ResolvedAt != nil {
			f.ResolveMs = max(r.ResolvedAt.UnixMilli()-f.Created, 0)
		}
		f.Via = ackViaOf(events[r.ID], &Alert{AcknowledgedAt: r.AcknowledgedAt, AcknowledgedByID: r.AcknowledgedByID})
		facts = append(facts, f)
	}
	return facts, nil
}

// Watermarks of the rollup, in settings.
const (
	insightAlertMark = "insights_alert_mark"
	insightEventMark = "insights_event_mark"
)

// insightSettle is how old a row must be before the rollup moves its
// watermark past it: a row with a smaller id may still be in an open
// transaction (an intake batch lasts 20 s at most), and the watermark must
// never pass it. Rows younger than this are read directly by Insights.
const insightSettle = time.Minute

// insightHorizon is how far back the rollup keeps alerts: the longest
// period, the one before it and two days to spare for days of the viewer's
// zone.
const insightHorizon = (2*90 + 2) * 24 * time.Hour

// insightBatch is how many alerts or events one RefreshInsights step reads.
const insightBatch = 2000

// lockInsights keeps two writers of the rollup (two instances' steps, a
// step and the retention job) from interleaving on PostgreSQL; SQLite has
// one writer anyway.
func lockInsights(tx *gorm.DB, dialect string) error {
	if dialect != "postgres" {
		return nil
	}
	return tx.Exec("SELECT pg_advisory_xact_lock(7201)").Error
}

type insightMarks struct{ alert, event uint64 }

func readMarks(db *gorm.DB) (insightMarks, error) {
	var rows []Setting
	if err := db.Where("key IN ?", []string{insightAlertMark, insightEventMark}).Find(&rows).Error; err != nil {
		return insightMarks{}, err
	}
	var m insightMarks
	for _, r := range rows {
		v, _ := strconv.ParseUint(r.Value, 10, 64)
		if r.Key == insightAlertMark {
			m.alert = v
		} else {
			m.event = v
		}
	}
	return m, nil
}

// RefreshInsights moves the Insights rollup forward by one step: up to
// insightBatch new alerts and insightBatch timeline events, older than
// insightSettle at now. It reports whether there is more to do.
func (d *DB) RefreshInsights(ctx context.Context, now time.Time) (more bool, err error) {
	settled := now.Add(-insightSettle)
	err = d.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := lockInsights(tx, d.Dialect); err != nil {
			return err
		}
		m, err := readMarks(tx)
		if err != nil {
			return err
		}
		var alerts []insightRow
		if err := tx.Model(&Alert{}).Select(insightColumns).Where("id > ?", m.alert).Order("id").Limit(insightBatch).Scan(&alerts).Error; err != nil {
			return err
		}
		alertsMore := len(alerts) == insightBatch
		for i, a := range alerts {
			if a.CreatedAt.After(settled) {
				alerts, alertsMore = alerts[:i], false
				break
			}
		}
		next := m
		if len(alerts) > 0 {
			next.alert = uint64(alerts[len(alerts)-1].ID)
		}
		var events []AlertEvent
		if err := tx.Select("id, alert_id, kind, created_at").Where("id > ?", m.event).Order("id").Limit(insightBatch).Find(&events).Error; err != nil {
			return err
		}
		eventsMore := len(events) == insightBatch
		touched := map[uint]bool{}
		for _, a := range alerts {
			touched[a.ID] = true
		}
		var changed []uint
		for _, e := range events {
			if e.CreatedAt.After(settled) {
				eventsMore = false
				break
			}
			next.event = uint64(e.ID)
			if (e.Kind == EventAcknowledged || e.Kind == EventResolved) && uint64(e.AlertID) <= next.alert && !touched[e.AlertID] {
				touched[e.AlertID] = true
				changed = append(changed, e.AlertID)
			}
		}
		for chunk := range slices.Chunk(changed, 500) {
			var rows []insightRow
			if err := tx.Model(&Alert{}).Select(insightColumns).Where("id IN ?", chunk).Scan(&rows).Error; err != nil {
				return err
			}
			alerts = append(alerts, rows...)
		}
		more = alertsMore || eventsMore
		// Alerts older than any period shown (and the one before it) are
		// never read: they need no record.
		horizon := now.Add(-insightHorizon)
		alerts = slices.DeleteFunc(alerts, func(a insightRow) bool { return a.CreatedAt.Before(horizon) })
		if err := d.mergeIntoHours(tx, alerts); err != nil {
			return err
		}
		if next == m {
			return nil
		}
		return tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "key"}}, DoUpdates: clause.AssignmentColumns([]string{"value"})}).
			Create([]Setting{{Key: insightAlertMark, Value: strconv.FormatUint(next.alert, 10)}, {Key: insightEventMark, Value: strconv.FormatUint(next.event, 10)}}).Error
	})
	return more, err
}

// CatchUpInsights steps the rollup until it has reached rows younger than
// insightSettle, pausing between steps so that intake gets the write lock.
func (d *DB) CatchUpInsights(ctx context.Context, pause time.Duration) error {
	for {
		more, err := d.RefreshInsights(ctx, time.Now())
		if err != nil || !more {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
}

type accountHour struct {
	account uint
	hour    int64
}

// mergeIntoHours writes the current state of alerts into their hours'
// records, replacing what those records held for them.
func (d *DB) mergeIntoHours(tx *gorm.DB, alerts []insightRow) error {
	if len(alerts) == 0 {
		return nil
	}
	facts, err := factsOf(tx, alerts)
	if err != nil {
		return err
	}
	byAccount := map[uint][]int{}
	for i, a := range alerts {
		byAccount[a.AccountID] = append(byAccount[a.AccountID], i)
	}
	fresh := map[accountHour][]insightFact{}
	for account, idx := range byAccount {
		titles := map[string]int64{}
		for _, i := range idx {
			titles[facts[i].Title] = 0
		}
		if err := numberTitles(tx, account, titles); err != nil {
			return err
		}
		for _, i := range idx {
			f := facts[i]
			f.TitleID, f.Title = titles[f.Title], ""
			k := accountHour{account, f.hour()}
			fresh[k] = append(fresh[k], f)
		}
	}
	for k, add := range fresh {
		var old []InsightHour
		if err := tx.Where("account_id = ? AND hour = ?", k.account, k.hour/1000).Limit(1).Find(&old).Error; err != nil {
			return err
		}
		var merged []insightFact
		if len(old) == 1 {
			if merged, err = decodeFacts(nil, k.hour, old[0].Facts); err != nil {
				return err
			}
		}
		replaced := map[uint]bool{}
		for _, f := range add {
			replaced[f.AlertID] = true
		}
		merged = slices.DeleteFunc(merged, func(f insightFact) bool { return replaced[f.AlertID] })
		merged = append(merged, add...)
		slices.SortFunc(merged, func(a, b insightFact) int { return int(a.AlertID) - int(b.AlertID) })
		row := InsightHour{AccountID: k.account, Hour: k.hour / 1000, Facts: encodeFacts(k.hour, merged)}
		if err := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "account_id"}, {Name: "hour"}}, DoUpdates: clause.AssignmentColumns([]string{"facts"})}).Create(&row).Error; err != nil {
			return err
		}
	}
	return nil
}

// numberTitles fills titles' values with their InsightTitle ids, numbering
// the new ones.
func numberTitles(tx *gorm.DB, account uint, titles map[string]int64) error {
	list := make([]string, 0, len(titles))
	for t := range titles {
		list = append(list, t)
	}
	for chunk := range slices.Chunk(list, 400) {
		rows := make([]InsightTitle, len(chunk))
		for i, t := range chunk {
			rows[i] = InsightTitle{AccountID: account, Title: t}
		}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&rows).Error; err != nil {
			return err
		}
		var got []InsightTitle
		if err := tx.Where("account_id = ? AND title IN ?", account, chunk).Find(&got).Error; err != nil {
			return err
		}
		for _, g := range got {
			titles[g.Title] = int64(g.ID)
		}
	}
	return nil
}

// forgetInsightAlerts removes deleted alerts from their hours' records.
func forgetInsightAlerts(tx *gorm.DB, alerts []insightRow) error {
	hours := map[accountHour]map[uint]bool{}
	for _, a := range alerts {
		ms := a.CreatedAt.UnixMilli()
		k := accountHour{a.AccountID, ms - ms%hourMs}
		if hours[k] == nil {
			hours[k] = map[uint]bool{}
		}
		hours[k][a.ID] = true
	}
	for k, gone := range hours {
		var old []InsightHour
		if err := tx.Where("account_id = ? AND hour = ?", k.account, k.hour/1000).Limit(1).Find(&old).Error; err != nil || len(old) == 0 {
			return err
		}
		facts, err := decodeFacts(nil, k.hour, old[0].Facts)
		if err != nil {
			return err
		}
		facts = slices.DeleteFunc(facts, func(f insightFact) bool { return gone[f.AlertID] })
		if err := tx.Model(&InsightHour{}).Where("account_id = ? AND hour = ?", k.account, k.hour/1000).Update("facts", encodeFacts(k.hour, facts)).Error; err != nil {
			return err
		}
	}
	return nil
}

// PruneInsights deletes rollup hours older than the rollup keeps.
func (d *DB) PruneInsights(ctx context.Context, now time.Time) (int64, error) {
	res := d.WithContext(ctx).Where("hour < ?", now.Add(-insightHorizon-time.Hour).Unix()).Delete(&InsightHour{})
	return res.RowsAffected, res.Error
}
