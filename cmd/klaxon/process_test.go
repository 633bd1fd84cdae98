package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"klaxon/web/webtest"
)

// These helpers run the real klaxon binary as a child process, so that tests
// can kill it the way a crash or a deploy would.

var (
	binDir    string
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "klaxon-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// klaxonBinary builds cmd/klaxon once per test run and returns its path.
func klaxonBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		binPath = filepath.Join(binDir, "klaxon")
		cmd := exec.Command(goTool, "build", "-tags", "sqlite_fts5", "-o", binPath, ".")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out.String())
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// klaxonProcess is a running klaxon binary.
type klaxonProcess struct {
	URL    string
	cmd    *exec.Cmd
	out    *webtest.SyncBuffer
	exited chan struct{}
	err    error // from Wait, once exited is closed
}

// startKlaxon runs the binary on the SQLite file dbPath, on a free loopback
// port, and waits until it answers /healthz.
func startKlaxon(t *testing.T, dbPath string, args ...string) *klaxonProcess {
	t.Helper()
	bin := klaxonBinary(t)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KLAXON_") {
			env = append(env, kv)
		}
	}
	for attempt := 0; ; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		p := &klaxonProcess{URL: "http://" + addr, out: &webtest.SyncBuffer{}, exited: make(chan struct{})}
		p.cmd = exec.Command(bin, append([]string{"-addr", addr, "-base-url", p.URL, "-database", "sqlite:" + dbPath}, args...)...)
		p.cmd.Env = env
		p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.err = p.cmd.Wait(); close(p.exited) }()
		t.Cleanup(func() {
			select {
			case <-p.exited:
			default:
				p.cmd.Process.Kill()
				<-p.exited
			}
		})
		if p.ready(10 * time.Second) {
			return p
		}
		select {
		case <-p.exited:
			if attempt < 3 && strings.Contains(p.out.String(), "address already in use") {
				continue // another process took the port meanwhile
			}
			t.Fatalf("klaxon exited at start: %v\n%s", p.err, p.out.String())
		default:
			t.Fatalf("klaxon did not answer /healthz within 10 s\n%s", p.out.String())
		}
	}
}

func (p *klaxonProcess) ready(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return false
		default:
		}
		if resp, err := http.Get(p.URL + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// signal sends sig and waits for the process to exit.
func (p *klaxonProcess) signal(t *testing.T, sig syscall.Signal, timeout time.Duration) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
		return p.err
	case <-time.After(timeout):
		t.Fatalf("klaxon still running %v after %v\n%s", timeout, sig, p.out.String())
		return nil
	}
}

// delivery is one intake request of a flood and what became of it.
type delivery struct {
	postID  string
	body    string
	status  int    // 0 when no answer came
	answer  string // the body of the answer
	alertID string
	err     error
}

// flood posts JSON deliveries with distinct post ids from workers
// goroutines until stop is closed, counting 2xx answers in acked as they
// come, and returns every delivery.
func flood(url, integrationID, prefix string, workers int, stop <-chan struct{}, acked *atomic.Int64) []delivery {
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	defer client.CloseIdleConnections()
	var (
		mu   sync.Mutex
		all  []delivery
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				d := delivery{postID: fmt.Sprintf("%s-%d", prefix, next.Add(1))}
				d.body = fmt.Sprintf(`{"text":"outage %s","post_id":%q,"channel_id":"c1","timestamp":%d}`, d.postID, d.postID, time.Now().UnixMilli())
				send(client, url, integrationID, &d)
				if d.status/100 == 2 {
					acked.Add(1)
				}
				mu.Lock()
				all = append(all, d)
				mu.Unlock()
				if d.err != nil {
					time.Sleep(5 * time.Millisecond) // the server is gone; do not spin
				}
			}
		}()
	}
	wg.Wait()
	return all
}

// send posts d.body and records the answer in d.
func send(client *http.Client, url, integrationID string, d *delivery) {
	req, err := http.NewRequest(http.MethodPost, url+"/integration/"+integrationID, strings.NewReader(d.body))
	if err != nil {
		d.err = err
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		d.err = err
		return
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		d.err = fmt.Errorf("reading the answer: %w", err)
		return
	}
	d.status, d.answer = resp.StatusCode, buf.String()
	var ans struct {
		AlertID string `json:"alert_id"`
	}
	if json.Unmarshal(buf.Bytes(), &ans) == nil {
		d.alertID = ans.AlertID
	}
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
