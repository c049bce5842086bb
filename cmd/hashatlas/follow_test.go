package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/estimate"
	"github.com/hashatlas/hashatlas/schemas"
	"github.com/hashatlas/hashatlas/sinks/clickhouse"
	"github.com/hashatlas/hashatlas/sinks/kafka"
	"github.com/sirupsen/logrus"
)

// TestEstimatorFollowsNewBlocksAndWritesThemBeforeCommitting runs the long-running estimator
// (estimate.Run without --until-idle) over a broker and the ClickHouse server: blocks published
// after it started reach network_hashrate, and the group's offsets are committed.
func TestEstimatorFollowsNewBlocksAndWritesThemBeforeCommitting(t *testing.T) {
	broker, err := kafka.StartEmbedded(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	kCfg := kafka.DefaultConfig()
	kCfg.Brokers = []string{broker.Addr()}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, kCfg, schemas.Topics()); err != nil {
		t.Fatal(err)
	}
	chCfg := clickhouse.DefaultConfig()
	chCfg.Addr, chCfg.Database = testClickHouseAddr(), fmt.Sprintf("hashatlas_follow_%d", rand.Uint64()%1_000_000_000)
	dropDatabaseAtEnd(t, chCfg.Database)
	chCfg.FlushInterval = 100 * time.Millisecond
	db, err := clickhouse.Open(ctx, chCfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	migrations, _ := schemas.Migrations()
	if _, err := clickhouse.Migrate(ctx, db, migrations, nil); err != nil {
		t.Fatal(err)
	}
	store, err := clickhouse.NewEstimateStore(ctx, db, chCfg.WriterConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := kafka.NewWriter(kCfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	tr, err := kafka.NewTopicReader(kCfg, nil)
	if err != nil {
		t.Fatal(err)
	}

	bits := "17034219"
	work, _ := schemas.WorkFromBits(bits)
	diff, _ := schemas.DifficultyFromBits(bits)
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	blocksOfDay := func(d int) []schemas.Message {
		var out []schemas.Message
		for i := 0; i < 144; i++ {
			out = append(out, schemas.Block{Height: int64(d*144 + i), Time: day.AddDate(0, 0, d).Add(time.Duration(i) * 10 * time.Minute),
				Bits: bits, Difficulty: diff, Work: work, Pool: []string{"alpha", "beta"}[i%2],
				AttributionMethod: schemas.AttributionFile, Source: "test", ObservedAt: day})
		}
		return out
	}
	if err := w.Publish(ctx, blocksOfDay(0)...); err != nil {
		t.Fatal(err)
	}

	model := estimate.NewModel()
	model.Draws = 200
	svc := estimate.NewService(estimate.ServiceConfig{Model: model, RecentBlocks: 10}, store, w, nil)
	group := fmt.Sprintf("follow-%d", rand.Uint64())
	src := &kafkaSource{cfg: kCfg, group: group, reader: tr, log: discardLogger(), svc: svc}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	health := estimate.NewHealth(src.Lag, 0)
	if err := health.Ready(ctx); err == nil {
		t.Fatal("ready before the estimator started")
	}
	go func() { done <- estimate.Run(runCtx, svc, src, false, health, discardLogger()) }()

	dayBlocks := func(d int) uint64 {
		res, err := db.Query(ctx, fmt.Sprintf("SELECT toUInt64(sum(blocks)) FROM network_hashrate FINAL WHERE window = 'day' AND window_start = toDateTime('%s', 'UTC')", day.AddDate(0, 0, d).Format("2006-01-02 15:04:05")))
		if err != nil || len(res.Rows) == 0 {
			return 0
		}
		v, _ := res.Rows[0][0].(uint64)
		return v
	}
	waitUntil := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if ok() {
				return
			}
		}
		t.Fatalf("timed out waiting for %s", what)
	}
	waitUntil("day 1 from the replay", func() bool { return dayBlocks(0) == 144 })

	// Published while the estimator runs: reaches ClickHouse through the group consumer.
	if err := w.Publish(ctx, blocksOfDay(1)...); err != nil {
		t.Fatal(err)
	}
	waitUntil("day 2, followed live", func() bool { return dayBlocks(1) == 144 })
	// Ready once the commits caught up with the topic's end (lag 0, the bound given).
	waitUntil("readiness with no lag", func() bool { return health.Ready(ctx) == nil })
	stop()
	if err := <-done; err != nil {
		t.Fatalf("estimator: %v", err)
	}
	// The group committed offsets past every block of day 2 (commits follow the flush).
	committed, err := tr.CommittedTotal(ctx, group, schemas.TopicBlocks)
	if err != nil {
		t.Fatal(err)
	}
	if committed != 288 {
		t.Fatalf("the group committed %d block offsets, want all 288", committed)
	}
}

func discardLogger() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}
