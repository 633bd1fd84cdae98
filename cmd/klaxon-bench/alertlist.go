package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/PuerkitoBio/goquery"

	"klaxon/models"
	"klaxon/web"
)

// Targets of the alert-list benchmark.
const (
	targetListP95   = 50 * time.Millisecond
	targetSearchP95 = 200 * time.Millisecond
	targetSeed      = time.Minute
	deepPages       = 50
)

// listCase is one kind of alert-list request.
type listCase struct {
	name   string
	search bool
	// urls gives the i-th request's URL.
	urls func(i int) string
	// depth is how many Older links were followed to reach the page.
	depth int
}

type listResult struct {
	name     string
	search   bool
	depth    int
	rows     int
	p50, p95 time.Duration
}

// benchAlertList seeds a small and a large database and times the alert
// list on each through the real router.
func benchAlertList(ctx context.Context, o options, out io.Writer) (bool, error) {
	dir, err := os.MkdirTemp("", "klaxon-bench-list-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(out, "\n== alert list: server-side times through the real router (web.NewServer), %d requests per case\n", o.requests)
	small, _, err := listRun(ctx, o, filepath.Join(dir, "small.db"), o.small, false, out)
	if err != nil {
		return false, err
	}
	large, isolated, err := listRun(ctx, o, filepath.Join(dir, "large.db"), o.alerts, true, out)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(out, "targets (at %d alerts): list p95 ≤ %s and ≤ 2 × p95 at %d; text search p95 ≤ %s\n", o.alerts, ms(targetListP95), o.small, ms(targetSearchP95))
	for i, l := range large {
		s := small[i]
		if l.search {
			fmt.Fprintf(out, "  %-34s p95 %s ≤ %s %s\n", l.name, ms(l.p95), ms(targetSearchP95), verdict(l.p95 <= targetSearchP95))
			continue
		}
		fmt.Fprintf(out, "  %-34s p95 %s ≤ %s %s; ≤ 2 × %s %s\n", l.name, ms(l.p95), ms(targetListP95), verdict(l.p95 <= targetListP95),
			ms(s.p95), verdict(l.p95 <= 2*s.p95))
	}
	return isolated, nil
}

// listRun seeds n alerts into a fresh SQLite file and times every case,
// then, with isolation, what another team's searches do to a small team.
func listRun(ctx context.Context, o options, path string, n int, isolation bool, out io.Writer) ([]listResult, bool, error) {
	dbURL := "sqlite:" + path
	db, err := models.Open(ctx, dbURL)
	if err != nil {
		return nil, false, err
	}
	defer db.Close()
	password := "bench-password"
	user, err := db.CreateAccount(ctx, models.SignUp{Team: "Bench", Email: "bench@example.com", Password: password, Confirm: password})
	if err != nil {
		return nil, false, err
	}
	var integrations []*models.Integration
	for i := range 10 {
		integ, err := db.CreateIntegration(ctx, user.AccountID, models.IntegrationInput{
			Name: fmt.Sprintf("Mattermost #team-%d", i+1), DefaultUrgency: string(models.Urgencies[i%4]), ReplyInChannel: true,
			SiteURL: "https://chat.example.com",
		})
		if err != nil {
			return nil, false, err
		}
		integrations = append(integrations, integ)
	}
	start := time.Now()
	if err := seedAlerts(ctx, db, user.AccountID, integrations, n, out); err != nil {
		return nil, false, err
	}
	took := time.Since(start)
	fmt.Fprintf(out, "seeded %d alerts in %.1f s (%.0f alerts/s)", n, took.Seconds(), float64(n)/took.Seconds())
	if n >= 1_000_000 {
		fmt.Fprintf(out, ": under a minute %s", verdict(took <= targetSeed))
	}
	fmt.Fprintln(out)

	cfg, err := web.ParseConfig([]string{"-database", dbURL}, func(string) string { return "" }, io.Discard)
	if err != nil {
		return nil, false, err
	}
	writer, err := models.NewWriter(db, models.WriterOptions{})
	if err != nil {
		return nil, false, err
	}
	defer writer.Close()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	srv := web.NewServer(cfg, log, db, writer, "bench-session-secret-bench-session-secret")
	b := &browser{handler: srv.Echo, cookies: map[string]string{}}
	if err := b.login("bench@example.com", password); err != nil {
		return nil, false, err
	}

	noisy := integrations[0].PublicID // seedAlerts sends most alerts to the first integration
	searches := []string{"postgres", "replication lag", "checkout timeout", "ledger"}
	cases := []listCase{
		{name: "default list (open + acknowledged)", urls: func(int) string { return "/alerts" }},
		{name: "filtered: all, high, 1 integration", urls: func(int) string {
			return "/alerts?" + url.Values{"status": {"all"}, "urgency": {"high"}, "integration": {noisy}}.Encode()
		}},
		{name: fmt.Sprintf("all, %d pages deep (Older ×%d)", deepPages, deepPages)},
		{name: "text search (4 queries in turn)", search: true, urls: func(i int) string {
			return "/alerts?" + url.Values{"status": {"active"}, "q": {searches[i%len(searches)]}}.Encode()
		}},
	}
	deep, depth, err := b.followOlder("/alerts?status=all", deepPages)
	if err != nil {
		return nil, false, err
	}
	cases[2].urls, cases[2].depth = func(int) string { return deep }, depth

	fmt.Fprintf(out, "%d alerts:\n", n)
	var results []listResult
	for _, c := range cases {
		for i := range 10 { // warm the page cache and the session
			if _, _, err := b.get(c.urls(i)); err != nil {
				return nil, false, err
			}
		}
		var lat []time.Duration
		rows := 0
		for i := range o.requests {
			t0 := time.Now()
			body, status, err := b.get(c.urls(i))
			lat = append(lat, time.Since(t0))
			if err != nil {
				return nil, false, err
			}
			if status != http.StatusOK {
				return nil, false, fmt.Errorf("GET %s: status %d", c.urls(i), status)
			}
			rows += strings.Count(body, `data-testid="alert-row"`)
		}
		p := percentiles(lat, 50, 95)
		r := listResult{name: c.name, search: c.search, depth: c.depth, rows: rows / o.requests, p50: p[0], p95: p[1]}
		note := ""
		if strings.Contains(c.name, "deep") && c.depth < deepPages {
			note = fmt.Sprintf(" (only %d pages deep: the list has no more)", c.depth)
		}
		fmt.Fprintf(out, "  %-36s p50 %9s   p95 %9s   %2d rows/page%s\n", c.name, ms(r.p50), ms(r.p95), r.rows, note)
		results = append(results, r)
	}
	if !o.skipInsights {
		if err := insightsRun(ctx, o, db, b, noisy, n, out); err != nil {
			return nil, false, fmt.Errorf("insights: %w", err)
		}
	}
	if !isolation {
		return results, true, nil
	}
	pass, err := benchSearchIsolation(ctx, o, db, srv.Echo, b, user.AccountID, integrations[0], out)
	return results, pass, err
}

// browser signs in and fetches pages by calling the router directly, so
// that the times are the server's own.
type browser struct {
	handler http.Handler
	cookies map[string]string
}

func (b *browser) do(req *http.Request) *httptest.ResponseRecorder {
	for k, v := range b.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("Accept", "text/html")
	rec := httptest.NewRecorder()
	b.handler.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		b.cookies[c.Name] = c.Value
	}
	return rec
}

func (b *browser) get(path string) (string, int, error) {
	rec := b.do(httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Body.String(), rec.Code, nil
}

func (b *browser) login(email, password string) error {
	body, status, _ := b.get("/login")
	if status != http.StatusOK {
		return fmt.Errorf("GET /login: status %d", status)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		return err
	}
	csrf, _ := doc.Find(`input[name="_csrf"]`).First().Attr("value")
	form := url.Values{"_csrf": {csrf}, "email": {email}, "password": {password}}
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if rec := b.do(req); rec.Code != http.StatusSeeOther {
		return fmt.Errorf("POST /login: status %d", rec.Code)
	}
	if _, status, _ := b.get("/alerts"); status != http.StatusOK {
		return fmt.Errorf("GET /alerts after log-in: status %d", status)
	}
	return nil
}

// followOlder follows the page's Older link up to pages times and returns
// the last page's URL and how many links it followed.
func (b *browser) followOlder(path string, pages int) (string, int, error) {
	for depth := 0; depth < pages; depth++ {
		body, status, _ := b.get(path)
		if status != http.StatusOK {
			return "", depth, fmt.Errorf("GET %s: status %d", path, status)
		}
		doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
		if err != nil {
			return "", depth, err
		}
		next, ok := doc.Find(`a[rel="next"]`).First().Attr("href")
		if !ok {
			return path, depth, nil
		}
		path = next
	}
	return path, pages, nil
}

// Vocabulary of the seeded alerts: a text search for a service hits about
// one alert in forty, one for a service and a symptom about one in a
// thousand.
var (
	seedServices = []string{"checkout", "payments", "postgres", "redis", "search", "auth", "gateway", "billing", "kafka", "cdn",
		"dns", "ingress", "mysql", "mongo", "elastic", "rabbitmq", "nginx", "haproxy", "vault", "consul",
		"etcd", "kubelet", "scheduler", "api", "web", "mobile", "email", "sms", "webhooks", "reports",
		"analytics", "etl", "warehouse", "backup", "storage", "s3", "ldap", "sso", "ledger", "inventory"}
	seedSymptoms = []string{"latency above 2s", "returning 502s", "disk full", "not responding", "error rate spike",
		"certificate expiring", "replication lag", "OOM killed", "CPU at 100%", "queue backlog",
		"connection refused", "timeout", "5xx burst", "memory leak", "pod crashloop",
		"slow queries", "packet loss", "deadlock detected", "health check failing", "TLS handshake errors",
		"rate limited", "split brain", "degraded", "failover triggered", "backup failed"}
	seedUrgencyWords = []string{"critical", "sev-1", "high", "p2", "medium", "sev3", "low", "p4"}
	seedRegions      = []string{"eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-south-1"}
	seedTriggers     = []string{"alert", "outage", "sev", "down", "incident"}
	seedUsers        = []string{"alice", "bob", "chandra", "dmitri", "eve", "farid"}
	seedIDChars      = "abcdefghijklmnopqrstuvwxyz234567"
)

// recentAlerts is how many of the newest seeded alerts are mostly still
// open or acknowledged.
const recentAlerts = 500

const seedColumns = `public_id, account_id, integration_id, title, description, urgency, status, dedup_key, dedup_count,
	additional_data, raw_request, raw_content_type, created_at, acknowledged_at, acknowledged_by_id, acknowledged_by,
	resolved_at, resolved_by_id, resolved_by`

// seedAlerts inserts n alerts over integrations, oldest first, over about
// two years: most resolved, the newest often open or acknowledged, as a team
// would have them. Rows go in big transactions of multi-row inserts; the
// full-text index is filled by its trigger as with real intake.
func seedAlerts(ctx context.Context, db *models.DB, accountID uint, integrations []*models.Integration, n int, out io.Writer) error {
	sqlDB, err := db.DB.DB()
	if err != nil {
		return err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// A fresh benchmark file: no need to fsync while seeding.
	for _, p := range []string{`PRAGMA synchronous = OFF`, `PRAGMA cache_size = -262144`} {
		if _, err := conn.ExecContext(ctx, p); err != nil {
			return err
		}
	}
	defer conn.ExecContext(ctx, `PRAGMA synchronous = FULL`)
	defer conn.ExecContext(ctx, `PRAGMA cache_size = -2000`)

	const perInsert = 500
	const perTx = 50_000
	cols := strings.Count(seedColumns, ",") + 1
	placeholders := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	stmtFor := map[int]*sql.Stmt{}
	prepare := func(rows int) (*sql.Stmt, error) {
		if st, ok := stmtFor[rows]; ok {
			return st, nil
		}
		q := "INSERT INTO alerts (" + seedColumns + ") VALUES " + strings.TrimSuffix(strings.Repeat(placeholders+",", rows), ",")
		st, err := conn.PrepareContext(ctx, q)
		stmtFor[rows] = st
		return st, err
	}
	defer func() {
		for _, st := range stmtFor {
			st.Close()
		}
	}()

	// Rows are made on another goroutine while these are inserted.
	chunks := make(chan []any, 4)
	go func() {
		defer close(chunks)
		rng := rand.New(rand.NewPCG(7, uint64(n)))
		now := time.Now().UTC().Truncate(time.Second)
		span := 2 * 365 * 24 * time.Hour
		for i := 0; i < n; {
			rows := min(perInsert, n-i, perTx-i%perTx)
			args := make([]any, 0, rows*cols)
			for r := range rows {
				args = appendSeedAlert(args, rng, accountID, integrations, i+r, n, now, span)
			}
			select {
			case chunks <- args:
			case <-ctx.Done():
				return
			}
			i += rows
		}
	}()
	lastReport := time.Now()
	var tx *sql.Tx
	for i := 0; i < n; {
		if i%perTx == 0 {
			if tx, err = conn.BeginTx(ctx, nil); err != nil {
				return err
			}
		}
		args, ok := <-chunks
		if !ok {
			tx.Rollback()
			return ctx.Err()
		}
		rows := len(args) / cols
		st, err := prepare(rows)
		if err != nil {
			tx.Rollback()
			return err
		}
		if _, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...); err != nil {
			tx.Rollback()
			return err
		}
		i += rows
		if i%perTx == 0 || i == n {
			if err := tx.Commit(); err != nil {
				return err
			}
			if n >= 100_000 && (time.Since(lastReport) > 2*time.Second || i == n) {
				fmt.Fprintf(out, "  seeding: %d / %d alerts\n", i, n)
				lastReport = time.Now()
			}
		}
	}
	return nil
}

// appendSeedAlert appends the column values of alert number i of n.
func appendSeedAlert(args []any, rng *rand.Rand, accountID uint, integrations []*models.Integration, i, n int, now time.Time, span time.Duration) []any {
	// Most alerts come from the first integration, as on a real team.
	k := rng.IntN(2 * len(integrations))
	if k >= len(integrations) {
		k = 0
	}
	integ := integrations[k]
	created := now.Add(-span + time.Duration(float64(span)*float64(i)/float64(n)))
	service := seedServices[rng.IntN(len(seedServices))]
	symptom := seedSymptoms[rng.IntN(len(seedSymptoms))]
	urgencyWord := ""
	if rng.IntN(3) > 0 {
		urgencyWord = seedUrgencyWords[rng.IntN(len(seedUrgencyWords))] + " "
	}
	trigger := seedTriggers[rng.IntN(len(seedTriggers))]
	text := trigger + " " + urgencyWord + service + " " + symptom + " in " + seedRegions[rng.IntN(len(seedRegions))] +
		" on " + service + "-" + strconv.Itoa(rng.IntN(40)+1)
	if rng.IntN(5) == 0 {
		text += "\nRunbook: https://wiki.example.com/runbooks/" + service + "\nDashboard shows the " + symptom + " since " + created.Add(-3*time.Minute).Format("15:04") + " UTC."
	}
	title, description := models.TitleAndDescription(text)
	urgency := models.UrgencyFromText(text, integ.DefaultUrgency)
	postID := seedID(rng)
	user := seedUsers[rng.IntN(len(seedUsers))]
	postURL, _ := integ.SiteLink("/acme/pl/" + postID)
	data, _ := json.Marshal(models.AdditionalData{
		Fields: []models.DataField{{Name: "Trigger", Value: trigger}, {Name: "Channel", Value: "ops-" + service}, {Name: "User", Value: user}, {Name: "Team", Value: "acme"}, {Name: "Post id", Value: postID}},
		Links:  []models.DataLink{{Label: "Mattermost post", URL: postURL}}})
	raw, _ := json.Marshal(seedRequest{Token: "****0xyz", TeamID: "iom8hs1izbda7nbg1497g6985r", TeamDomain: "acme",
		ChannelID: "n15qytbp638eb8iqwtfx6ex9ga", ChannelName: "ops-" + service, Timestamp: created.UnixMilli(),
		UserID: "98hybztiaf855p8mshg3fg59th", UserName: user, PostID: postID, Text: text, TriggerWord: trigger})

	// The newest alerts are often still open or acknowledged; older ones
	// are resolved but for a few forgotten ones. A team has about as many
	// alerts on its plate whether its history holds a thousand or a
	// million.
	status := models.StatusResolved
	roll := rng.IntN(1000)
	if n-i <= recentAlerts {
		switch {
		case roll < 500:
			status = models.StatusOpen
		case roll < 750:
			status = models.StatusAcknowledged
		}
	} else {
		switch {
		case roll < 2:
			status = models.StatusOpen
		case roll < 4:
			status = models.StatusAcknowledged
		}
	}
	var ackAt, resAt *time.Time
	var ackBy, resBy string
	if status != models.StatusOpen && rng.IntN(4) > 0 {
		t := created.Add(time.Duration(rng.IntN(600)+30) * time.Second)
		ackAt, ackBy = &t, user+"@example.com"
	}
	if status == models.StatusResolved {
		t := created.Add(time.Duration(rng.IntN(7200)+700) * time.Second)
		resAt, resBy = &t, user+"@example.com"
	}
	dedup := 0
	if rng.IntN(10) == 0 {
		dedup = rng.IntN(5) + 1
	}
	return append(args, seedAlertID(created, rng), accountID, integ.ID, title, description, string(urgency), string(status), postID, dedup,
		string(data), string(raw), "application/json", created, ackAt, nil, ackBy, resAt, nil, resBy)
}

// seedRequest is the body Mattermost sent, as stored (token masked).
type seedRequest struct {
	Token       string `json:"token"`
	TeamID      string `json:"team_id"`
	TeamDomain  string `json:"team_domain"`
	ChannelID   string `json:"channel_id"`
	ChannelName string `json:"channel_name"`
	Timestamp   int64  `json:"timestamp"`
	UserID      string `json:"user_id"`
	UserName    string `json:"user_name"`
	PostID      string `json:"post_id"`
	Text        string `json:"text"`
	TriggerWord string `json:"trigger_word"`
	FileIDs     string `json:"file_ids"`
}

// seedAlertID makes an id shaped like the intake writer's: "alt_", the
// creation time in milliseconds (10 base32 characters), 16 random ones.
func seedAlertID(created time.Time, rng *rand.Rand) string {
	var b [30]byte
	copy(b[:], "alt_")
	ms := uint64(created.UnixMilli())
	for i := 13; i >= 4; i-- {
		b[i] = seedIDChars[ms&31]
		ms >>= 5
	}
	for i := 14; i < len(b); i++ {
		b[i] = seedIDChars[rng.IntN(len(seedIDChars))]
	}
	return string(b[:])
}

// seedID returns 26 random lowercase base32 characters, like Klaxon's and
// Mattermost's ids.
func seedID(rng *rand.Rand) string {
	var b [26]byte
	for i := range b {
		b[i] = seedIDChars[rng.IntN(len(seedIDChars))]
	}
	return string(b[:])
}
