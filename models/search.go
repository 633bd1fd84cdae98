package models

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// SearchLimits bound what one text search may cost, so that one team's
// searches cannot slow every other team's pages.
type SearchLimits struct {
	// MaxWords is how many distinct words are searched; the rest are left
	// out, and the page says so.
	MaxWords int
	// MinPrefix is the shortest word that also matches longer words (cri →
	// critical); shorter ones match whole words only.
	MinPrefix int
	// Timeout stops a search (waiting for a slot included).
	Timeout time.Duration
	// Concurrent is how many searches run at once: half the CPUs, 2 to 4,
	// well below the connection pool's size, so that list pages always find
	// a connection and a CPU. One team runs at most half of them.
	Concurrent int
	// CountScan is how many of the team's newest matches the tab counts
	// of a search look at.
	CountScan int
}

// DefaultSearchLimits are the limits a new DB starts with.
func DefaultSearchLimits() SearchLimits {
	return SearchLimits{MaxWords: 8, MinPrefix: 3, Timeout: 2 * time.Second, Concurrent: min(max(runtime.NumCPU()/2, 2), 4), CountScan: 50_000}
}

var (
	// ErrSearchTimeout means a search ran out of time and was stopped.
	ErrSearchTimeout = errors.New("search stopped: it took too long")
	// ErrSearchBusy means no search slot came free in time.
	ErrSearchBusy = errors.New("search not run: too many searches at once")
)

// Search is what a search text asks for, within SearchLimits.
type Search struct {
	// Words are the distinct words searched, lower-cased, in order.
	Words []string
	// Dropped are the words over the limit, left out.
	Dropped []string
	// Whole are the words too short to match as prefixes.
	Whole []string
	// Unsearchable is set when the text has no letter or digit at all.
	Unsearchable bool
	minPrefix    int
}

// ParseSearch reads text into at most l.MaxWords distinct words. Words
// without a letter or digit are skipped: the full-text indexes hold only
// letters and digits.
func ParseSearch(text string, l SearchLimits) Search {
	s := Search{minPrefix: l.MinPrefix}
	seen := map[string]bool{}
	fields := strings.Fields(strings.ToLower(text))
	for _, w := range fields {
		if seen[w] || len(tokens(w)) == 0 {
			continue
		}
		seen[w] = true
		if len(s.Words) >= l.MaxWords {
			s.Dropped = append(s.Dropped, w)
			continue
		}
		s.Words = append(s.Words, w)
		if !s.prefix(w) {
			s.Whole = append(s.Whole, w)
		}
	}
	s.Unsearchable = len(fields) > 0 && len(s.Words) == 0
	return s
}

// Empty tells whether there is no text to search for.
func (s Search) Empty() bool { return len(s.Words) == 0 && !s.Unsearchable }

// Notice explains how the search differs from what was typed, or is "".
func (s Search) Notice() string {
	var parts []string
	if s.Unsearchable {
		parts = append(parts, "Search needs letters or digits: nothing matches this text.")
	}
	if len(s.Dropped) > 0 {
		parts = append(parts, fmt.Sprintf("Searched for the first %d different words only; left out: %s.", len(s.Words), strings.Join(s.Dropped, " ")))
	}
	if len(s.Whole) > 0 {
		parts = append(parts, fmt.Sprintf("Words shorter than %d characters match whole words only: %s.", s.minPrefix, strings.Join(s.Whole, " ")))
	}
	return strings.Join(parts, " ")
}

// prefix tells whether w's last letters are long enough to match as a prefix.
func (s Search) prefix(w string) bool {
	t := tokens(w)
	return len(t) > 0 && len([]rune(t[len(t)-1])) >= s.minPrefix
}

// tokens splits w into runs of letters and digits, as the indexes do.
func tokens(w string) []string {
	return strings.FieldsFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// ftsMatch is the FTS5 query for account's alerts matching every word: the
// team's token first, so that FTS5 walks only the team's rows, then each
// word as a phrase in the title or description (a prefix when long enough),
// with FTS5's syntax characters taken literally.
func (s Search) ftsMatch(accountID uint) string {
	var b strings.Builder
	fmt.Fprintf(&b, `team : "%s" AND {title description} : (`, teamToken(accountID))
	for i, w := range s.Words {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(`"` + strings.ReplaceAll(w, `"`, `""`) + `"`)
		if s.prefix(w) {
			b.WriteByte('*')
		}
	}
	b.WriteByte(')')
	return b.String()
}

// teamToken is the word that marks an account's alerts in the SQLite
// full-text index.
func teamToken(accountID uint) string { return fmt.Sprintf("k%d", accountID) }

// tsQuery is the PostgreSQL query of the words' letters and digits, each a
// prefix when long enough. PostgreSQL's parser keeps the minus of a number
// after a hyphen (web-3 → web, -3), so such numbers match either way.
func (s Search) tsQuery() string {
	var parts []string
	seen := map[string]bool{}
	for _, w := range s.Words {
		rest := w
		for _, t := range tokens(w) {
			at := strings.Index(rest, t)
			signed := at > 0 && rest[at-1] == '-' && strings.Trim(t, "0123456789") == ""
			rest = rest[at+len(t):]
			if seen[t] {
				continue
			}
			seen[t] = true
			suffix := ""
			if len([]rune(t)) >= s.minPrefix {
				suffix = ":*"
			}
			if signed {
				parts = append(parts, "("+t+suffix+" | -"+t+suffix+")")
			} else {
				parts = append(parts, t+suffix)
			}
		}
	}
	return strings.Join(parts, " & ")
}

// pgTeamQuery is the tsquery lexeme of account's alerts in PostgreSQL's
// search vector: '#' cannot come out of a user's words.
func pgTeamQuery(accountID uint) string { return fmt.Sprintf("'#%d'", accountID) }

// pgSearchVector is the expression idx_alerts_search indexes: the team's
// lexeme and the words of the title and description.
const pgSearchVector = `(array_to_tsvector(ARRAY['#' || account_id::text]) || to_tsvector('simple', title || ' ' || description))`

// searchGate lets at most Concurrent searches run at once, and one team
// at most half of them, so that another team's search finds a slot too.
type searchGate struct {
	slots   chan struct{}
	perTeam int
	mu      sync.Mutex
	teams   map[uint]*teamSlots
	running atomic.Int64
	peak    atomic.Int64
	// teamPeak is the most searches one team has run at once.
	teamPeak atomic.Int64
}

// teamSlots are a team's share of the slots; users counts the searches
// holding or waiting for one, so that an idle team's entry can go.
type teamSlots struct {
	slots   chan struct{}
	users   int
	running atomic.Int64
}

func newSearchGate(n int) *searchGate {
	n = max(n, 1)
	return &searchGate{slots: make(chan struct{}, n), perTeam: max(n/2, 1), teams: map[uint]*teamSlots{}}
}

// take waits for a slot of ch, preferring a free one to a deadline that
// passed meanwhile.
func take(ctx context.Context, ch chan struct{}) error {
	select {
	case ch <- struct{}{}:
		return nil
	default:
	}
	select {
	case ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ErrSearchBusy
	}
}

func (g *searchGate) acquire(ctx context.Context, accountID uint) error {
	g.mu.Lock()
	team := g.teams[accountID]
	if team == nil {
		team = &teamSlots{slots: make(chan struct{}, g.perTeam)}
		g.teams[accountID] = team
	}
	team.users++
	g.mu.Unlock()
	if err := take(ctx, team.slots); err != nil {
		g.leave(accountID, team)
		return err
	}
	if err := take(ctx, g.slots); err != nil {
		<-team.slots
		g.leave(accountID, team)
		return err
	}
	raise(&g.peak, g.running.Add(1))
	raise(&g.teamPeak, team.running.Add(1))
	return nil
}

// raise makes peak at least n.
func raise(peak *atomic.Int64, n int64) {
	for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
	}
}

func (g *searchGate) release(accountID uint) {
	g.running.Add(-1)
	<-g.slots
	g.mu.Lock()
	team := g.teams[accountID]
	g.mu.Unlock()
	team.running.Add(-1)
	<-team.slots
	g.leave(accountID, team)
}

func (g *searchGate) leave(accountID uint, team *teamSlots) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if team.users--; team.users == 0 {
		delete(g.teams, accountID)
	}
}

// SetSearchLimits replaces the search limits; call it before serving.
func (d *DB) SetSearchLimits(l SearchLimits) {
	d.searchLimits = l
	d.searchGate = newSearchGate(l.Concurrent)
}

// SearchLimits returns the limits searches run under.
func (d *DB) SearchLimits() SearchLimits { return d.searchLimits }

// SearchPeak is the most searches that have run at once, in all and of one
// team.
func (d *DB) SearchPeak() (all, team int) {
	return int(d.searchGate.peak.Load()), int(d.searchGate.teamPeak.Load())
}

// ParseSearch reads text under d's limits.
func (d *DB) ParseSearch(text string) Search { return ParseSearch(text, d.searchLimits) }

// search runs fn as a search: it waits for a slot, then runs under the time
// budget, which ends the query itself (SQLite is interrupted through the
// context, PostgreSQL stops it with statement_timeout).
func (d *DB) search(ctx context.Context, accountID uint, fn func(db *gorm.DB) error) error {
	budget, cancel := context.WithTimeout(ctx, d.searchLimits.Timeout)
	defer cancel()
	if err := d.searchGate.acquire(budget, accountID); err != nil {
		if ctx.Err() != nil && context.Cause(ctx) != context.DeadlineExceeded {
			return ctx.Err() // the request itself ended
		}
		return err
	}
	defer d.searchGate.release(accountID)
	var err error
	if d.Dialect == "postgres" {
		// The server's statement_timeout ends the query and keeps the
		// connection; the context is the backstop.
		deadline, _ := budget.Deadline()
		ms := max(time.Until(deadline).Milliseconds(), 1)
		run, stop := context.WithDeadline(ctx, deadline.Add(time.Second))
		defer stop()
		err = d.WithContext(run).Transaction(func(tx *gorm.DB) error {
			if err := tx.Exec(fmt.Sprintf("SET LOCAL statement_timeout = %d", ms)).Error; err != nil {
				return err
			}
			return fn(tx)
		})
	} else {
		err = fn(d.WithContext(budget))
	}
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pgErr) && pgErr.Code == "57014": // query_canceled
		return ErrSearchTimeout
	case budget.Err() != nil && context.Cause(budget) == context.DeadlineExceeded:
		return ErrSearchTimeout
	}
	return err
}
