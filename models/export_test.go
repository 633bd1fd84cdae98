package models

import (
	"context"
	"time"

	"golang.org/x/time/rate"
)

// MaskTokenAnyBody exposes MaskToken's general path to the tests, which
// check that the fast path gives the same result.
func MaskTokenAnyBody(body string) string { return maskTokenAnyBody(body) }

// MaskPlainJSON exposes MaskToken's fast path, to check that plain bodies
// take it.
func MaskPlainJSON(body string) (string, bool) { return maskPlainJSON(body) }

// TakeShared exposes a lease from the database's shared rate buckets.
func TakeShared(ctx context.Context, db *DB, key string, want int, perSecond float64, burst int) (int, time.Duration, error) {
	return (&sharedBuckets{db: db}).take(ctx, key, want, rate.Limit(perSecond), burst)
}
