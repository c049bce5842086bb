package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/hashatlas/hashatlas/estimate"
	"github.com/hashatlas/hashatlas/schemas"
	"github.com/hashatlas/hashatlas/sinks/clickhouse"
	"github.com/hashatlas/hashatlas/sinks/kafka"
)

// BenchmarkRawIngestion measures raw ingestion, the blocks topic into the ClickHouse `blocks`
// table (issue 17), against its ceiling in the same run: the shared history's 282,174 blocks on
// the embedded broker, each iteration once through
//
//   - the ceiling: kafka-go connections reading every partition in parallel (Conn.ReadBatch),
//     decoding with the schemas codec (the fastest decoder here: with encoding/json the ceiling
//     was 2.5 times slower) into batches of 50,000 rows that clickhouse-go appends and sends —
//     the least a consumer must do to land the rows, without validation, state or retries;
//   - hashatlas: the estimator's own path (its topic reader, validation, state and store) in
//     raw-only mode (Service.SetPartial: raw inputs written, no estimate computed), as an
//     estimator that shares its group writes them.
//
// Each writes into a fresh database; it reports both rates and hashatlas's as a fraction of the
// ceiling's (ratio), and fails if either table misses a block.
func BenchmarkRawIngestion(b *testing.B) {
	broker, err := kafka.StartEmbedded(0, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer broker.Close()
	kCfg := kafka.DefaultConfig()
	kCfg.Brokers = []string{broker.Addr()}
	collectSharedHistory(b, broker.Addr())
	ctx := context.Background()
	const blocks = 282174
	var ceilSecs, ourSecs float64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		db := newBenchDB(b)
		b.StartTimer()
		start := time.Now()
		if err := ceilingIngest(ctx, broker.Addr(), db); err != nil {
			b.Fatal(err)
		}
		ceilSecs += time.Since(start).Seconds()
		b.StopTimer()
		checkBlockCount(b, db, blocks)

		db = newBenchDB(b)
		b.StartTimer()
		start = time.Now()
		if err := hashatlasIngest(ctx, kCfg, db); err != nil {
			b.Fatal(err)
		}
		ourSecs += time.Since(start).Seconds()
		b.StopTimer()
		checkBlockCount(b, db, blocks)
		b.StartTimer()
	}
	b.StopTimer()
	ceil, ours := float64(b.N*blocks)/ceilSecs, float64(b.N*blocks)/ourSecs
	b.ReportMetric(ceil, "ceiling-rows/s")
	b.ReportMetric(ours, "hashatlas-rows/s")
	b.ReportMetric(ours/ceil, "ratio")
}

// collectSharedHistory publishes the shared history's blocks and difficulty epochs to the
// broker at addr (`collect file --once`).
func collectSharedHistory(tb testing.TB, addr string) {
	tb.Helper()
	dir := dataDir()
	if !filepath.IsAbs(dir) {
		dir = filepath.Join("..", "..", dir)
	}
	if code, _, stderr := runCmd(tb, nil, "collect", "file", "--once", "--kafka.brokers="+addr,
		"--blocks="+filepath.Join(dir, "blocks_2021_2026.csv.gz"), "--difficulty="+filepath.Join(dir, "difficulty_epochs.csv"), "--log.level=warn"); code != exitOK {
		tb.Fatalf("collect: exit %d: %s", code, stderr)
	}
}

// newBenchDB migrates a fresh database on the test server, dropped when b ends.
func newBenchDB(b *testing.B) clickhouse.Config {
	cfg := clickhouse.DefaultConfig()
	cfg.Addr, cfg.Database = testClickHouseAddr(), fmt.Sprintf("hashatlas_bench_ingest_%d", rand.Uint64()%1_000_000_000)
	dropDatabaseAtEnd(b, cfg.Database)
	migrations, _ := schemas.Migrations()
	if _, err := clickhouse.Migrate(context.Background(), openTestDB(b, cfg.Database), migrations, nil); err != nil {
		b.Fatal(err)
	}
	return cfg
}

func checkBlockCount(b *testing.B, cfg clickhouse.Config, want int) {
	if got, ok := uint64Of(openTestDB(b, cfg.Database), "SELECT count() FROM blocks FINAL"); !ok || got != uint64(want) {
		b.Fatalf("%s: %d blocks in the table (read: %v), want %d", cfg.Database, got, ok, want)
	}
}

// ceilingIngest reads every partition of the blocks topic with kafka-go, decodes the JSON with
// the schemas codec and inserts the rows with clickhouse-go in batches of 50,000.
func ceilingIngest(ctx context.Context, addr string, cfg clickhouse.Config) error {
	conn, err := ch.Open(&ch.Options{Addr: []string{cfg.Addr}, Auth: ch.Auth{Database: cfg.Database, Username: "default"}})
	if err != nil {
		return err
	}
	defer conn.Close()
	client := &kafkago.Client{Addr: kafkago.TCP(addr)}
	meta, err := client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{schemas.TopicBlocks}})
	if err != nil {
		return err
	}
	req := map[string][]kafkago.OffsetRequest{}
	for _, p := range meta.Topics[0].Partitions {
		req[schemas.TopicBlocks] = append(req[schemas.TopicBlocks], kafkago.LastOffsetOf(p.ID))
	}
	offs, err := client.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: req})
	if err != nil {
		return err
	}
	rows := make(chan schemas.Block, 10000)
	errs := make(chan error, len(meta.Topics[0].Partitions)+1)
	var wg sync.WaitGroup
	for _, po := range offs.Topics[schemas.TopicBlocks] {
		if po.LastOffset <= 0 {
			continue
		}
		wg.Add(1)
		go func(partition int, end int64) {
			defer wg.Done()
			conn, err := kafkago.DialLeader(ctx, "tcp", addr, schemas.TopicBlocks, partition)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			for off := int64(0); off < end; {
				if _, err := conn.Seek(off, kafkago.SeekAbsolute); err != nil {
					errs <- err
					return
				}
				batch := conn.ReadBatch(1, 16<<20)
				for {
					m, err := batch.ReadMessage()
					if err != nil {
						break // the end of this fetch
					}
					blk, err := schemas.DecodeAs[schemas.Block](m.Value)
					if err != nil {
						errs <- err
						return
					}
					rows <- blk
					off = m.Offset + 1
				}
				if err := batch.Close(); err != nil {
					errs <- err
					return
				}
			}
		}(po.Partition, po.LastOffset)
	}
	go func() { wg.Wait(); close(rows) }()
	const batchRows = 50000
	send := func(bl []schemas.Block) error {
		batch, err := conn.PrepareBatch(ctx, "INSERT INTO blocks (height, hash, prev_hash, time, bits, difficulty, work, work_f64, tx_count, coinbase_script_hex, coinbase_ascii, coinbase_addresses, pool, pool_registry_version, attribution_method, source, observed_at, version)")
		if err != nil {
			return err
		}
		version := uint64(time.Now().UnixNano())
		for _, x := range bl {
			bits, _ := strconv.ParseUint(x.Bits, 16, 32)
			work, _ := strconv.ParseFloat(x.Work, 64)
			addrs := x.CoinbaseAddresses
			if addrs == nil {
				addrs = []string{}
			}
			if err := batch.Append(uint32(x.Height), x.Hash, x.PrevHash, x.Time, uint32(bits), x.Difficulty, x.Work, work, uint32(x.TxCount),
				x.CoinbaseScriptHex, x.CoinbaseASCII, addrs, x.Pool, x.PoolRegistryVersion, x.AttributionMethod, x.Source, x.ObservedAt, version); err != nil {
				return err
			}
		}
		return batch.Send()
	}
	buf := make([]schemas.Block, 0, batchRows)
	for blk := range rows {
		buf = append(buf, blk)
		if len(buf) == batchRows {
			if err := send(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	select {
	case err := <-errs:
		return err
	default:
	}
	if len(buf) > 0 {
		return send(buf)
	}
	return nil
}

// hashatlasIngest runs the estimator over the input topics in raw-only mode until everything is
// written.
func hashatlasIngest(ctx context.Context, kCfg kafka.Config, cfg clickhouse.Config) error {
	db, err := clickhouse.Open(ctx, cfg, nil, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	store, err := clickhouse.NewEstimateStore(ctx, db, cfg.WriterConfig(), nil, nil)
	if err != nil {
		return err
	}
	defer store.Close(ctx)
	tr, err := kafka.NewTopicReader(kCfg, nil)
	if err != nil {
		return err
	}
	log := discardLogger()
	svc := estimate.NewService(estimate.ServiceConfig{}, store, nil, log)
	svc.SetPartial(true)
	src := &kafkaSource{cfg: kCfg, group: "bench-ingest-" + cfg.Database, reader: tr, log: log, svc: svc}
	return estimate.Run(ctx, svc, src, true, nil, log)
}
