package models

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkWriteBatch measures what one batch of the intake writer costs
// the writer alone, with no HTTP and no other goroutines competing: batches
// of a fixed size, written on a database that already holds alerts, with
// random Mattermost-like post ids and one request in ten a redelivery. It
// reports the writer thread's CPU time and the bytes it wrote per request,
// figures that move much less with the machine's load than a rate does.
func BenchmarkWriteBatch(b *testing.B) {
	for _, size := range []int{8, 24, 64} {
		b.Run("size="+strconv.Itoa(size), func(b *testing.B) { benchWriteBatch(b, size) })
	}
}

func benchWriteBatch(b *testing.B, size int) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:"+filepath.Join(b.TempDir(), "klaxon.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	u, err := db.CreateAccount(ctx, SignUp{Team: "Ops", Email: "ops@example.com", Password: "correct horse", Confirm: "correct horse"})
	if err != nil {
		b.Fatal(err)
	}
	integ, err := db.CreateIntegration(ctx, u.AccountID, IntegrationInput{Name: "Mattermost", DefaultUrgency: "medium", ReplyInChannel: true, SiteURL: "https://chat.example.com"})
	if err != nil {
		b.Fatal(err)
	}
	w, err := NewWriter(db, WriterOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	// The batches below are written on this goroutine's thread (the
	// writer's own goroutine idles on its empty queue), so that the
	// thread's CPU time and I/O are the batches' own.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	var recent []string
	batch := func() []*intakeJob {
		jobs := make([]*intakeJob, size)
		for i := range jobs {
			post := randomPostID()
			if len(recent) > 0 && i%10 == 9 {
				post = recent[len(recent)-1-i%len(recent)]
			} else {
				recent = append(recent, post)
				if len(recent) > 1000 {
					recent = recent[1:]
				}
			}
			raw := mattermostBenchBody(post, i)
			req := &IntakeRequest{IntegrationPublicID: integ.PublicID, Draft: benchDraft(post, i), Source: "10.0.0.7", ContentType: "application/json", Body: MaskToken(raw)}
			jobs[i] = &intakeJob{req: req, prep: prepare(req), queued: time.Now(), done: make(chan struct{}, 1)}
		}
		return jobs
	}
	write := func(jobs []*intakeJob) {
		w.commit(jobs)
		for _, j := range jobs {
			<-j.done
			if !j.result.Outcome.OK() {
				b.Fatalf("%s: %s %v", j.result.Outcome, j.result.Message, j.result.Err)
			}
		}
	}
	for range 50_000 / size { // a database that is not new
		write(batch())
	}
	b.ResetTimer()
	cpu0, io0 := threadCPU(b), threadWritten(b)
	var gen time.Duration
	for range b.N {
		t := time.Now()
		jobs := batch()
		gen += time.Since(t)
		write(jobs)
	}
	b.StopTimer()
	cpu, wrote := threadCPU(b)-cpu0-gen, threadWritten(b)-io0
	reqs := float64(b.N * size)
	b.ReportMetric(float64(cpu.Microseconds())/reqs, "cpu-µs/req")
	b.ReportMetric(float64(wrote)/1024/reqs, "KiB-written/req")
}

func randomPostID() string {
	var r [16]byte
	rand.Read(r[:])
	return strings.ToLower(idEncoding.EncodeToString(r[:]))[:26]
}

func mattermostBenchBody(post string, i int) string {
	urg := []string{"critical", "sev-2", "p3", "low", "", "", "high"}[i%7]
	return fmt.Sprintf(`{"token":"fsjg44c9ojduudat814ue9uf7y","team_id":"iom8hs1izbda7nbg1497g6985r","team_domain":"alerts","channel_id":"n15qytbp638eb8iqwtfx6ex9ga","channel_name":"ops","timestamp":%d,"user_id":"98hybztiaf855p8mshg3fg59th","user_name":"oncall","post_id":%q,"text":"alert %s checkout latency above 2s on host-%d","trigger_word":"alert","file_ids":""}`,
		time.Now().UnixMilli(), post, urg, i)
}

// benchDraft is the draft web/mattermost makes of mattermostBenchBody (this
// package cannot import it): the same fields, link and dedup key.
func benchDraft(post string, i int) *AlertDraft {
	text := fmt.Sprintf("alert %s checkout latency above 2s on host-%d", []string{"critical", "sev-2", "p3", "low", "", "", "high"}[i%7], i)
	title, desc := TitleAndDescription(text)
	return &AlertDraft{Title: title, Description: desc, Urgency: UrgencyFromText(text, ""), DedupKey: post, ReplyChannel: "ops",
		Fields: []DataField{{"Trigger", "alert"}, {"Channel", "ops"}, {"User", "oncall"}, {"Team", "alerts"}, {"Post id", post}},
		Links:  []DataLink{{"Mattermost post", "/alerts/pl/" + post}}}
}

// threadCPU is the calling thread's CPU time, user and system.
func threadCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// threadWritten is how many bytes the calling thread has written with
// write system calls.
func threadWritten(tb testing.TB) int64 {
	raw, err := os.ReadFile("/proc/thread-self/io")
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return n
		}
	}
	tb.Fatal("no wchar in /proc/thread-self/io")
	return 0
}
