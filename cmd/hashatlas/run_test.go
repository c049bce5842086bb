package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/sinks/clickhouse"
)

// TestRunCollectsOnScheduleAndEstimatesLive: `run` with the file collector scheduled and the
// estimator following, on the embedded broker: the collector's first pass publishes at once
// (its settings come from its own environment variables), the estimator writes the blocks'
// estimates while it follows, /readyz-style health turns ready, and the command returns
// cleanly when stopped.
func TestRunCollectsOnScheduleAndEstimatesLive(t *testing.T) {
	db := fmt.Sprintf("hashatlas_run_%d", rand.Uint64()%1_000_000_000)
	dropDatabaseAtEnd(t, db)
	t.Setenv("HASHATLAS_BLOCKS", firstBlocks(t, 1500))
	t.Setenv("HASHATLAS_DIFFICULTY", filepath.Join(sharedData(t), "difficulty_epochs.csv"))
	c := newCLI("run", io.Discard, io.Discard)
	runFn, err := setupRun(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.parse([]string{"--kafka.embedded", "--kafka.embedded-port=0", "--log.level=warn", "--run.collectors=file=@every 1h",
		"--clickhouse.addr=" + testClickHouseAddr(), "--clickhouse.database=" + db}); err != nil {
		t.Fatal(err)
	}
	defer c.close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runFn(ctx) }()

	cfg := clickhouse.DefaultConfig()
	cfg.Addr, cfg.Database = testClickHouseAddr(), db
	deadline := time.Now().Add(60 * time.Second)
	var conn *clickhouse.DB
	for {
		if conn == nil {
			conn, _ = clickhouse.Open(ctx, cfg, nil, nil)
		}
		if conn != nil {
			res, err := conn.Query(ctx, "SELECT count() FROM blocks_latest")
			if err == nil && fmt.Sprint(res.Rows[0][0]) == "1500" {
				res, err = conn.Query(ctx, "SELECT sum(blocks) FROM network_hashrate_latest WHERE window = 'day'")
				if err == nil && fmt.Sprint(res.Rows[0][0]) == "1500" {
					break
				}
			}
		}
		select {
		case err := <-done:
			t.Fatalf("run stopped early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("run did not estimate the 1500 collected blocks within 60 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	defer conn.Close()
	for c.ready(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not ready after catching up: %v", c.ready(ctx))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The lag gauge the lag alert watches comes down to 0 once the group committed every block
	// (ready only means within --estimate.max-lag; commits follow the writes by up to a second).
	reg, err := c.metrics()
	if err != nil {
		t.Fatal(err)
	}
	for {
		v, ok := gaugeValue(t, reg, "hashatlas_estimator_lag_messages", "hashatlas-estimator")
		if !ok {
			t.Fatal("no hashatlas_estimator_lag_messages gauge for the estimator's group")
		}
		if v == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hashatlas_estimator_lag_messages = %v after the estimator caught up, want 0", v)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v when stopped, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop within 30 s of its context ending")
	}
}
