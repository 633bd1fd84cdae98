package models

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"golang.org/x/time/rate"
)

// The limiter set's bounds: how often idle buckets are dropped, and how many
// buckets it holds at most.
const (
	limiterSweepEvery = time.Minute
	maxLimiters       = 10_000
)

// limiterSet holds a token bucket per integration (or per team), made full
// on first use.
//
// A bucket that has filled up again is just like a new one, so it is
// dropped: the set holds only the integrations that had requests within the
// last burst/rate seconds (10 s at the defaults), however many integrations
// come and go over a long uptime. max bounds it even when a tiny rate keeps
// buckets from refilling for hours.
//
// It is not safe for concurrent use: the writer goroutine owns it.
type limiterSet struct {
	limit     rate.Limit
	burst     int
	max       int
	buckets   map[uint]*rate.Limiter
	nextSweep time.Time
	// With several nodes on one PostgreSQL database, the counts live in
	// the database (see share); leases holds this node's part of them.
	shared *sharedBuckets
	prefix string
	leases map[uint]*lease
}

// newLimiterSet returns a set of buckets refilling at perSecond (0: no
// limit) and holding burst requests.
func newLimiterSet(perSecond float64, burst int) *limiterSet {
	return &limiterSet{limit: rate.Limit(perSecond), burst: max(burst, 1), max: maxLimiters, buckets: map[uint]*rate.Limiter{}}
}

// take takes one request from id's bucket and returns how long to wait when
// the bucket is empty (nothing is taken then), or 0.
func (s *limiterSet) take(id uint, now time.Time) time.Duration {
	wait, undo := s.reserve(id, now)
	if wait > 0 {
		undo()
	}
	return wait
}

func noUndo() {}

// reserve takes one request from id's bucket and says how long it would
// have to wait for it (0: it may go now); undo gives the request back, as
// a caller must when it does not go. With no limit it takes nothing.
func (s *limiterSet) reserve(id uint, now time.Time) (wait time.Duration, undo func()) {
	if s.limit <= 0 {
		return 0, noUndo
	}
	if !now.Before(s.nextSweep) {
		s.sweep(now)
	}
	if s.shared != nil {
		if wait, undo, err := s.reserveShared(id, now); err == nil {
			return wait, undo
		}
	}
	lim, ok := s.buckets[id]
	if !ok {
		if len(s.buckets) >= s.max {
			s.sweep(now)
		}
		lim = rate.NewLimiter(s.limit, s.burst)
		s.buckets[id] = lim
	}
	r := lim.ReserveN(now, 1)
	return r.DelayFrom(now), func() { r.CancelAt(now) }
}

// takeWithTeam takes one request from the integration's bucket and from its
// team's, or from neither when either is empty. It returns how long to
// wait, and whether the team's bucket was the one that was empty.
func takeWithTeam(integrations, teams *limiterSet, integrationID, accountID uint, now time.Time) (wait time.Duration, team bool) {
	wi, undoI := integrations.reserve(integrationID, now)
	wt, undoT := teams.reserve(accountID, now)
	if wi == 0 && wt == 0 {
		return 0, false
	}
	undoI()
	undoT()
	return max(wi, wt), wi == 0
}

// sweep drops the buckets that are full again. If the set is still full
// (every bucket busy, which only a very low rate allows), the fullest go
// first, down to nine tenths: each starts over full, which lets through
// early only the few requests it was missing.
func (s *limiterSet) sweep(now time.Time) {
	s.nextSweep = now.Add(limiterSweepEvery)
	s.sweepLeases(now)
	for id, lim := range s.buckets {
		if lim.TokensAt(now) >= float64(s.burst) {
			delete(s.buckets, id)
		}
	}
	if len(s.buckets) < s.max {
		return
	}
	type bucket struct {
		id     uint
		tokens float64
	}
	all := make([]bucket, 0, len(s.buckets))
	for id, lim := range s.buckets {
		all = append(all, bucket{id, lim.TokensAt(now)})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].tokens > all[j].tokens })
	for _, b := range all[:len(all)-s.max*9/10] {
		delete(s.buckets, b.id)
	}
}

// rateMessage is the answer to a request over its integration's or its
// team's rate limit.
func (w *Writer) rateMessage(team bool, what string) string {
	if !team {
		return "Too many " + what + " for this integration; slow down."
	}
	return fmt.Sprintf("Too many %s for this team: its integrations together may send %s a second (bursts of %d); slow down.",
		what, strconv.FormatFloat(w.opts.TeamRatePerSecond, 'f', -1, 64), max(w.opts.TeamBurst, 1))
}
