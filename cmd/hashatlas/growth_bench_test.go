package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
)

// BenchmarkHistoryGrowth measures how the estimator's first run and its restarts grow with the
// history: simulated worlds (seed 1) of 2, 4, 8 and 16 years ending 2026-01-01 — 1×, 2×, 4× and
// 8× of two years — on the embedded broker, into the ClickHouse server, `estimate --until-idle`
// with 2,000 draws. Per world: the first run's wall time and peak RSS (a process of its own:
// peakRSS); restarts after that clean stop and after a kill -9 of an estimator following the
// group (started, caught up, killed), the median of three of each, with the rows they inserted
// and the estimates they published (nothing is new: both should be 0); last, a restart with one
// new block on the tip, which loads the whole history before applying it
// (estimate.Service.RestoreRecent), so it grows with it. It reports the least-squares slopes per
// block of the first run's wall time and peak RSS over the four worlds, each restart at 16 years
// over the same at 4 years (the 4× of 5 years, 20 years, would start before the genesis
// block, which simulated blocks may not: they are validated like real ones), and the most rows
// and messages a restart wrote.
func BenchmarkHistoryGrowth(b *testing.B) {
	var blocks, wall, rss, restart, killed, newBlock []float64
	var rewritten, republished float64
	for range b.N {
		blocks, wall, rss, restart, killed, newBlock = nil, nil, nil, nil, nil, nil
		for _, years := range []int{2, 4, 8, 16} {
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
			start := time.Now()
			first := startChild(b, args...)
			peak := peakRSS(first)
			if first.code != exitOK {
				b.Fatalf("estimate over %d years: exit %d: %s", years, first.code, first.stderr.String())
			}
			firstWall := time.Since(start)
			restartOnce := func() time.Duration {
				rows, msgs := r.inserted(), r.published()
				start := time.Now()
				if code, _, stderr := runCmd(b, nil, args...); code != exitOK {
					b.Fatalf("restart over %d years: exit %d: %s", years, code, stderr)
				}
				took := time.Since(start)
				for table, n := range r.inserted() {
					rewritten = max(rewritten, float64(n-rows[table]))
				}
				republished = max(republished, float64(r.published()-msgs))
				return took
			}
			// Three of each, their medians: a restart is half a second, within the VM's noise.
			var clean, afterKills []time.Duration
			for range 3 {
				clean = append(clean, restartOnce())
			}
			for range 3 {
				follower := startChild(b, append(r.args("estimate"), "--estimate.draws=2000", "--log.level=info")...)
				for deadline := time.Now().Add(60 * time.Second); !strings.Contains(follower.stderr.String(), "estimates written"); time.Sleep(20 * time.Millisecond) {
					if time.Now().After(deadline) {
						b.Fatalf("the follower over %d years did not catch up within 60 s:\n%s", years, lastLines(follower.stderr.String(), 20))
					}
				}
				if err := follower.cmd.Process.Kill(); err != nil {
					b.Fatal(err)
				}
				<-follower.done
				afterKills = append(afterKills, restartOnce())
			}
			again, afterKill := median3(clean), median3(afterKills)
			if got := r.count("SELECT height FROM blocks FINAL"); got != uint64(n) {
				b.Fatalf("%d years: %d blocks stored, want %d", years, got, n)
			}
			r.publish(nextBlock(b, r))
			start = time.Now()
			if code, _, stderr := runCmd(b, nil, args...); code != exitOK {
				b.Fatalf("restart with a new block over %d years: exit %d: %s", years, code, stderr)
			}
			withNew := time.Since(start)
			blocks = append(blocks, float64(n))
			wall = append(wall, firstWall.Seconds())
			rss = append(rss, float64(peak))
			restart = append(restart, again.Seconds())
			killed = append(killed, afterKill.Seconds())
			newBlock = append(newBlock, withNew.Seconds())
			b.Logf("%2d years: %d blocks, first run %.1f s at %.0f MB peak RSS, restart %.2f s, after kill -9 %.2f s, with a new block %.2f s",
				years, n, firstWall.Seconds(), float64(peak)/1e6, again.Seconds(), afterKill.Seconds(), withNew.Seconds())
		}
	}
	b.ReportMetric(slope(blocks, wall)*1e6, "wall-µs/block")
	b.ReportMetric(slope(blocks, rss), "rss-B/block")
	b.ReportMetric(restart[3]/restart[1], "restart-4x/1x")
	b.ReportMetric(killed[3]/killed[1], "restart-after-kill-4x/1x")
	b.ReportMetric(newBlock[3]/newBlock[1], "restart-new-block-4x/1x")
	b.ReportMetric(blocks[3]/blocks[0], "blocks-8x/1x")
	b.ReportMetric(rewritten, "max-rows-written/restart")
	b.ReportMetric(republished, "max-estimates-published/restart")
}

// median3 is the median of three durations.
func median3(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[1]
}

// peakRSS waits for ch to exit and returns the highest resident set its program reached, in
// bytes: the kernel's high-water mark of its address space (VmHWM), read every 10 ms until it
// exits. Not the rusage's maximum RSS: that one keeps what the process held before exec — a
// fork of this benchmark, with the broker's copy of the simulated topics resident.
func peakRSS(ch *child) int64 {
	var peak int64
	status := fmt.Sprintf("/proc/%d/status", ch.cmd.Process.Pid)
	for {
		if b, err := os.ReadFile(status); err == nil {
			for line := range strings.Lines(string(b)) {
				var kb int64
				if _, err := fmt.Sscanf(line, "VmHWM: %d kB", &kb); err == nil {
					peak = max(peak, kb*1024)
				}
			}
		}
		select {
		case <-ch.done:
			return peak
		case <-time.After(10 * time.Millisecond):
		}
	}
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

// nextBlock is a block on top of the rig's stored chain: ten minutes after its last block, with
// its bits and pool.
func nextBlock(b *testing.B, r *faultRig) schemas.Block {
	b.Helper()
	res, err := r.db.Query(r.ctx, "SELECT height, time, bits, pool FROM blocks ORDER BY height DESC LIMIT 1")
	if err != nil || len(res.Rows) != 1 {
		b.Fatalf("the last block: %v", err)
	}
	row := res.Rows[0]
	bits := fmt.Sprintf("%08x", row[2].(uint32))
	work, err := schemas.WorkFromBits(bits)
	if err != nil {
		b.Fatal(err)
	}
	diff, _ := schemas.DifficultyFromBits(bits)
	t := row[1].(time.Time).Add(10 * time.Minute)
	return schemas.Block{Height: int64(row[0].(uint32)) + 1, Time: t, Bits: bits, Difficulty: diff, Work: work,
		Pool: row[3].(string), AttributionMethod: schemas.AttributionFile, Source: "test", ObservedAt: t}
}
