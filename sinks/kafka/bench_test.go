package kafka

import (
	"bytes"
	"context"
	"io"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
	kafkago "github.com/segmentio/kafka-go"
)

// Benchmarks of the hot path: blocks as a node collector makes them (about 750 bytes of JSON;
// hashes, coinbase and addresses differ per block and compress like real ones) go through
// Writer.Publish (encode, murmur2 keying, compression, RequireAll) and a Consumer in a new group
// (decode, validate, handle, commit), against the test broker (kfake unless
// HASHATLAS_TEST_KAFKA_BROKERS is set), with the default Config unless BENCH_COMPRESSION,
// BENCH_BATCH_SIZE or BENCH_BATCH_TIMEOUT say otherwise, and the default ConsumerConfig unless
// BENCH_FETCH_MAX_BYTES does. Each reports msgs/s and the CPU time the whole process
// (publishers, broker, consumer) spent per message, which bounds msgs/s at about
// cores / cpu-µs-per-msg and which other load on the machine changes much less than msgs/s.
//
//	go test -run='^$' -bench=. -benchtime=300000x ./sinks/kafka/

// processCPU returns the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startGroupAtEnd commits, for a new group, the current end offset of every partition of topic,
// so that the group reads only what is produced afterwards.
func startGroupAtEnd(tb testing.TB, cfg Config, group, topic string) {
	tb.Helper()
	startGroupAt(tb, cfg, group, map[string]map[int]int64{topic: endOffsets(tb, cfg, topic)})
}

// benchSetup is what the benchmarks share: the config and the blocks to publish.
type benchSetup struct {
	cfg  Config
	cc   ConsumerConfig    // Group and Topics are set per consumer
	n    int               // messages to publish
	pool []schemas.Message // distinct blocks, published round-robin
}

// Publishing draws from a pool of distinct blocks rather than b.N of them: a collector holds a
// pass of blocks at most, and hundreds of thousands of live blocks would make every garbage
// collection in the process mark them, which is the benchmark's cost, not the sink's.
const (
	benchPool  = 10000
	benchChunk = 2000 // messages per Publish call; divides benchPool
)

// blockPool returns n distinct blocks.
func blockPool(b *testing.B, n int) []schemas.Message {
	pool := make([]schemas.Message, n)
	for i := range pool {
		pool[i] = sampleBlock(b, 840000+int64(i))
	}
	return pool
}

// newBenchSetup returns the benchmark's config and a pool of benchPool messages from makePool;
// the bytes per op are the mean encoded size of the pool's first 100.
func newBenchSetup(b *testing.B, makePool func(b *testing.B, n int) []schemas.Message) *benchSetup {
	cfg := testConfig(b)
	cfg.BatchSize = DefaultBatchSize
	cfg.BatchTimeout = DefaultBatchTimeout
	if v := os.Getenv("BENCH_BATCH_SIZE"); v != "" {
		cfg.BatchSize, _ = strconv.Atoi(v)
	}
	if v := os.Getenv("BENCH_BATCH_TIMEOUT"); v != "" {
		cfg.BatchTimeout, _ = time.ParseDuration(v)
	}
	if c := os.Getenv("BENCH_COMPRESSION"); c != "" {
		cfg.Compression = c
	}
	var cc ConsumerConfig
	if v := os.Getenv("BENCH_FETCH_MAX_BYTES"); v != "" {
		cc.MaxBytes, _ = strconv.Atoi(v)
	}
	pool := makePool(b, benchPool)
	size := 0
	for _, m := range pool[:100] {
		v, err := schemas.Encode(m)
		if err != nil {
			b.Fatal(err)
		}
		size += len(v)
	}
	b.SetBytes(int64(size / 100))
	return &benchSetup{cfg: cfg, cc: cc, n: b.N, pool: pool}
}

// publish publishes s.n messages from 4 goroutines in chunks of benchChunk.
func (s *benchSetup) publish(b *testing.B, ctx context.Context, w *Writer) {
	const publishers = 4
	var next atomic.Int64
	var wg sync.WaitGroup
	for range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(benchChunk)) - benchChunk
				if lo >= s.n {
					return
				}
				from := lo % benchPool
				if err := w.Publish(ctx, s.pool[from:from+min(benchChunk, s.n-lo)]...); err != nil {
					b.Errorf("publish: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// consumer starts a consumer of a new group positioned at the end of the topics the pool's
// messages go to; the returned channel is closed once it handled n records.
func (s *benchSetup) consumer(b *testing.B, ctx context.Context, n int) (all chan struct{}, runErr chan error) {
	group := uniqueName(b, "group")
	var topics []string
	for _, m := range s.pool {
		if !slices.Contains(topics, m.Topic()) {
			topics = append(topics, m.Topic())
			startGroupAtEnd(b, s.cfg, group, m.Topic())
		}
	}
	cc := s.cc
	cc.Group, cc.Topics = group, topics
	c, err := NewConsumer(s.cfg, cc, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	var handled atomic.Int64
	all = make(chan struct{})
	runErr = make(chan error, 1)
	go func() {
		runErr <- c.Run(ctx, func(_ context.Context, r Record) error {
			if r.Message.Topic() != r.Topic {
				b.Errorf("a %T on topic %s", r.Message, r.Topic)
			}
			if handled.Add(1) == int64(n) {
				close(all)
			}
			return nil
		})
	}()
	return all, runErr
}

func waitAll(b *testing.B, all chan struct{}, runErr chan error) {
	select {
	case <-all:
	case err := <-runErr:
		b.Fatalf("consumer stopped: %v", err)
	case <-time.After(120 * time.Second):
		b.Fatalf("not all records consumed in 120s")
	}
}

func report(b *testing.B, start time.Time, cpu0 time.Duration) {
	elapsed, cpu := time.Since(start), processCPU()-cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
}

// BenchmarkPublishConsume publishes b.N blocks from 4 concurrent publishers while a consumer
// group reads them; msgs/s is b.N over the time from the first publish to the last record
// handled.
func BenchmarkPublishConsume(b *testing.B) { benchPublishConsume(b, newBenchSetup(b, blockPool)) }

// BenchmarkPublishConsumeMixed is BenchmarkPublishConsume on the message types that make up
// most of the traffic, in equal parts and interleaved: blocks (about 750 bytes of JSON), pool
// statistics (about 200), grid observations (about 220) and estimates (about 400), each type on
// its own topic, all read by one consumer group.
func BenchmarkPublishConsumeMixed(b *testing.B) {
	benchPublishConsume(b, newBenchSetup(b, mixedPool))
}

// benchPublishConsume publishes s's messages while a new group reads them.
func benchPublishConsume(b *testing.B, s *benchSetup) {
	w, err := NewWriter(s.cfg, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	all, runErr := s.consumer(b, ctx, b.N)

	b.ReportAllocs()
	b.ResetTimer()
	cpu0, start := processCPU(), time.Now()
	s.publish(b, ctx, w)
	waitAll(b, all, runErr)
	report(b, start, cpu0)
	cancel()
	if err := <-runErr; err != nil {
		b.Fatalf("consumer run: %v", err)
	}
}

// mixedPool returns n distinct messages cycling through a block, a pool's daily statistics, a
// region's hourly demand and a pool's daily hashrate estimate.
func mixedPool(b *testing.B, n int) []schemas.Message {
	pools := []string{"foundryusa", "antpool", "viabtc", "f2pool", "marapool", "spiderpool", "luxor", "binancepool"}
	regions := []string{"ERCO", "PJM", "MISO", "CISO", "NYIS", "ISNE", "SWPP", "SOCO"}
	day0 := time.Date(2024, 4, 20, 0, 0, 0, 0, time.UTC)
	out := make([]schemas.Message, n)
	for i := range out {
		k := i / 4
		day := day0.AddDate(0, 0, k/len(pools))
		switch i % 4 {
		case 0:
			out[i] = sampleBlock(b, 840000+int64(k))
		case 1:
			hr, blocks := 6.2e19+float64(k), int64(30+k%20)
			out[i] = &schemas.PoolStats{Pool: pools[k%len(pools)], Time: day, IntervalSeconds: 86400, HashrateHS: &hr, Blocks: &blocks, Source: "mempool"}
		case 2:
			out[i] = &schemas.GridObservation{Region: regions[k%len(regions)], Country: "US", Time: day0.Add(time.Duration(k/len(regions)) * time.Hour),
				IntervalSeconds: 3600, Metric: schemas.GridDemand, Value: 40000 + float64(k%9000), Unit: schemas.UnitMWh, Source: "eia"}
		case 3:
			v := 0.05 + float64(k%100)/1000
			out[i] = &schemas.Estimate{
				Metric: schemas.MetricPoolShare, Window: schemas.WindowDay, WindowStart: day, WindowEnd: day.AddDate(0, 0, 1),
				Entity: pools[k%len(pools)], Method: "clopper-pearson", Value: v, Lower: v * 0.8, Upper: v * 1.2,
				Unit: schemas.UnitRatio, Blocks: 144, Final: true, ModelVersion: "1.1.0",
				ComputedAt: day.Add(25 * time.Hour), InputsDigest: "9f86d081884c7d659a2feaa0c55ad015",
			}
		}
	}
	return out
}

// BenchmarkPublish publishes b.N blocks from 4 concurrent publishers, nobody consuming.
func BenchmarkPublish(b *testing.B) {
	s := newBenchSetup(b, blockPool)
	w, err := NewWriter(s.cfg, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, start := processCPU(), time.Now()
	s.publish(b, context.Background(), w)
	report(b, start, cpu0)
}

// BenchmarkConsume reads b.N blocks published beforehand (a replay, as the estimator does on
// start).
func BenchmarkConsume(b *testing.B) {
	s := newBenchSetup(b, blockPool)
	w, err := NewWriter(s.cfg, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	group := uniqueName(b, "group")
	startGroupAtEnd(b, s.cfg, group, schemas.TopicBlocks)
	s.publish(b, ctx, w)
	cc := s.cc
	cc.Group, cc.Topics = group, []string{schemas.TopicBlocks}
	c, err := NewConsumer(s.cfg, cc, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	var handled atomic.Int64
	all, runErr := make(chan struct{}), make(chan error, 1)

	b.ReportAllocs()
	b.ResetTimer()
	cpu0, start := processCPU(), time.Now()
	go func() {
		runErr <- c.Run(ctx, func(_ context.Context, r Record) error {
			if handled.Add(1) == int64(b.N) {
				close(all)
			}
			return nil
		})
	}()
	waitAll(b, all, runErr)
	report(b, start, cpu0)
	cancel()
	if err := <-runErr; err != nil {
		b.Fatalf("consumer run: %v", err)
	}
}

// BenchmarkCompression compresses and decompresses one 1 MB batch of blocks with each codec
// kafka-go offers: the CPU cost behind the choice of Config.Compression's default.
func BenchmarkCompression(b *testing.B) {
	var batch []byte
	for i := 0; len(batch) < DefaultBatchBytes; i++ {
		v, err := schemas.Encode(sampleBlock(b, 840000+int64(i)))
		if err != nil {
			b.Fatal(err)
		}
		batch = append(batch, v...)
	}
	for _, c := range []kafkago.Compression{kafkago.Lz4, kafkago.Snappy, kafkago.Zstd, kafkago.Gzip} {
		codec := c.Codec()
		var out bytes.Buffer
		b.Run(codec.Name()+"/compress", func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			for range b.N {
				out.Reset()
				w := codec.NewWriter(&out)
				if _, err := w.Write(batch); err != nil {
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(out.Len())/float64(len(batch)), "ratio")
		})
		compressed := bytes.Clone(out.Bytes())
		b.Run(codec.Name()+"/decompress", func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			for range b.N {
				r := codec.NewReader(bytes.NewReader(compressed))
				if _, err := io.Copy(io.Discard, r); err != nil {
					b.Fatal(err)
				}
				_ = r.Close()
			}
		})
	}
}
