package main

import (
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
)

// inserted counts the rows ever inserted into each state table (no FINAL: a row written again
// counts again, until a merge).
func (r *faultRig) inserted() map[string]uint64 {
	r.t.Helper()
	out := map[string]uint64{}
	for _, table := range stateTables {
		if table == "blocks_canonical" {
			continue
		}
		out[table] = r.count("SELECT 1 FROM " + table)
	}
	return out
}

// published is the number of messages on the estimates topic.
func (r *faultRig) published() int64 {
	r.t.Helper()
	n, err := r.reader.EndTotal(r.ctx, []string{schemas.TopicEstimates})
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}

// TestRestartWritesOnlyWhatChanged (issue 17, incremental restart): a second `estimate
// --until-idle` with no new input writes no row and publishes no message; one after a new day of
// blocks writes those blocks and the estimates of the windows they changed, nothing else — and
// the tables equal those of one run over all the input.
func TestRestartWritesOnlyWhatChanged(t *testing.T) {
	var days []schemas.Message
	for d := range 10 {
		days = append(days, faultDay(d)...)
	}
	r := newFaultRig(t, "restart")
	r.publish(days...)
	r.estimateUntilIdle()
	rows, msgs := r.inserted(), r.published()
	if rows["blocks"] != 1440 || rows["network_hashrate"] == 0 || msgs == 0 {
		t.Fatalf("first run: %v rows, %d messages", rows, msgs)
	}

	r.estimateUntilIdle()
	again, againMsgs := r.inserted(), r.published()
	for table, n := range again {
		if n != rows[table] {
			t.Errorf("a restart with no new input inserted %d rows into %s", n-rows[table], table)
		}
	}
	if againMsgs != msgs {
		t.Errorf("a restart with no new input published %d estimates", againMsgs-msgs)
	}

	r.publish(faultDay(10)...)
	r.estimateUntilIdle()
	after, afterMsgs := r.inserted(), r.published()
	if d := after["blocks"] - again["blocks"]; d != 144 {
		t.Errorf("the restart after one new day inserted %d blocks, want its 144", d)
	}
	// The new day, its week and month, and the day before (final now): at most 2 days, 2 weeks
	// and 1 month — not the 10 days, 2 weeks and 1 month of the history.
	if d := after["network_hashrate"] - again["network_hashrate"]; d == 0 || d > 6 {
		t.Errorf("the restart after one new day wrote %d network rows, want the few windows it changed (1-6 with the last-n row)", d)
	}
	if d := afterMsgs - againMsgs; d <= 0 || d >= msgs/2 {
		t.Errorf("the restart after one new day published %d estimates (the first run %d)", d, msgs)
	}

	whole := newFaultRig(t, "restartwhole")
	whole.publish(append(days, faultDay(10)...)...)
	whole.estimateUntilIdle()
	sameTables(t, whole.checksums(), r.checksums())
}

// TestKill9WhileFollowingThenRestartGivesTheSameTables (issue 17, restart after kill -9): the
// estimator follows its group in a process of its own while days of blocks stream in and is
// killed with SIGKILL mid-stream — rows written and not committed, maybe a flush cut in half.
// The next start restores from ClickHouse (it says so), catches up, and every table equals
// that of one undisturbed run over the same input.
func TestKill9WhileFollowingThenRestartGivesTheSameTables(t *testing.T) {
	const days = 12
	r := newFaultRig(t, "kill9")
	for d := range 4 {
		r.publish(faultDay(d)...)
	}
	args := append(r.args("estimate"), "--log.level=info", "--shutdown.timeout=5s")
	first := startChild(t, args...)
	r.caughtUp()
	for d := 4; d < 8; d++ {
		r.publish(faultDay(d)...)
		time.Sleep(150 * time.Millisecond)
	}
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-first.done
	for d := 8; d < days; d++ {
		r.publish(faultDay(d)...)
	}
	second := startChild(t, args...)
	r.caughtUp()
	if _, ok := second.terminate(t, 20*time.Second); !ok {
		t.Fatalf("the restarted estimator did not stop on SIGTERM:\n%s", second.stderr.String())
	}
	if !strings.Contains(second.stderr.String(), "state restored from the store") {
		t.Fatalf("the restart did not restore from the store:\n%s", lastLines(second.stderr.String(), 20))
	}

	whole := newFaultRig(t, "kill9whole")
	for d := range days {
		whole.publish(faultDay(d)...)
	}
	whole.estimateUntilIdle()
	sameTables(t, whole.checksums(), r.checksums())
}
