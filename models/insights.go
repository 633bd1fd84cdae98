package models

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"gorm.io/gorm"
)

// Period is how far back the Insights page looks.
type Period string

// Periods lists the choices, shortest first.
var Periods = []Period{"24h", "7d", "30d", "90d"}

// Valid reports whether p is one of Periods.
func (p Period) Valid() bool { return slices.Contains(Periods, p) }

// Label names the period as the page shows it.
func (p Period) Label() string {
	switch p {
	case "24h":
		return "Last 24 hours"
	case "7d":
		return "Last 7 days"
	case "30d":
		return "Last 30 days"
	}
	return "Last 90 days"
}

// buckets is how many buckets the period has, and whether they are hours.
func (p Period) buckets() (int, bool) {
	switch p {
	case "24h":
		return 24, true
	case "7d":
		return 7, false
	case "30d":
		return 30, false
	}
	return 90, false
}

// InsightsQuery asks for an account's insights.
type InsightsQuery struct {
	Period Period
	// IntegrationID limits every chart to one integration (0: all).
	IntegrationID uint
	// Location is the viewer's time zone: buckets are its hours and days.
	Location *time.Location
	Now      time.Time
}

// Edges returns the bucket edges of the period and of the one before it:
// 2n+1 times, the current period being the last n buckets. Buckets are
// whole local hours (24h) or local days, the last one holding Now.
func (q InsightsQuery) Edges() []time.Time {
	n, hourly := q.Period.buckets()
	t := q.Now.In(q.Location)
	edges := make([]time.Time, 0, 2*n+1)
	if hourly {
		end := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), 0, 0, 0, q.Location).Add(time.Hour)
		for i := 2 * n; i >= 0; i-- {
			edges = append(edges, end.Add(-time.Duration(i)*time.Hour))
		}
		return edges
	}
	for i := 2 * n; i >= 0; i-- {
		edges = append(edges, time.Date(t.Year(), t.Month(), t.Day()+1-i, 0, 0, 0, 0, q.Location))
	}
	return edges
}

// Durations summarises times to acknowledge or resolve: how many alerts had
// one, and the nearest-rank 50th and 90th percentiles.
type Durations struct {
	N        int
	P50, P90 time.Duration
}

// percentiles returns the summary of ms, which it reorders.
func percentiles(ms []int64) Durations {
	if len(ms) == 0 {
		return Durations{}
	}
	rank := func(p float64) int { return max(int(math.Ceil(p/100*float64(len(ms))))-1, 0) }
	r50, r90 := rank(50), rank(90)
	// Selection instead of a sort: a period holds up to a few hundred
	// thousand values, and two ranks are all that is needed.
	p50 := nthSmallest(ms, r50)
	p90 := nthSmallest(ms[r50:], r90-r50)
	return Durations{N: len(ms), P50: time.Duration(p50) * time.Millisecond, P90: time.Duration(p90) * time.Millisecond}
}

// nthSmallest returns the k-th smallest value of xs (from 0), leaving the
// smaller ones before it and the larger ones after (quickselect with a
// three-way partition, so that many equal values cost nothing).
func nthSmallest(xs []int64, k int) int64 {
	lo, hi := 0, len(xs)
	for hi-lo > 16 {
		a, b, c := xs[lo], xs[lo+(hi-lo)/2], xs[hi-1]
		pivot := max(min(a, b), min(max(a, b), c)) // median of three
		lt, i, gt := lo, lo, hi
		for i < gt {
			switch {
			case xs[i] < pivot:
				xs[lt], xs[i] = xs[i], xs[lt]
				lt++
				i++
			case xs[i] > pivot:
				gt--
				xs[gt], xs[i] = xs[i], xs[gt]
			default:
				i++
			}
		}
		switch {
		case k < lt:
			hi = lt
		case k >= gt:
			lo = gt
		default:
			return pivot
		}
	}
	slices.Sort(xs[lo:hi])
	return xs[k]
}

// InsightBucket is one hour or day of the period.
type InsightBucket struct {
	Start, End time.Time
	// ByUrgency counts alerts created in the bucket, in Urgencies order.
	ByUrgency    [4]int
	Total        int
	Ack, Resolve Durations
}

// InsightShare is one row of a top-10 chart.
type InsightShare struct {
	IntegrationID uint
	Title         string
	Count         int
	Share         float64 // of the period's alerts, 0 to 1
}

// InsightsReport is everything the Insights page draws.
type InsightsReport struct {
	Query                InsightsQuery
	Hourly               bool
	From, To, PrevFrom   time.Time
	Buckets              []InsightBucket
	Total, PrevTotal     int
	Ack, PrevAck         Durations
	Resolve, PrevResolve Durations
	Integrations, Titles []InsightShare
	// Heat counts alerts by local day of week (Monday first) and hour.
	Heat [7][24]int
	// Acks counts the period's acknowledged alerts by where they were
	// acknowledged, indexed by AckVia.
	Acks [4]int
}

// insightsTop is how many integrations and titles the top charts show.
const insightsTop = 10

// Insights computes the report for q from the rollup, with what the rollup
// has not reached yet (alerts and timeline events past its watermarks) read
// from the alerts themselves, so that the figures are exact.
func (d *DB) Insights(ctx context.Context, accountID uint, q InsightsQuery) (*InsightsReport, error) {
	if q.Location == nil {
		q.Location = time.UTC
	}
	if !q.Period.Valid() {
		return nil, fmt.Errorf("insights: unknown period %q", q.Period)
	}
	edges := q.Edges()
	n, hourly := q.Period.buckets()
	r := &InsightsReport{Query: q, Hourly: hourly, PrevFrom: edges[0], From: edges[n], To: edges[2*n]}
	for i := n; i < 2*n; i++ {
		r.Buckets = append(r.Buckets, InsightBucket{Start: edges[i], End: edges[i+1]})
	}
	edgeMs := make([]int64, len(edges))
	for i, e := range edges {
		edgeMs[i] = e.UnixMilli()
	}
	a := &insightsAgg{r: r, q: q, edges: edgeMs, n: n, integrations: map[uint]int{}, titles: make(map[int64]int, 4096),
		ack: make([][]int64, 2*n), resolve: make([][]int64, 2*n)}

	db := d.WithContext(ctx)
	// The marks first: whatever the rollup gains after this read is read
	// again from the alerts, never missed.
	m, err := readMarks(db)
	if err != nil {
		return nil, err
	}
	live, err := d.liveFacts(db, accountID, m, edgeMs[0], edgeMs[2*n])
	if err != nil {
		return nil, err
	}
	override := make(map[uint]bool, len(live))
	for _, f := range live {
		override[f.AlertID] = true
	}
	firstHour := edgeMs[0] - ((edgeMs[0]%hourMs)+hourMs)%hourMs
	rows, err := db.Model(&InsightHour{}).Select("hour, facts").
		Where("account_id = ? AND hour >= ? AND hour < ?", accountID, firstHour/1000, edgeMs[2*n]/1000).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var buf []insightFact
	for rows.Next() {
		var hour int64
		var facts sql.RawBytes // read in place, not copied
		if err := rows.Scan(&hour, &facts); err != nil {
			return nil, err
		}
		hourStart := hour * 1000
		if buf, err = decodeFacts(buf[:0], hourStart, facts); err != nil {
			return nil, err
		}
		off := a.offset(hourStart)
		for i := range buf {
			if !override[buf[i].AlertID] {
				a.add(&buf[i], off)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	for i := range live {
		a.add(&live[i], a.offset(live[i].hour()))
	}
	return r, a.finish(db, accountID)
}

// liveFacts reads, from the alerts, account's alerts created in [from, to)
// that the rollup has not reached or whose acknowledge or resolve it has
// not: their facts replace the rollup's. Titles are numbered from
// InsightTitle where known, else with negative numbers.
func (d *DB) liveFacts(db *gorm.DB, accountID uint, m insightMarks, from, to int64) ([]insightFact, error) {
	var rows []insightRow
	// "+ 0" keeps the planners on the primary key: the tail past the mark
	// is short, the account's alerts are not.
	if err := db.Model(&Alert{}).Select(insightColumns).Where("id > ? AND account_id + 0 = ?", m.alert, accountID).Order("id").Scan(&rows).Error; err != nil {
		return nil, err
	}
	// By the primary key, without DISTINCT (which SQLite answers from
	// the alert_id index, all of it).
	var changed []uint
	if err := db.Model(&AlertEvent{}).Where("id > ? AND kind IN ?", m.event, []EventKind{EventAcknowledged, EventResolved}).
		Order("id").Pluck("alert_id", &changed).Error; err != nil {
		return nil, err
	}
	slices.Sort(changed)
	changed = slices.Compact(changed)
	for chunk := range slices.Chunk(changed, 500) {
		var more []insightRow
		if err := db.Model(&Alert{}).Select(insightColumns).Where("id IN ? AND id <= ? AND account_id = ?", chunk, m.alert, accountID).Order("id").Scan(&more).Error; err != nil {
			return nil, err
		}
		rows = append(rows, more...)
	}
	rows = slices.DeleteFunc(rows, func(r insightRow) bool {
		ms := r.CreatedAt.UnixMilli()
		return ms < from || ms >= to
	})
	facts, err := factsOf(db, rows)
	if err != nil || len(facts) == 0 {
		return facts, err
	}
	titles := map[string]int64{}
	for _, f := range facts {
		titles[f.Title] = 0
	}
	list := make([]string, 0, len(titles))
	for t := range titles {
		list = append(list, t)
	}
	for chunk := range slices.Chunk(list, 400) {
		var got []InsightTitle
		if err := db.Where("account_id = ? AND title IN ?", accountID, chunk).Find(&got).Error; err != nil {
			return nil, err
		}
		for _, g := range got {
			titles[g.Title] = int64(g.ID)
		}
	}
	next := int64(-1)
	for i := range facts {
		id := titles[facts[i].Title]
		if id == 0 {
			id, next = next, next-1
			titles[facts[i].Title] = id
		}
		facts[i].TitleID = id
	}
	return facts, nil
}

// insightsAgg adds facts up into a report.
type insightsAgg struct {
	r            *InsightsReport
	q            InsightsQuery
	edges        []int64
	n            int
	ack, resolve [][]int64 // per bucket of both periods
	integrations map[uint]int
	titles       map[int64]int
	liveTitles   map[int64]string
}

// offset returns the zone's offset in ms for the hour starting at hourStart,
// or math.MinInt64 when it changes within that hour.
func (a *insightsAgg) offset(hourStart int64) int64 {
	_, o1 := time.UnixMilli(hourStart).In(a.q.Location).Zone()
	_, o2 := time.UnixMilli(hourStart + hourMs - 1).In(a.q.Location).Zone()
	if o1 != o2 {
		return math.MinInt64
	}
	return int64(o1) * 1000
}

func (a *insightsAgg) add(f *insightFact, offset int64) {
	if a.q.IntegrationID != 0 && f.IntegrationID != a.q.IntegrationID {
		return
	}
	i := sort.Search(len(a.edges), func(i int) bool { return a.edges[i] > f.Created }) - 1
	if i < 0 || i >= 2*a.n {
		return
	}
	if f.AckMs >= 0 {
		a.ack[i] = append(a.ack[i], f.AckMs)
	}
	if f.ResolveMs >= 0 {
		a.resolve[i] = append(a.resolve[i], f.ResolveMs)
	}
	if i < a.n {
		a.r.PrevTotal++
		return
	}
	r := a.r
	b := &r.Buckets[i-a.n]
	b.ByUrgency[min(int(f.Urgency), 3)]++
	b.Total++
	r.Total++
	a.integrations[f.IntegrationID]++
	a.titles[f.TitleID]++
	if f.TitleID < 0 {
		if a.liveTitles == nil {
			a.liveTitles = map[int64]string{}
		}
		a.liveTitles[f.TitleID] = f.Title
	}
	if f.AckMs >= 0 {
		r.Acks[min(f.Via, AckOther)]++
	}
	var day, hour int64
	if offset == math.MinInt64 {
		t := time.UnixMilli(f.Created).In(a.q.Location)
		day, hour = int64(t.Weekday()+6)%7, int64(t.Hour())
	} else {
		local := f.Created + offset
		day = (floorDiv(local, 24*hourMs) + 3) % 7 // 1 January 1970 was a Thursday
		hour = floorDiv(local, hourMs) % 24
		day, hour = (day+7)%7, (hour+24)%24
	}
	r.Heat[day][hour]++
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func (a *insightsAgg) finish(db *gorm.DB, accountID uint) error {
	r := a.r
	size := func(parts [][]int64) int {
		n := 0
		for _, p := range parts {
			n += len(p)
		}
		return n
	}
	ack, res := make([]int64, 0, size(a.ack[a.n:])), make([]int64, 0, size(a.resolve[a.n:]))
	prevAck, prevRes := make([]int64, 0, size(a.ack[:a.n])), make([]int64, 0, size(a.resolve[:a.n]))
	for i := range 2 * a.n {
		if i < a.n {
			prevAck, prevRes = append(prevAck, a.ack[i]...), append(prevRes, a.resolve[i]...)
			continue
		}
		ack, res = append(ack, a.ack[i]...), append(res, a.resolve[i]...)
		r.Buckets[i-a.n].Ack, r.Buckets[i-a.n].Resolve = percentiles(a.ack[i]), percentiles(a.resolve[i])
	}
	r.Ack, r.Resolve, r.PrevAck, r.PrevResolve = percentiles(ack), percentiles(res), percentiles(prevAck), percentiles(prevRes)

	share := func(c int) float64 { return float64(c) / float64(max(r.Total, 1)) }
	for id, c := range a.integrations {
		r.Integrations = append(r.Integrations, InsightShare{IntegrationID: id, Count: c, Share: share(c)})
	}
	slices.SortFunc(r.Integrations, func(x, y InsightShare) int {
		return cmp.Or(cmp.Compare(y.Count, x.Count), cmp.Compare(x.IntegrationID, y.IntegrationID))
	})
	r.Integrations = r.Integrations[:min(len(r.Integrations), insightsTop)]

	type titleCount struct {
		id int64
		n  int
	}
	// The top ten in one pass: sorting every title costs more than the
	// rest of the page at a hundred thousand alerts.
	before := func(x, y titleCount) bool { return x.n > y.n || x.n == y.n && rankOf(x.id) < rankOf(y.id) }
	tops := make([]titleCount, 0, insightsTop+1)
	for id, c := range a.titles {
		t := titleCount{id, c}
		if len(tops) == insightsTop && !before(t, tops[insightsTop-1]) {
			continue
		}
		i := len(tops)
		for i > 0 && before(t, tops[i-1]) {
			i--
		}
		tops = slices.Insert(tops, i, t)
		tops = tops[:min(len(tops), insightsTop)]
	}
	var ids []int64
	for _, t := range tops {
		if t.id > 0 {
			ids = append(ids, t.id)
		}
	}
	names := map[int64]string{}
	if len(ids) > 0 {
		var got []InsightTitle
		// By the primary key: on (account, title), SQLite would read every
		// title of the account.
		if err := db.Where("id IN ?", ids).Find(&got).Error; err != nil {
			return err
		}
		for _, g := range got {
			if g.AccountID == accountID {
				names[int64(g.ID)] = g.Title
			}
		}
	}
	for _, t := range tops {
		name := names[t.id]
		if t.id < 0 {
			name = a.liveTitles[t.id]
		}
		r.Titles = append(r.Titles, InsightShare{Title: name, Count: t.n, Share: share(t.n)})
	}
	return nil
}

// rankOf orders numbered titles before the live ones, each by number.
func rankOf(id int64) int64 {
	if id < 0 {
		return math.MaxInt32 - id
	}
	return id
}
