package handlers

import (
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Throttle slows password guessing: after MaxFailures failed log-ins for one
// email or from one address within Window, further attempts are refused
// until the window has passed.
type Throttle struct {
	MaxFailures int
	Window      time.Duration
	now         func() time.Time

	mu       sync.Mutex
	failures map[string][]time.Time
}

// NewThrottle returns a throttle allowing max failures per window.
func NewThrottle(max int, window time.Duration) *Throttle {
	return &Throttle{MaxFailures: max, Window: window, now: time.Now, failures: map[string][]time.Time{}}
}

func (t *Throttle) keys(email, ip string) []string {
	return []string{"email:" + email, "ip:" + ip}
}

// recent drops failures older than the window; callers hold mu.
func (t *Throttle) recent(key string, now time.Time) []time.Time {
	list := t.failures[key]
	i := 0
	for i < len(list) && now.Sub(list[i]) >= t.Window {
		i++
	}
	list = list[i:]
	if len(list) == 0 {
		delete(t.failures, key)
		return nil
	}
	t.failures[key] = list
	return list
}

// Attempt counts a log-in attempt for email from ip before the password is
// checked, so that parallel guesses cannot slip past the limit. It returns
// how long to wait when the limit is reached (nothing is counted then), or
// 0. A good password takes the attempt back with Succeed.
func (t *Throttle) Attempt(email, ip string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var wait time.Duration
	for _, k := range t.keys(email, ip) {
		if list := t.recent(k, now); len(list) >= t.MaxFailures {
			wait = max(wait, t.Window-now.Sub(list[len(list)-t.MaxFailures]))
		}
	}
	if wait > 0 {
		return wait
	}
	if len(t.failures) > 100_000 {
		t.sweep(now)
	}
	for _, k := range t.keys(email, ip) {
		t.failures[k] = append(t.recent(k, now), now)
	}
	return 0
}

// Succeed forgets the failures for email and takes this attempt back from
// the address.
func (t *Throttle) Succeed(email, ip string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.failures, "email:"+email)
	if list := t.failures["ip:"+ip]; len(list) > 0 {
		t.failures["ip:"+ip] = list[:len(list)-1]
	}
}

// sweep drops expired entries; if the table is still full of live ones (a
// spray of addresses), it starts over rather than grow without bound.
func (t *Throttle) sweep(now time.Time) {
	for k := range t.failures {
		t.recent(k, now)
	}
	if len(t.failures) > 100_000 {
		t.failures = map[string][]time.Time{}
	}
}

func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(int((d + time.Second - 1) / time.Second))
}

func humanDuration(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%d seconds", int((d+time.Second-1)/time.Second))
	}
	m := int((d + time.Minute - 1) / time.Minute)
	if m == 1 {
		return "a minute"
	}
	return fmt.Sprintf("%d minutes", m)
}
