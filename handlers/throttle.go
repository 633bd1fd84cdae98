package handlers

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"klaxon/models"
)

// The throttle's limits: failed password checks allowed per Window for one
// key, each counted before the password is checked.
//
// A log-in counts against three keys, so that no single one has to be both
// tight and shared:
//   - LoginPair, one email from one address, is the tight one: it stops
//     guessing a password from one place, and an attacker elsewhere cannot
//     use it to lock the real user out.
//   - LoginAddress, any emails from one address, is loose: a whole office
//     behind one NAT address (or a proxy not listed in -trusted-proxies)
//     shares it; it stops one address from trying a list of emails.
//   - LoginEmail, one email from all addresses, is loose too: it caps
//     distributed guessing at LoginEmail guesses per Window (about 4,800 a
//     day, hopeless against a 10-character password), and locking a user
//     out everywhere takes LoginEmail/LoginPair = 10 addresses per Window.
//
// IPv6 addresses count per /64, the block one machine or LAN gets, so that
// walking through one's own /64 does not mint fresh addresses.
//
// PasswordCheck is the current-password check on "Your account", per user:
// it is keyed apart from log-ins, so that neither eats into the other, and
// it slows someone who found a signed-in browser from guessing the password.
const (
	ThrottleWindow       = 15 * time.Minute
	DefaultLoginPair     = 5
	DefaultLoginAddress  = 50
	DefaultLoginEmail    = 50
	DefaultPasswordCheck = 5
	// Sign-up and add-teammate answers tell whether an email is in use on
	// this Klaxon (emails are unique across teams); these limits keep them
	// from listing emails. Every attempt that reaches the email check
	// counts, whatever the answer.
	DefaultSignupAddress   = 10
	DefaultTeammateTeam    = 20
	DefaultTeammateAddress = 20
	// DefaultThrottleKeys bounds the table: each key holds at most its
	// limit's failures, and keys are at most a few hundred bytes.
	DefaultThrottleKeys = 100_000
)

// Throttle slows password guessing: after the limit of failed password
// checks for a key within Window, further attempts for that key are refused
// until the oldest failure is Window old.
type Throttle struct {
	Window                                             time.Duration
	LoginPair, LoginAddress, LoginEmail, PasswordCheck int
	SignupAddress, TeammateTeam, TeammateAddress       int
	// MaxKeys bounds the table (see sweep).
	MaxKeys int
	now     func() time.Time

	mu        sync.Mutex
	failures  map[string][]time.Time
	lastSweep time.Time
	// db, when set (several nodes on one PostgreSQL), holds the counts
	// instead of failures, so that every node counts against one table.
	db *models.DB
}

// UseDatabase makes the throttle count in db, shared by every node on it.
// Should the database fail, the node counts in its own memory meanwhile.
func (t *Throttle) UseDatabase(db *models.DB) { t.db = db }

// throttleDBTimeout bounds each of the throttle's database calls.
const throttleDBTimeout = 2 * time.Second

// NewThrottle returns a throttle with the default limits.
func NewThrottle() *Throttle {
	return &Throttle{
		Window: ThrottleWindow, LoginPair: DefaultLoginPair, LoginAddress: DefaultLoginAddress,
		LoginEmail: DefaultLoginEmail, PasswordCheck: DefaultPasswordCheck, MaxKeys: DefaultThrottleKeys,
		SignupAddress: DefaultSignupAddress, TeammateTeam: DefaultTeammateTeam, TeammateAddress: DefaultTeammateAddress,
		now: time.Now, failures: map[string][]time.Time{},
	}
}

type throttleKey struct {
	key string
	max int
}

// loginKeys are the keys a log-in for email from ip counts against: the
// pair first (a success forgets it), then the address and the email.
func (t *Throttle) loginKeys(email, ip string) []throttleKey {
	// No account has a longer email (the column holds 254): a longer one
	// is cut so that junk cannot make keys of any size.
	if len(email) > 254 {
		email = email[:254]
	}
	addr := addressKey(ip)
	return []throttleKey{
		{"pair\x00" + addr + "\x00" + email, t.LoginPair}, // addresses hold no NUL: no two pairs collide
		{"addr\x00" + addr, t.LoginAddress},
		{"email\x00" + email, t.LoginEmail},
	}
}

func (t *Throttle) passwordKey(userID uint) throttleKey {
	return throttleKey{"user\x00" + strconv.FormatUint(uint64(userID), 10), t.PasswordCheck}
}

// addressKey is the part of ip that the throttle counts by: an IPv4
// address, or an IPv6 address's /64.
func addressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		if len(ip) > 64 {
			ip = ip[:64]
		}
		return ip
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// LoginAttempt counts a log-in attempt for email from ip before the password
// is checked, so that parallel guesses cannot slip past the limit. It returns
// how long to wait when a limit is reached (nothing is counted then), or 0.
// A good password takes the attempt back with LoginSucceeded.
func (t *Throttle) LoginAttempt(email, ip string) time.Duration {
	return t.attempt(t.loginKeys(email, ip))
}

// LoginSucceeded forgets the failures of email from ip (the user is back)
// and takes this attempt back from the address and the email. The email's
// other failures stay: a user logging in does not let a distributed guesser
// start over.
func (t *Throttle) LoginSucceeded(email, ip string) {
	keys := t.loginKeys(email, ip)
	if t.db != nil {
		ctx, cancel := context.WithTimeout(context.Background(), throttleDBTimeout)
		defer cancel()
		_ = t.db.ThrottleForget(ctx, keys[0].key)
		for _, k := range keys[1:] {
			_ = t.db.ThrottleTakeBack(ctx, k.key)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.failures, keys[0].key)
	for _, k := range keys[1:] {
		if list := t.failures[k.key]; len(list) > 1 {
			t.failures[k.key] = list[:len(list)-1]
		} else {
			delete(t.failures, k.key)
		}
	}
}

// PasswordAttempt counts a check of the signed-in user's current password,
// like LoginAttempt.
func (t *Throttle) PasswordAttempt(userID uint) time.Duration {
	return t.attempt([]throttleKey{t.passwordKey(userID)})
}

// PasswordSucceeded forgets the user's failed checks: they know it.
func (t *Throttle) PasswordSucceeded(userID uint) {
	if t.db != nil {
		ctx, cancel := context.WithTimeout(context.Background(), throttleDBTimeout)
		defer cancel()
		_ = t.db.ThrottleForget(ctx, t.passwordKey(userID).key)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.failures, t.passwordKey(userID).key)
}

// SignupAttempt counts a sign-up from ip that reaches the email check and
// returns how long to wait when the address is at its limit, or 0.
func (t *Throttle) SignupAttempt(ip string) time.Duration {
	return t.attempt([]throttleKey{{"signup\x00" + addressKey(ip), t.SignupAddress}})
}

// TeammateAttempt counts an add-teammate for account from ip that reaches
// the email check, against the team and against the address (which may
// have signed up several teams), like SignupAttempt.
func (t *Throttle) TeammateAttempt(accountID uint, ip string) time.Duration {
	return t.attempt([]throttleKey{
		{"teammates\x00" + strconv.FormatUint(uint64(accountID), 10), t.TeammateTeam},
		{"teammate-addr\x00" + addressKey(ip), t.TeammateAddress},
	})
}

// attempt counts one failure on every key, unless one of them is at its
// limit: then nothing is counted (waiting out a lock-out does not extend it)
// and the longest wait is returned.
func (t *Throttle) attempt(keys []throttleKey) time.Duration {
	if t.db != nil {
		if wait, err := t.attemptShared(keys); err == nil {
			return wait
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var wait time.Duration
	for _, k := range keys {
		if list := t.recent(k.key, now); len(list) >= k.max {
			wait = max(wait, t.Window-now.Sub(list[len(list)-k.max]))
		}
	}
	if wait > 0 {
		return wait
	}
	if len(t.failures)+len(keys) > t.MaxKeys || now.Sub(t.lastSweep) >= t.Window {
		t.sweep(now)
	}
	for _, k := range keys {
		t.failures[k.key] = append(t.failures[k.key], now)
	}
	return 0
}

// attemptShared is attempt on the database's table.
func (t *Throttle) attemptShared(keys []throttleKey) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), throttleDBTimeout)
	defer cancel()
	t.mu.Lock()
	sweep := t.now().Sub(t.lastSweep) >= t.Window
	if sweep {
		t.lastSweep = t.now()
	}
	t.mu.Unlock()
	if sweep {
		if err := t.db.ThrottleSweep(ctx, t.Window); err != nil {
			return 0, err
		}
	}
	list := make([]models.ThrottleKey, len(keys))
	for i, k := range keys {
		list[i] = models.ThrottleKey{Key: k.key, Max: k.max}
	}
	return t.db.ThrottleAttempt(ctx, list, t.Window)
}

// recent drops failures older than the window; callers hold mu.
func (t *Throttle) recent(key string, now time.Time) []time.Time {
	list := t.failures[key]
	i := 0
	for i < len(list) && now.Sub(list[i]) >= t.Window {
		i++
	}
	if i == 0 {
		return list
	}
	list = list[i:]
	if len(list) == 0 {
		delete(t.failures, key)
		return nil
	}
	t.failures[key] = list
	return list
}

// sweep drops expired keys, once a window and whenever the table is full.
// If it is still full of live keys (a spray of addresses and emails), the
// keys with the fewest failures go first, down to nine tenths: they hold
// the least, and a spray is made of them, so a flood cannot buy a guesser a
// fresh start cheaply.
func (t *Throttle) sweep(now time.Time) {
	t.lastSweep = now
	for k := range t.failures {
		t.recent(k, now)
	}
	target := t.MaxKeys * 9 / 10
	for n := 1; len(t.failures) > target; n++ {
		for k, list := range t.failures {
			if len(list) <= n {
				delete(t.failures, k)
				if len(t.failures) <= target {
					return
				}
			}
		}
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
