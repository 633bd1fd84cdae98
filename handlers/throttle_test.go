package handlers

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testThrottle is a throttle with the default limits on a clock the test
// moves.
func testThrottle() (*Throttle, *time.Time) {
	now := time.Unix(1_000_000, 0)
	th := NewThrottle()
	th.now = func() time.Time { return now }
	return th, &now
}

// Parallel guesses cannot get past the limit: each attempt is counted
// before the password is checked.
func TestThrottleCountsParallelAttempts(t *testing.T) {
	th := NewThrottle()
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if th.LoginAttempt("a@example.com", "10.0.0.1") == 0 {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != DefaultLoginPair {
		t.Errorf("%d parallel attempts allowed, want %d", allowed.Load(), DefaultLoginPair)
	}
}

// attempts makes n log-in attempts and returns how many were allowed.
func attempts(th *Throttle, n int, email func(i int) string, ip func(i int) string) int {
	ok := 0
	for i := range n {
		if th.LoginAttempt(email(i), ip(i)) == 0 {
			ok++
		}
	}
	return ok
}

func same(s string) func(int) string { return func(int) string { return s } }
func numbered(format string) func(int) string {
	return func(i int) string { return fmt.Sprintf(format, i) }
}

// Each key has its own limit: the tight one is for one email from one
// address, so neither an address that fails nor an attacker elsewhere
// locks out everybody, or one user everywhere.
func TestThrottleKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		// fail runs the failures; then probe is tried.
		fail         func(th *Throttle) int
		wantAllowed  int
		probeEmail   string
		probeIP      string
		probeAllowed bool
	}{
		{"one email from one address: 5", func(th *Throttle) int {
			return attempts(th, 10, same("a@example.com"), same("192.0.2.1"))
		}, 5, "a@example.com", "192.0.2.1", false},
		{"the same user elsewhere still logs in", func(th *Throttle) int {
			return attempts(th, 10, same("a@example.com"), same("192.0.2.1"))
		}, 5, "a@example.com", "198.51.100.1", true},
		{"a colleague behind the same address still logs in", func(th *Throttle) int {
			return attempts(th, 10, same("a@example.com"), same("192.0.2.1"))
		}, 5, "b@example.com", "192.0.2.1", true},
		{"one address, many emails: 50", func(th *Throttle) int {
			return attempts(th, 60, numbered("u%d@example.com"), same("192.0.2.1"))
		}, 50, "b@example.com", "192.0.2.1", false},
		{"... and other addresses are not affected", func(th *Throttle) int {
			return attempts(th, 60, numbered("u%d@example.com"), same("192.0.2.1"))
		}, 50, "b@example.com", "198.51.100.1", true},
		{"one email from many addresses: 50", func(th *Throttle) int {
			return attempts(th, 60, same("a@example.com"), numbered("192.0.2.%d"))
		}, 50, "a@example.com", "198.51.100.1", false},
		{"... and other emails are not affected", func(th *Throttle) int {
			return attempts(th, 60, same("a@example.com"), numbered("192.0.2.%d"))
		}, 50, "b@example.com", "198.51.100.1", true},
		{"an IPv6 /64 is one address", func(th *Throttle) int {
			return attempts(th, 10, same("a@example.com"), numbered("2001:db8:1:2::%x"))
		}, 5, "a@example.com", "2001:db8:1:2:ffff::1", false},
		{"... and the next /64 is another", func(th *Throttle) int {
			return attempts(th, 10, same("a@example.com"), numbered("2001:db8:1:2::%x"))
		}, 5, "a@example.com", "2001:db8:1:3::1", true},
		{"an IPv4-mapped address is the IPv4 one", func(th *Throttle) int {
			return attempts(th, 10, same("a@example.com"), same("::ffff:192.0.2.1"))
		}, 5, "a@example.com", "192.0.2.1", false},
	} {
		th, _ := testThrottle()
		if got := tc.fail(th); got != tc.wantAllowed {
			t.Errorf("%s: %d attempts allowed, want %d", tc.name, got, tc.wantAllowed)
		}
		if got := th.LoginAttempt(tc.probeEmail, tc.probeIP) == 0; got != tc.probeAllowed {
			t.Errorf("%s: %s from %s allowed: %v, want %v", tc.name, tc.probeEmail, tc.probeIP, got, tc.probeAllowed)
		}
	}
}

func TestThrottleWindowAndSuccess(t *testing.T) {
	th, now := testThrottle()
	for i := range 4 {
		if th.LoginAttempt("a", "192.0.2.1") != 0 {
			t.Fatalf("attempt %d refused", i)
		}
	}
	th.LoginAttempt("a", "192.0.2.1")
	th.LoginSucceeded("a", "192.0.2.1") // a good password: the pair starts over
	for i := range 4 {
		if th.LoginAttempt("a", "192.0.2.1") != 0 {
			t.Fatalf("attempt %d after the success refused", i)
		}
	}
	// 4 + 4 failures on the email and the address; the success took its
	// own attempt back from them.
	if n := len(th.failures["email\x00a"]); n != 8 {
		t.Errorf("%d failures kept for the email, want 8", n)
	}
	*now = now.Add(time.Minute)
	th.LoginAttempt("a", "192.0.2.1")
	if w := th.LoginAttempt("a", "192.0.2.1"); w == 0 {
		t.Fatalf("sixth failure of the pair allowed")
	} else if w != ThrottleWindow-time.Minute {
		t.Errorf("wait %v, want %v (until the first failure after the success is 15 minutes old)", w, ThrottleWindow-time.Minute)
	}
	*now = now.Add(ThrottleWindow)
	if th.LoginAttempt("a", "192.0.2.1") != 0 {
		t.Errorf("still throttled after the window")
	}
}

// Current-password checks on "Your account" count per user, apart from
// log-ins: failing one does not use up the other.
func TestThrottlePasswordCheckIsSeparate(t *testing.T) {
	th, _ := testThrottle()
	attempts(th, 10, same("a@example.com"), same("192.0.2.1"))
	for i := range DefaultPasswordCheck {
		if th.PasswordAttempt(7) != 0 {
			t.Fatalf("password check %d refused after failed log-ins", i)
		}
	}
	if th.PasswordAttempt(7) == 0 {
		t.Errorf("password check over the limit allowed")
	}
	if th.PasswordAttempt(8) != 0 {
		t.Errorf("another user's password check refused")
	}
	th2, _ := testThrottle()
	for range 10 {
		th2.PasswordAttempt(7)
	}
	if th2.LoginAttempt("a@example.com", "192.0.2.1") != 0 {
		t.Errorf("log-in refused after failed password checks")
	}
	th2.PasswordSucceeded(7)
	if th2.PasswordAttempt(7) != 0 {
		t.Errorf("password check refused after a right current password")
	}
}

// The table stays bounded: expired keys go once a window, and a spray of
// distinct keys evicts those with the fewest failures, not a guesser's
// count.
func TestThrottleIsBounded(t *testing.T) {
	th, now := testThrottle()
	th.MaxKeys = 300
	attempts(th, 5, same("victim@example.com"), same("192.0.2.1"))
	for i := range 2000 {
		th.LoginAttempt(fmt.Sprintf("spray%d@example.com", i), fmt.Sprintf("10.%d.%d.1", i/250, i%250))
		if len(th.failures) > th.MaxKeys {
			t.Fatalf("%d keys after %d sprayed attempts, want at most %d", len(th.failures), i+1, th.MaxKeys)
		}
	}
	if th.LoginAttempt("victim@example.com", "192.0.2.1") == 0 {
		t.Errorf("the spray gave the guesser a fresh start")
	}
	// Huge emails make keys of bounded size.
	huge := string(make([]byte, 1<<20))
	th.LoginAttempt(huge, "192.0.2.9")
	for k := range th.failures {
		if len(k) > 400 {
			t.Fatalf("a key of %d bytes", len(k))
		}
	}
	*now = now.Add(ThrottleWindow)
	th.LoginAttempt("late@example.com", "192.0.2.2")
	if len(th.failures) != 3 {
		t.Errorf("%d keys a window later, want only the 3 of the last attempt", len(th.failures))
	}
}

// Sign-ups count per address (an IPv6 /64 as one) and apart from log-ins;
// add-teammate counts per team and per address; the window frees them.
func TestThrottleSignupAndTeammates(t *testing.T) {
	th, now := testThrottle()
	for i := range DefaultSignupAddress {
		if wait := th.SignupAttempt(fmt.Sprintf("2001:db8:1:2::%x", i+1)); wait != 0 {
			t.Fatalf("sign-up %d from one /64: wait %v", i+1, wait)
		}
	}
	if th.SignupAttempt("2001:db8:1:2:ffff::1") == 0 {
		t.Error("a sign-up past the limit from the same /64 was allowed")
	}
	if th.SignupAttempt("2001:db8:1:3::1") != 0 || th.LoginAttempt("a@example.com", "2001:db8:1:2::1") != 0 {
		t.Error("another /64, or a log-in from the throttled one, was refused")
	}
	for i := range DefaultTeammateTeam {
		if th.TeammateAttempt(7, fmt.Sprintf("10.0.0.%d", i)) != 0 {
			t.Fatalf("teammate %d of team 7: refused", i+1)
		}
	}
	if th.TeammateAttempt(7, "10.9.9.9") == 0 {
		t.Error("team 7 past its limit from a fresh address was allowed")
	}
	for i := range DefaultTeammateAddress {
		if th.TeammateAttempt(uint(100+i), "10.1.1.1") != 0 {
			t.Fatalf("teammate %d from 10.1.1.1: refused", i+1)
		}
	}
	if th.TeammateAttempt(200, "10.1.1.1") == 0 {
		t.Error("a fresh team past the address's limit was allowed")
	}
	*now = now.Add(ThrottleWindow)
	if th.SignupAttempt("2001:db8:1:2::1") != 0 || th.TeammateAttempt(7, "10.1.1.1") != 0 {
		t.Error("still refused after the window")
	}
}
