package models

import (
	"testing"
	"time"
)

// allowed takes n requests for id at now and counts those let through.
func allowed(s *limiterSet, id uint, n int, now time.Time) int {
	ok := 0
	for range n {
		if s.take(id, now) == 0 {
			ok++
		}
	}
	return ok
}

// The set limits each integration: a burst, then one request per 1/rate.
func TestLimiterSetLimits(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	s := newLimiterSet(0.5, 3)
	if n := allowed(s, 1, 5, now); n != 3 {
		t.Fatalf("%d of 5 requests at once allowed, want the burst of 3", n)
	}
	if d := s.take(1, now); d != 2*time.Second {
		t.Errorf("wait %v, want 2s at 0.5 requests a second", d)
	}
	if n := allowed(s, 2, 3, now); n != 3 {
		t.Errorf("another integration: %d of 3 allowed", n)
	}
	if n := allowed(s, 1, 2, now.Add(2*time.Second)); n != 1 {
		t.Errorf("%d requests allowed 2 s later, want 1", n)
	}
	if off := newLimiterSet(0, 1); allowed(off, 1, 100, now) != 100 || len(off.buckets) != 0 {
		t.Errorf("rate 0 limits, or keeps buckets")
	}
}

// Buckets that have filled up again are dropped, so the set does not grow
// with every integration ever seen; a bucket still refilling is kept, so
// dropping never lets a sender past its limit.
func TestLimiterSetDropsIdleBuckets(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	s := newLimiterSet(50, 500)
	for id := uint(1); id <= 5000; id++ {
		s.take(id, now)
	}
	slow := newLimiterSet(0.001, 3) // refills one request in 1,000 s
	allowed(slow, 1, 3, now)
	allowed(slow, 2, 1, now)
	now = now.Add(limiterSweepEvery)
	s.take(9999, now)
	if len(s.buckets) != 1 {
		t.Errorf("%d buckets a minute after 5,000 integrations sent one request each, want 1 (only the new one)", len(s.buckets))
	}
	if slow.take(1, now) == 0 {
		t.Errorf("an empty bucket was dropped: its integration got a fresh burst")
	}
	if len(slow.buckets) != 2 {
		t.Errorf("%d slow buckets, want 2 (neither has refilled)", len(slow.buckets))
	}
}

// Even when no bucket refills (a tiny rate), the set stays bounded, and the
// emptiest buckets, those of the senders the limit is holding back, stay.
func TestLimiterSetIsBounded(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	s := newLimiterSet(0.0001, 3)
	s.max = 100
	allowed(s, 1, 3, now) // the flooder's bucket, empty
	for id := uint(2); id < 2000; id++ {
		s.take(id, now.Add(time.Duration(id)*time.Millisecond))
		if len(s.buckets) > s.max {
			t.Fatalf("%d buckets, want at most %d", len(s.buckets), s.max)
		}
	}
	if s.take(1, now.Add(2*time.Second)) == 0 {
		t.Errorf("the empty bucket was dropped under pressure: its integration got a fresh burst")
	}
}

// A request refused by its integration's bucket takes nothing from its
// team's, and one refused by its team's takes nothing from its integration's.
func TestTakeWithTeam(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	integrations, teams := newLimiterSet(0.5, 2), newLimiterSet(0.5, 3)
	want := func(integrationID uint, wantWait time.Duration, wantTeam bool) {
		t.Helper()
		if wait, team := takeWithTeam(integrations, teams, integrationID, 7, now); wait != wantWait || team != wantTeam {
			t.Errorf("integration %d: wait %v team %v, want %v %v", integrationID, wait, team, wantWait, wantTeam)
		}
	}
	want(1, 0, false)
	want(1, 0, false)
	want(1, 2*time.Second, false) // integration 1 is empty
	want(2, 0, false)             // the team's third request
	want(2, 2*time.Second, true)  // the team is empty
	if integrations.take(2, now) != 0 {
		t.Error("the team's refusal took integration 2's last request")
	}
	if off := newLimiterSet(0, 1); func() bool { w, _ := takeWithTeam(integrations, off, 3, 7, now); return w != 0 }() {
		t.Error("a team limit of 0 limits")
	}
}
