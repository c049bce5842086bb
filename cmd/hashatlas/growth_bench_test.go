package main

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkHistoryGrowth measures how the estimator's first run and its restart grow with the
// history: simulated worlds (seed 1) of 4, 8 and 16 years ending 2026-01-01 — 1×, 2× and 4× — on
// the embedded broker, into the ClickHouse server, `estimate --until-idle` with 2,000 draws.
// Per world it takes the first run's wall time, the peaks of its heap (the process's heap
// objects, garbage included, and its live heap as of the last collection, above what they were
// before the run: the broker's copy of the topics is made before, by simulate), and a restart's
// wall time with the rows it inserted and the estimates it
// published (nothing is new: both should be 0). It reports the least-squares slopes per block
// of wall, heap and live heap over the three worlds (the heap's peak depends on when the
// collector ran; the live heap's less), the restart at 4× over the restart at 1×, and the
// most rows and messages a restart wrote.
//
// 8× (32 years) is not measured: it would start before the genesis block, and simulated
// blocks obey the same time bounds as real ones (they are validated like them).
func BenchmarkHistoryGrowth(b *testing.B) {
	var blocks, wall, heap, live, restart []float64
	var rewritten, republished float64
	for range b.N {
		blocks, wall, heap, live, restart = nil, nil, nil, nil, nil
		for _, years := range []int{4, 8, 16} {
			r := newFaultRig(b, fmt.Sprintf("growth%d", years))
			code, out, stderr := runCmd(b, nil, "simulate", "--kafka.brokers="+r.kCfg.Brokers[0], "--sim.seed=1",
				fmt.Sprintf("--sim.from=%d-01-01", 2026-years), "--sim.to=2026-01-01", "--log.level=warn")
			if code != exitOK {
				b.Fatalf("simulate %d years: exit %d: %s", years, code, stderr)
			}
			var n int
			if _, err := fmt.Sscanf(out[strings.Index(out, "published"):], "published %d blocks", &n); err != nil {
				b.Fatalf("simulate summary %q: %v", out, err)
			}
			args := append(r.args("estimate", "--until-idle"), "--estimate.draws=2000")
			run := func() time.Duration {
				start := time.Now()
				if code, _, stderr := runCmd(b, nil, args...); code != exitOK {
					b.Fatalf("estimate over %d years: exit %d: %s", years, code, stderr)
				}
				return time.Since(start)
			}
			runtime.GC()
			base, baseLive := heapObjects(), liveHeap()
			stop := make(chan struct{})
			var peak, peakLive atomic.Uint64
			go func() {
				for {
					if h := heapObjects(); h > peak.Load() {
						peak.Store(h)
					}
					if h := liveHeap(); h > peakLive.Load() {
						peakLive.Store(h)
					}
					select {
					case <-stop:
						return
					case <-time.After(5 * time.Millisecond):
					}
				}
			}()
			first := run()
			close(stop)
			rows, msgs := r.inserted(), r.published()
			again := run()
			for table, n := range r.inserted() {
				rewritten = max(rewritten, float64(n-rows[table]))
			}
			republished = max(republished, float64(r.published()-msgs))
			if got := r.count("SELECT height FROM blocks FINAL"); got != uint64(n) {
				b.Fatalf("%d years: %d blocks stored, want %d", years, got, n)
			}
			blocks = append(blocks, float64(n))
			wall = append(wall, first.Seconds())
			heap = append(heap, float64(peak.Load())-float64(base))
			live = append(live, float64(peakLive.Load())-float64(baseLive))
			restart = append(restart, again.Seconds())
			b.Logf("%2d years: %d blocks, first run %.1f s, heap peak +%.0f MB (live +%.0f MB), restart %.2f s", years, n, first.Seconds(), heap[len(heap)-1]/1e6, live[len(live)-1]/1e6, again.Seconds())
		}
	}
	b.ReportMetric(slope(blocks, wall)*1e6, "wall-µs/block")
	b.ReportMetric(slope(blocks, heap), "heap-B/block")
	b.ReportMetric(slope(blocks, live), "live-heap-B/block")
	b.ReportMetric(restart[2]/restart[0], "restart-4x/1x")
	b.ReportMetric(blocks[2]/blocks[0], "blocks-4x/1x")
	b.ReportMetric(rewritten, "max-rows-written/restart")
	b.ReportMetric(republished, "max-estimates-published/restart")
}

// heapObjects is the bytes of heap objects, live or not yet swept.
func heapObjects() uint64 { return readMetric("/memory/classes/heap/objects:bytes") }

// liveHeap is the bytes of heap objects the last collection found alive.
func liveHeap() uint64 { return readMetric("/gc/heap/live:bytes") }

func readMetric(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// slope is the least-squares slope of y over x.
func slope(x, y []float64) float64 {
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx /= float64(len(x))
	my /= float64(len(x))
	var sxy, sxx float64
	for i := range x {
		sxy += (x[i] - mx) * (y[i] - my)
		sxx += (x[i] - mx) * (x[i] - mx)
	}
	return sxy / sxx
}
