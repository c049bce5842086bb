package main

import (
	"testing"
	"time"
)

// BenchmarkRestartFullHistory measures a restart of `estimate --until-idle` over the whole
// shared history (282,174 blocks on the embedded broker, the ClickHouse server) after a first
// run wrote everything, with nothing new: it reports the first run's seconds and, per restart,
// seconds, rows inserted and estimates published (0 and 0 when nothing changed).
func BenchmarkRestartFullHistory(b *testing.B) {
	r := newFaultRig(b, "bench")
	collectSharedHistory(b, r.kCfg.Brokers[0])
	args := append(r.args("estimate", "--until-idle"), "--estimate.draws=2000")
	start := time.Now()
	if code, _, stderr := runCmd(b, nil, args...); code != exitOK {
		b.Fatalf("first run: exit %d: %s", code, stderr)
	}
	first := time.Since(start)
	before, msgs := r.inserted(), r.published()
	b.ResetTimer()
	for range b.N {
		if code, _, stderr := runCmd(b, nil, args...); code != exitOK {
			b.Fatalf("restart: exit %d: %s", code, stderr)
		}
	}
	b.StopTimer()
	var rows uint64
	for table, n := range r.inserted() {
		rows += n - before[table]
	}
	b.ReportMetric(first.Seconds(), "first-run-s")
	b.ReportMetric(float64(rows)/float64(b.N), "rows-written/restart")
	b.ReportMetric(float64(r.published()-msgs)/float64(b.N), "estimates-published/restart")
}
