// Command klaxon-bench is Klaxon's own benchmark, run by `make bench`.
//
// In one run it measures
//   - intake: a real klaxon binary, started on a fresh database, under 64
//     keep-alive connections: first the ceiling endpoint (same Echo stack,
//     reads the body, stores nothing), then the real intake endpoint with
//     Mattermost JSON payloads; it prints requests/s, latency percentiles and
//     peak resident memory, checks the database against the answers, and
//     ends with "intake/ceiling ratio: X.XX";
//   - the alert list: it seeds 1,000,000 alerts (and 1,000) into fresh SQLite
//     files and times list pages, a filtered list, a deep page and a text
//     search through the real router, then builds the Insights rollup and
//     times the Insights page for each period.
//
// KLAXON_BENCH_DATABASE_URL=postgres://… also runs the intake part on
// PostgreSQL and with two klaxon nodes on one PostgreSQL database (each in a
// schema of its own, dropped afterwards); `make bench` sets it to a
// throwaway server when PostgreSQL is installed.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"
)

// options are the benchmark's knobs; the defaults are the targets.
type options struct {
	duration, warmup time.Duration
	rounds           int
	conns            int
	alerts           int
	small            int
	requests         int
	skipIntake       bool
	skipList         bool
	skipInsights     bool
	databaseURL      string
	cpuProfile       string
	serverProfile    string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "klaxon-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var o options
	fs := flag.NewFlagSet("klaxon-bench", flag.ContinueOnError)
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per endpoint (ceiling, intake), split over the rounds")
	fs.IntVar(&o.rounds, "rounds", 5, "rounds in which the ceiling and the intake endpoint take turns")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "warm-up before each measured slice")
	fs.IntVar(&o.conns, "conns", 64, "concurrent keep-alive connections")
	fs.IntVar(&o.alerts, "alerts", 1_000_000, "alerts seeded for the large alert-list measurement")
	fs.IntVar(&o.small, "small-alerts", 1_000, "alerts seeded for the small alert-list measurement")
	fs.IntVar(&o.requests, "requests", 200, "requests timed per alert-list case")
	fs.BoolVar(&o.skipIntake, "skip-intake", false, "skip the intake part")
	fs.BoolVar(&o.skipList, "skip-list", false, "skip the alert-list part (and Insights, measured on its databases)")
	fs.BoolVar(&o.skipInsights, "skip-insights", false, "skip the Insights page's measurement in the alert-list part")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write the benchmark process's CPU profile (seeding, alert list) to this file")
	fs.StringVar(&o.serverProfile, "server-profile", "", "write klaxon's CPU profile (execution trace if the name ends in .trace) during the last intake round's measured slice to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.rounds < 1 || o.duration < time.Duration(o.rounds)*100*time.Millisecond {
		return fmt.Errorf("-rounds must be at least 1, with at least 100ms of -duration per round")
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	o.databaseURL = getenv("KLAXON_BENCH_DATABASE_URL")
	ok := true
	if !o.skipIntake {
		pass, err := benchIntakeAll(ctx, o, stdout)
		if err != nil {
			return err
		}
		ok = ok && pass
	}
	if !o.skipList {
		pass, err := benchAlertList(ctx, o, stdout)
		if err != nil {
			return fmt.Errorf("alert list: %w", err)
		}
		ok = ok && pass
	}
	if !ok {
		return fmt.Errorf("some checks or targets failed (marked FAIL above)")
	}
	return nil
}

// benchIntakeAll builds klaxon once and measures the intake on SQLite and,
// when KLAXON_BENCH_DATABASE_URL names a PostgreSQL server, on PostgreSQL
// and with two nodes on it.
func benchIntakeAll(ctx context.Context, o options, out io.Writer) (bool, error) {
	dir, err := os.MkdirTemp("", "klaxon-bench-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintln(out, "building klaxon (go build -tags sqlite_fts5)…")
	bin := filepath.Join(dir, "klaxon")
	if err := buildKlaxon(ctx, bin); err != nil {
		return false, err
	}
	ok, err := benchIntake(ctx, o, out, bin, dir, "")
	if err != nil {
		return false, fmt.Errorf("intake on SQLite: %w", err)
	}
	if o.databaseURL == "" {
		fmt.Fprintln(out, "\n(KLAXON_BENCH_DATABASE_URL is not set: no PostgreSQL or two-node figures; `make bench` starts a throwaway PostgreSQL when one is installed)")
		return ok, nil
	}
	pass, err := benchIntake(ctx, o, out, bin, dir, o.databaseURL)
	if err != nil {
		return false, fmt.Errorf("intake on PostgreSQL: %w", err)
	}
	ok = ok && pass
	pass, err = benchTwoNodes(ctx, o, out, bin, dir, o.databaseURL)
	if err != nil {
		return false, fmt.Errorf("two nodes: %w", err)
	}
	return ok && pass, nil
}

// verdict marks a measured figure against its target.
func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "FAIL"
}
