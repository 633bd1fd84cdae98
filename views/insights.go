package views

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"klaxon/models"
)

// InsightsView is the Insights page's model: every chart's geometry is
// worked out here, so the template only draws.
type InsightsView struct {
	Period       models.Period
	Integration  string // public id, "" for all
	Integrations []models.Integration
	Zone         string
	Zones        []string
	Hourly       bool
	Report       *models.InsightsReport
	// ListURL lists the period's alerts; CSV(chart) exports a chart.
	ListURL string
	CSVBase string
	// Names of the report's integrations, by id.
	Names map[uint]string
	// BucketURL, IntegrationURL and TitleURL link to the alert list.
	BucketURL      func(b models.InsightBucket, urgency models.Urgency) string
	IntegrationURL func(id uint) string
	TitleURL       func(title string) string
}

// CSV is the export link of one chart.
func (v InsightsView) CSV(chart string) string { return v.CSVBase + "&chart=" + chart }

// Chart geometry, in SVG user units.
const (
	chartW, chartH = 720.0, 180.0
	chartLeft      = 48.0
	chartBottom    = 24.0
)

// BucketLabel names a bucket as its axis does.
func (v InsightsView) BucketLabel(b models.InsightBucket) string {
	if v.Hourly {
		return b.Start.Format("Mon 15:04")
	}
	return b.Start.Format("Mon 2 Jan")
}

func (v InsightsView) barWidth() float64 {
	return (chartW - chartLeft) / float64(max(len(v.Report.Buckets), 1))
}

func (v InsightsView) maxVolume() int {
	m := 0
	for _, b := range v.Report.Buckets {
		m = max(m, b.Total)
	}
	return niceCeil(max(m, 1))
}

// niceCeil rounds n up to 1, 2 or 5 times a power of ten.
func niceCeil(n int) int {
	for p := 1; ; p *= 10 {
		for _, m := range []int{1, 2, 5} {
			if m*p >= n {
				return m * p
			}
		}
	}
}

// VolumeRect is one urgency's part of one bucket's bar.
type VolumeRect struct {
	X, Y, W, H float64
	Urgency    models.Urgency
	Count      int
	URL, Title string
}

// VolumeRects are the stacked bars of the alerts-over-time chart, lowest
// urgency at the bottom.
func (v InsightsView) VolumeRects() []VolumeRect {
	var out []VolumeRect
	w, top := v.barWidth(), float64(v.maxVolume())
	for i, b := range v.Report.Buckets {
		y := chartH - chartBottom
		for u, urgency := range models.Urgencies {
			n := b.ByUrgency[u]
			if n == 0 {
				continue
			}
			h := float64(n) / top * (chartH - chartBottom - 8)
			y -= h
			out = append(out, VolumeRect{X: chartLeft + float64(i)*w + 1, Y: y, W: max(w-2, 1), H: h, Urgency: urgency, Count: n,
				URL:   v.BucketURL(b, urgency),
				Title: fmt.Sprintf("%s: %d %s of %s", v.BucketLabel(b), n, urgency, Plural(b.Total, "alert"))})
		}
	}
	return out
}

// AxisTick is a label on a chart's axis.
type AxisTick struct {
	X, Y  float64
	Label string
}

// XTicks labels about eight buckets along the bottom.
func (v InsightsView) XTicks() []AxisTick {
	n := len(v.Report.Buckets)
	step := max(1, (n+7)/8)
	var out []AxisTick
	for i := 0; i < n; i += step {
		b := v.Report.Buckets[i]
		label := b.Start.Format("2 Jan")
		if v.Hourly {
			label = b.Start.Format("15:04")
		}
		out = append(out, AxisTick{X: chartLeft + (float64(i)+0.5)*v.barWidth(), Y: chartH - 6, Label: label})
	}
	return out
}

// YTicks labels 0, half and the top of a scale.
func yTicks(top float64, format func(float64) string) []AxisTick {
	var out []AxisTick
	for _, f := range []float64{0, 0.5, 1} {
		out = append(out, AxisTick{X: chartLeft - 6, Y: chartH - chartBottom - f*(chartH-chartBottom-8) + 4, Label: format(f * top)})
	}
	return out
}

func (v InsightsView) VolumeYTicks() []AxisTick {
	return yTicks(float64(v.maxVolume()), func(f float64) string { return strconv.FormatFloat(f, 'g', 4, 64) })
}

// HasResponse tells whether any bucket has a time to acknowledge (resolve
// false) or to resolve.
func (v InsightsView) HasResponse(resolve bool) bool {
	for _, b := range v.Report.Buckets {
		if (!resolve && b.Ack.N > 0) || (resolve && b.Resolve.N > 0) {
			return true
		}
	}
	return false
}

// AckTotal counts the period's acknowledged alerts.
func (v InsightsView) AckTotal() int {
	n := 0
	for _, c := range v.Report.Acks {
		n += c
	}
	return n
}

// ResponseSeries is one percentile's line on a response-time chart.
type ResponseSeries struct {
	Name, Class string
	Path        string
	Points      []ResponsePoint
}

// ResponsePoint is a bucket's value on a line.
type ResponsePoint struct {
	X, Y       float64
	URL, Title string
}

// ResponseChart is the time-to-acknowledge or time-to-resolve chart.
type ResponseChart struct {
	Series []ResponseSeries
	YTicks []AxisTick
}

// Response draws p50 and p90 per bucket of the acknowledge (resolve false)
// or resolve times. Buckets without a value leave a gap.
func (v InsightsView) Response(resolve bool) ResponseChart {
	get := func(b models.InsightBucket) models.Durations {
		if resolve {
			return b.Resolve
		}
		return b.Ack
	}
	var top time.Duration
	for _, b := range v.Report.Buckets {
		top = max(top, get(b).P90)
	}
	topMin := niceCeil(max(int((top+time.Minute-1)/time.Minute), 1))
	scale := float64(topMin) * float64(time.Minute)
	var c ResponseChart
	c.YTicks = yTicks(float64(topMin), func(f float64) string { return FormatDuration(time.Duration(f * float64(time.Minute))) })
	for _, s := range []struct {
		name, class string
		pick        func(models.Durations) time.Duration
	}{{"p50", "p50", func(d models.Durations) time.Duration { return d.P50 }}, {"p90", "p90", func(d models.Durations) time.Duration { return d.P90 }}} {
		series := ResponseSeries{Name: s.name, Class: s.class}
		var path strings.Builder
		gap := true
		for i, b := range v.Report.Buckets {
			d := get(b)
			if d.N == 0 {
				gap = true
				continue
			}
			x := chartLeft + (float64(i)+0.5)*v.barWidth()
			y := chartH - chartBottom - float64(s.pick(d))/scale*(chartH-chartBottom-8)
			cmd := "L"
			if gap {
				cmd = "M"
			}
			fmt.Fprintf(&path, "%s%.1f %.1f ", cmd, x, y)
			gap = false
			series.Points = append(series.Points, ResponsePoint{X: x, Y: y, URL: v.BucketURL(b, ""),
				Title: fmt.Sprintf("%s: %s %s (%s)", v.BucketLabel(b), s.name, FormatDuration(s.pick(d)), Plural(d.N, "alert"))})
		}
		series.Path = strings.TrimSpace(path.String())
		c.Series = append(c.Series, series)
	}
	return c
}

// FormatDuration says a duration the way the page does: "45 s", "4 m",
// "1 h 5 m", "2 d 3 h".
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%d m", int(d/time.Minute))
	case d < 24*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%d h", h)
		}
		return fmt.Sprintf("%d h %d m", h, m)
	}
	days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	if h == 0 {
		return fmt.Sprintf("%d d", days)
	}
	return fmt.Sprintf("%d d %d h", days, h)
}

// DurationOrDash is FormatDuration, or "—" when there was nothing to measure.
func DurationOrDash(d models.Durations, p90 bool) string {
	if d.N == 0 {
		return "—"
	}
	if p90 {
		return FormatDuration(d.P90)
	}
	return FormatDuration(d.P50)
}

// Comparison says a figure against the previous period's.
func Comparison(was models.Durations, p90 bool) string {
	if was.N == 0 {
		return "no alerts to compare with in the period before"
	}
	return "was " + DurationOrDash(was, p90)
}

// ShareBar is a row of a top-10 chart.
type ShareBar struct {
	Label, URL, Title string
	Count             int
	Share             string
	Y, W              float64
}

const shareRowH = 30.0

func shareBars(rows []models.InsightShare, label func(models.InsightShare) string, link func(models.InsightShare) string) []ShareBar {
	top := 1
	for _, r := range rows {
		top = max(top, r.Count)
	}
	var out []ShareBar
	for i, r := range rows {
		share := Percent(r.Share)
		out = append(out, ShareBar{Label: label(r), URL: link(r), Count: r.Count, Share: share,
			Y: float64(i) * shareRowH, W: float64(r.Count) / float64(top) * 220,
			Title: fmt.Sprintf("%s: %s, %s of the period's alerts", label(r), Plural(r.Count, "alert"), share)})
	}
	return out
}

// Percent formats a share from 0 to 1.
func Percent(f float64) string {
	if f > 0 && f < 0.001 {
		return "<0.1%"
	}
	return strconv.FormatFloat(f*100, 'f', 1, 64) + "%"
}

// IntegrationName names an integration of the report.
func (v InsightsView) IntegrationName(id uint) string {
	if n, ok := v.Names[id]; ok {
		return n
	}
	return "Integration " + strconv.FormatUint(uint64(id), 10)
}

func (v InsightsView) IntegrationBars() []ShareBar {
	return shareBars(v.Report.Integrations, func(s models.InsightShare) string { return v.IntegrationName(s.IntegrationID) },
		func(s models.InsightShare) string { return v.IntegrationURL(s.IntegrationID) })
}

func (v InsightsView) TitleBars() []ShareBar {
	return shareBars(v.Report.Titles, func(s models.InsightShare) string { return s.Title },
		func(s models.InsightShare) string { return v.TitleURL(s.Title) })
}

// AckLabel names where alerts were acknowledged.
func AckLabel(via models.AckVia) string {
	switch via {
	case models.AckBrowser:
		return "Browser"
	case models.AckMattermost:
		return "Mattermost"
	}
	return "Other (API, unknown)"
}

func (v InsightsView) AckBars() []ShareBar {
	total := 0
	for _, n := range v.Report.Acks {
		total += n
	}
	var rows []models.InsightShare
	for _, via := range models.AckVias {
		rows = append(rows, models.InsightShare{Title: AckLabel(via), Count: v.Report.Acks[via], Share: float64(v.Report.Acks[via]) / float64(max(total, 1))})
	}
	return shareBars(rows, func(s models.InsightShare) string { return s.Title }, func(models.InsightShare) string { return v.ListURL })
}

// Weekdays in the heat map's order.
var Weekdays = []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}

// HeatCell is one hour of one weekday.
type HeatCell struct {
	X, Y    float64
	Opacity string
	Count   int
	Title   string
}

func (v InsightsView) HeatCells() []HeatCell {
	top := 0
	for _, row := range v.Report.Heat {
		for _, n := range row {
			top = max(top, n)
		}
	}
	var out []HeatCell
	for d, row := range v.Report.Heat {
		for h, n := range row {
			op := 0.0
			if n > 0 {
				op = 0.12 + 0.88*float64(n)/float64(top)
			}
			out = append(out, HeatCell{X: 96 + float64(h)*26, Y: float64(d) * 26, Opacity: strconv.FormatFloat(op, 'f', 2, 64), Count: n,
				Title: fmt.Sprintf("%s %02d:00–%02d:00: %s", Weekdays[d], h, (h+1)%24, Plural(n, "alert"))})
		}
	}
	return out
}

// Hours labels the heat map's columns.
func Hours() []int {
	out := make([]int, 24)
	for i := range out {
		out[i] = i
	}
	return out
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

func bucketWord(hourly bool) string {
	if hourly {
		return "hour"
	}
	return "day"
}

func lower(s string) string { return strings.ToLower(s) }

// shorten cuts s to n characters with an ellipsis.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// AckNote introduces the acknowledged-from chart.
func (v InsightsView) AckNote() string {
	if v.AckTotal() == 0 {
		return "No alert created in this period has been acknowledged yet."
	}
	return "Where the period's " + Plural(v.AckTotal(), "acknowledged alert") + " were acknowledged, as their acknowledge events tell."
}
