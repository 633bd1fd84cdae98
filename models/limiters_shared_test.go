package models_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"klaxon/models"
	"klaxon/web/webtest"
)

// Concurrent leases from one shared bucket (as from several nodes) never
// hand out more tokens than the bucket holds.
func TestSharedBucketsNeverOverGrant(t *testing.T) {
	for name, url := range webtest.Databases(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db := webtest.OpenDB(t, url)
			key := "test:shared"
			const burst = 50
			var got atomic.Int64
			var wg sync.WaitGroup
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 20 {
						// A rate so low that nothing refills during the test.
						n, _, err := models.TakeShared(ctx, db, key, 3, 0.0001, burst)
						if err != nil {
							t.Error(err)
							return
						}
						got.Add(int64(n))
					}
				}()
			}
			wg.Wait()
			if got.Load() != burst {
				t.Errorf("8 nodes leased %d tokens in all from a bucket of %d, want exactly %d", got.Load(), burst, burst)
			}
			n, wait, err := models.TakeShared(ctx, db, key, 3, 0.0001, burst)
			if err != nil || n != 0 || wait <= 0 {
				t.Errorf("empty bucket: granted %d, wait %s (%v): want none and a wait", n, wait, err)
			}
		})
	}
}
