package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// benchTwoNodes runs two klaxon processes on one PostgreSQL database, as
// scale-out does behind a load balancer, and sends the intake load to both:
// each connection takes the nodes in turn, so redeliveries often reach the
// other node than the first delivery did. It prints the combined rate and
// latency and checks the database against the answers (every 2xx stored
// once, redeliveries deduplicated across nodes). On one 2-core machine
// shared with the load generator this shows correctness and the cost of a
// second node, not a speed-up.
func benchTwoNodes(ctx context.Context, o options, out io.Writer, bin, dir, baseURL string) (bool, error) {
	dbURL, _, cleanup, err := benchDatabase(ctx, dir, baseURL)
	if err != nil {
		return false, err
	}
	defer cleanup()
	integ, token, err := setupIntegration(ctx, dbURL)
	if err != nil {
		return false, err
	}
	a, err := startKlaxonNamed(ctx, bin, dir, dbURL, "node-a.log")
	if err != nil {
		return false, err
	}
	defer a.stop()
	b, err := startKlaxonNamed(ctx, bin, dir, dbURL, "node-b.log")
	if err != nil {
		return false, err
	}
	defer b.stop()
	fmt.Fprintf(out, "\n== two nodes: klaxon pids %d and %d on one PostgreSQL database, %d connections each taking the nodes in turn, %s of warm-up then %s measured\n",
		a.cmd.Process.Pid, b.cmd.Process.Pid, o.conns, o.warmup, o.duration/2)
	fmt.Fprintln(out, "   (two cores shared by both nodes, PostgreSQL and the load generator: this shows correctness and overhead, not speed-up)")

	load := newLoad(o.conns)
	defer closeLoad(load)
	targets := []string{a.base + "/integration/" + integ, b.base + "/integration/" + integ}
	window := o.duration / 2
	measureFrom := time.Now().Add(o.warmup)
	deadline := measureFrom.Add(window)
	results := make([]*workerResult, len(load))
	var wg sync.WaitGroup
	for i, w := range load {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = w.runOn(ctx, targets, token, measureFrom, deadline)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return false, err
	}
	r := &loadResult{tally: newTally(), window: window}
	for _, wr := range results {
		r.tally.add(&wr.tally)
	}
	if len(r.latencies) == 0 {
		return false, fmt.Errorf("two nodes: every request failed (%d errors, first: %v)", r.transportErrors, firstErr(results))
	}
	p := percentiles(slicesClone(r.latencies), 50, 95, 99)
	fmt.Fprintf(out, "two nodes: %8.0f alerts+redeliveries/s combined   p50 %s   p95 %s   p99 %s\n", r.rps(), ms(p[0]), ms(p[1]), ms(p[2]))
	// Both nodes stop gracefully before the check: what they answered 2xx
	// must be stored, once.
	if err := a.stop(); err != nil {
		return false, fmt.Errorf("stop node A: %w", err)
	}
	if err := b.stop(); err != nil {
		return false, fmt.Errorf("stop node B: %w", err)
	}
	return checkStored(ctx, dbURL, r, out)
}
