package models

import (
	"context"
	"errors"
	"math"
	"time"

	"golang.org/x/time/rate"
)

// RateBucket is a token bucket kept in the database, so that every node
// sharing one PostgreSQL database draws on one count (see sharedBuckets).
type RateBucket struct {
	Key       string    `gorm:"primaryKey;size:100"`
	Tokens    float64   `gorm:"not null"`
	UpdatedAt time.Time `gorm:"not null"`
}

// sharedBuckets keeps limiters' counts in the rate_buckets table. A node
// does not go to the database for every request: it leases a small lot of
// tokens (a tenth of the burst) and spends them locally for up to
// leaseTTL, then leases again; once refused, it remembers how long to wait
// and answers from memory until then. So with N nodes a sender gets at most
// the limit plus N lots (tokens leased but not spent are lost, never added),
// and the database sees about one short transaction per lot.
type sharedBuckets struct {
	db *DB
}

// leaseTTL is how long leased tokens may be spent; later they are dropped.
const leaseTTL = time.Second

// lease is a node's share of one shared bucket.
type lease struct {
	tokens  int
	at      time.Time // when the tokens were leased
	retryAt time.Time // after a refusal: when to ask the database again
}

// take leases up to want tokens from key's bucket, which refills at limit
// per second up to burst (and starts full). It returns how many it got and,
// when none, how long until one is there.
func (s *sharedBuckets) take(ctx context.Context, key string, want int, limit rate.Limit, burst int) (granted int, wait time.Duration, err error) {
	sqlDB, err := s.db.DB.DB()
	if err != nil {
		return 0, 0, err
	}
	tx, err := sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback()
	// On PostgreSQL, the database's clock, not the node's: nodes' clocks
	// differ. (SQLite is one process: its clock is the node's.)
	now := time.Now().UTC()
	if s.db.Dialect == "postgres" {
		if err := tx.QueryRowContext(ctx, "SELECT clock_timestamp()").Scan(&now); err != nil {
			return 0, 0, err
		}
	}
	if _, err := tx.ExecContext(ctx, s.db.rebind(`INSERT INTO rate_buckets (key, tokens, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING`), key, float64(burst), now); err != nil {
		return 0, 0, err
	}
	var tokens float64
	var updated time.Time
	lock := " FOR UPDATE"
	if s.db.Dialect != "postgres" {
		lock = "" // SQLite's write transactions are serial already
	}
	if err := tx.QueryRowContext(ctx, s.db.rebind("SELECT tokens, updated_at FROM rate_buckets WHERE key = ?"+lock), key).Scan(&tokens, &updated); err != nil {
		return 0, 0, err
	}
	avail := math.Min(float64(burst), tokens+float64(limit)*math.Max(0, now.Sub(updated).Seconds()))
	granted = min(want, int(math.Floor(avail)))
	if _, err := tx.ExecContext(ctx, s.db.rebind("UPDATE rate_buckets SET tokens = ?, updated_at = ? WHERE key = ?"), avail-float64(granted), now, key); err != nil {
		return 0, 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, err
	}
	if granted == 0 {
		wait = time.Duration((1 - (avail - math.Floor(avail))) / float64(limit) * float64(time.Second))
		wait = max(wait, time.Millisecond)
	}
	return granted, wait, nil
}

// errNoSharedBuckets: a limiter set without a database behind it.
var errNoSharedBuckets = errors.New("no shared buckets")

// share makes the set draw on buckets in the database under prefix, so that
// every node on the database shares one count per id.
func (s *limiterSet) share(db *DB, prefix string) {
	s.shared = &sharedBuckets{db: db}
	s.prefix = prefix
	s.leases = map[uint]*lease{}
}

// reserveShared is reserve for a shared set: from the node's lease while it
// lasts, else from the database; undo puts the token back in the lease.
// Should the database fail, the node's own bucket decides (the request is
// about to fail anyway if the database is down).
func (s *limiterSet) reserveShared(id uint, now time.Time) (time.Duration, func(), error) {
	l := s.leases[id]
	if l != nil {
		if now.Before(l.retryAt) {
			return l.retryAt.Sub(now), noUndo, nil
		}
		if l.tokens > 0 && now.Sub(l.at) < leaseTTL {
			l.tokens--
			return 0, func() { l.tokens++ }, nil
		}
	}
	if s.shared == nil {
		return 0, noUndo, errNoSharedBuckets
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	granted, wait, err := s.shared.take(ctx, s.prefix+uitoa(id), max(1, s.burst/10), s.limit, s.burst)
	if err != nil {
		return 0, noUndo, err
	}
	if granted == 0 {
		s.leases[id] = &lease{retryAt: now.Add(wait)}
		return wait, noUndo, nil
	}
	l = &lease{tokens: granted - 1, at: now}
	s.leases[id] = l
	return 0, func() { l.tokens++ }, nil
}

// sweepLeases drops leases that can no longer be spent.
func (s *limiterSet) sweepLeases(now time.Time) {
	for id, l := range s.leases {
		if now.Sub(l.at) >= leaseTTL && !now.Before(l.retryAt) {
			delete(s.leases, id)
		}
	}
}
