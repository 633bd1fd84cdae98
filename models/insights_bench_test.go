package models

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// BenchmarkInsightsQuery times the report for 90 days from a rollup of
// 57 alerts an hour (a million alerts over two years), without HTTP.
func BenchmarkInsightsQuery(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:"+filepath.Join(b.TempDir(), "k.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UTC()
	rng := rand.New(rand.NewPCG(1, 2))
	var titles []InsightTitle
	for i := range 25000 {
		titles = append(titles, InsightTitle{AccountID: 1, Title: fmt.Sprintf("title %d", i)})
	}
	if err := db.CreateInBatches(&titles, 500).Error; err != nil {
		b.Fatal(err)
	}
	id := uint(0)
	var rows []InsightHour
	start := now.Add(-182 * 24 * time.Hour).Truncate(time.Hour)
	for h := start; h.Before(now); h = h.Add(time.Hour) {
		hs := h.UnixMilli()
		var facts []insightFact
		for range 57 {
			id++
			f := insightFact{AlertID: id, Created: hs + rng.Int64N(hourMs), IntegrationID: uint(rng.IntN(10) + 1), Urgency: uint8(rng.IntN(4)),
				TitleID: int64(titles[rng.IntN(len(titles))].ID), AckMs: -1, ResolveMs: rng.Int64N(7200000), Via: AckNone}
			if rng.IntN(4) > 0 {
				f.AckMs, f.Via = rng.Int64N(600000), AckBrowser
			}
			facts = append(facts, f)
		}
		rows = append(rows, InsightHour{AccountID: 1, Hour: h.Unix(), Facts: encodeFacts(hs, facts)})
	}
	if err := db.CreateInBatches(&rows, 200).Error; err != nil {
		b.Fatal(err)
	}
	db.Create([]Setting{{Key: insightAlertMark, Value: fmt.Sprint(id)}, {Key: insightEventMark, Value: "0"}})
	berlin, _ := time.LoadLocation("Europe/Berlin")
	for _, p := range Periods {
		b.Run(string(p), func(b *testing.B) {
			cpu0 := cpuTime()
			for b.Loop() {
				if _, err := db.Insights(ctx, 1, InsightsQuery{Period: p, Location: berlin, Now: now}); err != nil {
					b.Fatal(err)
				}
			}
			// CPU time moves less than wall time on a shared machine.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
		})
	}
}

// TestPercentilesBySelection checks the selection against a sort.
func TestPercentilesBySelection(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := 1; n < 3000; n += 1 + n/7 {
		for _, spread := range []int64{3, 1000, 1 << 40} {
			xs := make([]int64, n)
			for i := range xs {
				xs[i] = rng.Int64N(spread)
			}
			sorted := slices.Clone(xs)
			slices.Sort(sorted)
			at := func(p float64) time.Duration {
				return time.Duration(sorted[max(int(math.Ceil(p/100*float64(n)))-1, 0)]) * time.Millisecond
			}
			if got := percentiles(xs); got != (Durations{N: n, P50: at(50), P90: at(90)}) {
				t.Fatalf("n=%d spread=%d: %+v, want p50 %v p90 %v", n, spread, got, at(50), at(90))
			}
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
