package handlers

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Parallel guesses cannot get past the limit: each attempt is counted
// before the password is checked.
func TestThrottleCountsParallelAttempts(t *testing.T) {
	th := NewThrottle(5, time.Minute)
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if th.Attempt("a@example.com", "10.0.0.1") == 0 {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != 5 {
		t.Errorf("%d parallel attempts allowed, want 5", allowed.Load())
	}
}

func TestThrottleWindowAndSuccess(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	th := NewThrottle(3, time.Minute)
	th.now = func() time.Time { return now }
	for i := 0; i < 2; i++ {
		if th.Attempt("a", "ip") != 0 {
			t.Fatalf("attempt %d refused", i)
		}
	}
	th.Succeed("a", "ip") // a good password takes its attempt back
	if th.Attempt("a", "ip") != 0 || th.Attempt("a", "ip") != 0 {
		t.Fatalf("attempts refused after a success")
	}
	if w := th.Attempt("a", "ip"); w == 0 {
		// 1 (left from before the success on the address) + 2 = 3 on the address.
		t.Fatalf("fourth attempt allowed")
	} else if w > time.Minute {
		t.Errorf("wait %v longer than the window", w)
	}
	if th.Attempt("b", "other-ip") != 0 {
		t.Errorf("another email from another address is throttled")
	}
	now = now.Add(time.Minute + time.Second)
	if th.Attempt("a", "ip") != 0 {
		t.Errorf("still throttled after the window")
	}
}
