package kafka

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/sirupsen/logrus"
)

// testBrokersEnv names a real Kafka cluster for the integration tests (comma-separated
// host:port). Unset, the tests start an embedded kfake broker of their own.
const testBrokersEnv = "HASHATLAS_TEST_KAFKA_BROKERS"

var (
	embeddedOnce sync.Once
	embedded     *Embedded
	embeddedErr  error
	nameSeq      atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	if embedded != nil {
		embedded.Close()
	}
	os.Exit(code)
}

// testConfig returns a Config for the test broker: the cluster named by
// HASHATLAS_TEST_KAFKA_BROKERS when set, otherwise a kfake broker on a free loopback port,
// started once for the package (tests share it, so each uses its own topics or groups and looks
// only at offsets it produced). The standard topics of schemas.Topics() exist on it.
func testConfig(t testing.TB) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.BatchTimeout = 2 * time.Millisecond
	cfg.DialTimeout = 3 * time.Second
	if env := os.Getenv(testBrokersEnv); env != "" {
		var bl brokerList
		_ = bl.Set(env)
		cfg.Brokers = bl
	} else {
		embeddedOnce.Do(func() {
			l := logrus.New()
			l.SetOutput(os.Stderr)
			l.SetLevel(logrus.WarnLevel)
			embedded, embeddedErr = StartEmbedded(0, l)
		})
		if embeddedErr != nil {
			t.Fatalf("start embedded broker: %v", embeddedErr)
		}
		cfg.Brokers = []string{embedded.Addr()}
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test broker config: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := EnsureTopics(ctx, cfg, schemas.Topics()); err != nil {
		t.Fatalf("ensure standard topics: %v", err)
	}
	return cfg
}

// testLogger logs to the test's output at debug level when -v is given, else at warn level.
func testLogger(t testing.TB) logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(testWriter{t})
	l.SetLevel(logrus.WarnLevel)
	if testing.Verbose() {
		l.SetLevel(logrus.DebugLevel)
	}
	return l.WithField("test", t.Name())
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	defer func() { _ = recover() }() // the test may have ended (shared broker logging late)
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// uniqueName returns a topic or group name no other test and no earlier run uses.
func uniqueName(t testing.TB, what string) string {
	r := strings.NewReplacer("/", "-", " ", "-", "#", "-")
	return fmt.Sprintf("test.%s.%s.%d.%d", r.Replace(t.Name()), what, time.Now().UnixNano(), nameSeq.Add(1))
}

// newTestTopic creates a topic of its own for a test, deleted when the test ends.
func newTestTopic(t testing.TB, cfg Config, what string, partitions int) string {
	t.Helper()
	name := uniqueName(t, what)
	spec := schemas.TopicSpec{Name: name, Partitions: partitions, Retention: schemas.DLQRetention}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := EnsureTopics(ctx, cfg, []schemas.TopicSpec{spec}); err != nil {
		t.Fatalf("create test topic: %v", err)
	}
	deleteTopicAtEnd(t, cfg, name)
	return name
}

// deleteTopicAtEnd deletes topic when the test ends. A real test broker keeps its topics from
// run to run; hundreds of leftover partitions make each of its restarts seconds longer.
func deleteTopicAtEnd(t testing.TB, cfg Config, topic string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := DeleteTopics(ctx, cfg, []string{topic}); err != nil {
			t.Errorf("delete test topic %s: %v", topic, err)
		}
	})
}

// newTestWriter returns a Writer closed when the test ends.
func newTestWriter(t testing.TB, cfg Config) *Writer {
	t.Helper()
	w, err := NewWriter(cfg, testLogger(t), nil)
	if err != nil {
		t.Fatalf("new writer: %v", err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

// endOffsets returns the next offset of every partition of topic: what a test produces after
// this call has offsets at or above these. A real broker answers ListOffsets for a topic created
// a moment ago with a retriable error (NOT_LEADER_OR_FOLLOWER) until it has applied the new
// partitions' leadership from the controller; those errors are retried until the time is up.
func endOffsets(t testing.TB, cfg Config, topic string) map[int]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tr := newTransport(cfg)
	defer tr.CloseIdleConnections()
	c := &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Transport: tr}
	parts, err := topicPartitions(ctx, c, []string{topic})
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	var reqs []kafkago.OffsetRequest
	for p := 0; p < parts[topic]; p++ {
		reqs = append(reqs, kafkago.LastOffsetOf(p))
	}
	for {
		resp, err := c.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{topic: reqs}})
		if err != nil {
			t.Fatalf("list offsets of %s: %v", topic, err)
		}
		out := map[int]int64{}
		var retry error
		for _, po := range resp.Topics[topic] {
			var kerr kafkago.Error
			switch {
			case po.Error == nil:
				out[po.Partition] = po.LastOffset
			case errors.As(po.Error, &kerr) && kerr.Temporary() && ctx.Err() == nil:
				retry = fmt.Errorf("list offsets of %s/%d: %w", topic, po.Partition, po.Error)
			default:
				t.Fatalf("list offsets of %s/%d: %v", topic, po.Partition, po.Error)
			}
		}
		if retry != nil {
			select {
			case <-ctx.Done():
				t.Fatalf("%v (retried until %v)", retry, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		if len(out) != parts[topic] {
			t.Fatalf("list offsets of %s: got %d partitions, want %d", topic, len(out), parts[topic])
		}
		return out
	}
}

// startGroupAt commits offsets (topic → partition → offset, as endOffsets returns them) for a
// new group, so that it starts there instead of at the first offset: a test of a standard topic
// reads what it produced, not the topic's history. On a long-lived test broker
// (HASHATLAS_TEST_KAFKA_BROKERS) that history grows with every run, and holds records that
// today's validation refuses (blocks dated decades ahead, from before times were bounded),
// each of which a group reading from the start dead-letters one at a time.
func startGroupAt(tb testing.TB, cfg Config, group string, offsets map[string]map[int]int64) {
	tb.Helper()
	commits := map[string][]kafkago.OffsetCommit{}
	for topic, byPart := range offsets {
		for p, off := range byPart {
			commits[topic] = append(commits[topic], kafkago.OffsetCommit{Partition: p, Offset: off})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr := newTransport(cfg)
	defer tr.CloseIdleConnections()
	c := &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Transport: tr}
	// A broker that has just restarted (tests before this one restart it) may answer that it
	// is not the group's coordinator yet, or is still loading the group offsets: the commit is
	// tried again until it is done or the 10 s are up, as a consumer would.
	for {
		resp, err := c.OffsetCommit(ctx, &kafkago.OffsetCommitRequest{GroupID: group, GenerationID: -1, Topics: commits})
		if err != nil {
			tb.Fatalf("position group %s: %v", group, err)
		}
		var retry error
		for topic, ps := range resp.Topics {
			for _, p := range ps {
				var kerr kafkago.Error
				switch {
				case p.Error == nil:
				case errors.As(p.Error, &kerr) && kerr.Temporary() && ctx.Err() == nil:
					retry = p.Error
				default:
					tb.Fatalf("position group %s on %s/%d: %v", group, topic, p.Partition, p.Error)
				}
			}
		}
		if retry == nil {
			return
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("position group %s: %v (still, after 10 s)", group, retry)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// fresh reports whether a record was produced after start was taken.
func fresh(start map[string]map[int]int64, topic string, partition int, offset int64) bool {
	byPart, ok := start[topic]
	if !ok {
		return true // a topic of the test's own
	}
	return offset >= byPart[partition]
}

// readDeadLetters reads the dead-letter topic dlq (one partition) from the start until pred has
// accepted want letters or the time is up, and returns the accepted ones in order.
func readDeadLetters(t testing.TB, cfg Config, dlq string, want int, pred func(*schemas.DeadLetter) bool) []*schemas.DeadLetter {
	t.Helper()
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: cfg.Brokers, Topic: dlq, Partition: 0, MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond,
	})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*schemas.DeadLetter
	for len(out) < want {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read dead letters from %s: got %d of %d: %v", dlq, len(out), want, err)
		}
		dl, err := schemas.DecodeAs[*schemas.DeadLetter](m.Value)
		if err != nil {
			t.Fatalf("dead letter at %s/%d/%d does not decode: %v", dlq, m.Partition, m.Offset, err)
		}
		if string(m.Key) != dl.Key() {
			t.Errorf("dead letter key %q, want %q", m.Key, dl.Key())
		}
		if pred(dl) {
			out = append(out, dl)
		}
	}
	return out
}

// runningConsumer is a Consumer whose Run goes on in the background.
type runningConsumer struct {
	c      *Consumer
	cancel context.CancelFunc
	done   chan error
}

// startConsumer starts Run of a new consumer with handle; stop it with stop.
func startConsumer(t testing.TB, cfg Config, cc ConsumerConfig, handle Handler) *runningConsumer {
	t.Helper()
	c, err := NewConsumer(cfg, cc, testLogger(t), nil)
	if err != nil {
		t.Fatalf("new consumer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rc := &runningConsumer{c: c, cancel: cancel, done: make(chan error, 1)}
	go func() { rc.done <- c.Run(ctx, handle) }()
	t.Cleanup(func() { rc.stop(t) })
	return rc
}

// stop cancels Run, waits for it and returns its error.
func (rc *runningConsumer) stop(t testing.TB) error {
	t.Helper()
	if rc.cancel == nil {
		return nil
	}
	rc.cancel()
	rc.cancel = nil
	select {
	case err := <-rc.done:
		_ = rc.c.Close()
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("consumer did not stop within 30s")
		return nil
	}
}

// wait waits for Run to return by itself and returns its error.
func (rc *runningConsumer) wait(t testing.TB, d time.Duration) error {
	t.Helper()
	select {
	case err := <-rc.done:
		rc.cancel()
		rc.cancel = nil
		_ = rc.c.Close()
		return err
	case <-time.After(d):
		t.Fatalf("consumer did not return within %v", d)
		return nil
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var errTest = errors.New("test handler failure")

// Sample messages, valid and realistic in size.

var (
	sampleTime = time.Date(2024, 4, 20, 0, 9, 27, 0, time.UTC)
	sampleBits = "17034219"
)

// sampleBlock returns a valid block at height as a node collector makes it (about 750 bytes of
// JSON). Hashes, coinbase and addresses differ per height the way real ones do (they are
// hashes), so that batches compress like real data, not like repeated text.
func sampleBlock(tb testing.TB, height int64) *schemas.Block {
	tb.Helper()
	diff, err := schemas.DifficultyFromBits(sampleBits)
	if err != nil {
		tb.Fatal(err)
	}
	work, err := schemas.WorkFromBits(sampleBits)
	if err != nil {
		tb.Fatal(err)
	}
	h := func(n int64, salt string) string {
		sum := sha256.Sum256([]byte(salt + strconv.FormatInt(n, 10)))
		return hex.EncodeToString(sum[:])
	}
	hash, prev := "00000000000000000002"+h(height, "block")[20:], "00000000000000000002"+h(height-1, "block")[20:]
	return &schemas.Block{
		Height:              height,
		Hash:                hash,
		PrevHash:            prev,
		Time:                sampleTime.Add(time.Duration(height-840000) * 10 * time.Minute),
		Bits:                sampleBits,
		Difficulty:          diff,
		Work:                work,
		TxCount:             3050,
		CoinbaseScriptHex:   "0340d20c04c6df226653766961425443" + h(height, "extranonce")[:40],
		CoinbaseASCII:       "@f\"fSviaBTC/Mined by bugsll/,mm",
		CoinbaseAddresses:   []string{"bc1q" + h(height, "addr1")[:38], "bc1q" + h(height, "addr2")[:38]},
		Pool:                "viabtc",
		PoolRegistryVersion: "pools-v2-2024-04-01",
		AttributionMethod:   schemas.AttributionAddress,
		Source:              "bitcoind",
		ObservedAt:          sampleTime.Add(time.Duration(height-840000)*10*time.Minute + 3*time.Second),
	}
}

func sampleMessages(tb testing.TB) []schemas.Message {
	tb.Helper()
	diff, err := schemas.DifficultyFromBits(sampleBits)
	if err != nil {
		tb.Fatal(err)
	}
	first := time.Date(2024, 4, 11, 16, 2, 0, 0, time.UTC)
	hr := 6.2e19
	blocks := int64(41)
	day := time.Date(2024, 4, 20, 0, 0, 0, 0, time.UTC)
	return []schemas.Message{
		sampleBlock(tb, 840000),
		&schemas.DifficultyEpoch{Epoch: 416, StartHeight: 416 * 2016, Bits: sampleBits, Difficulty: diff, FirstBlockTime: &first, Source: "bitcoind"},
		&schemas.PoolStats{Pool: "foundryusa", Time: day, IntervalSeconds: 86400, HashrateHS: &hr, Blocks: &blocks, Source: "mempool"},
		&schemas.GridObservation{Region: "ERCO", Country: "US", Time: day, IntervalSeconds: 3600, Metric: schemas.GridDemand, Value: 48123.5, Unit: schemas.UnitMWh, Source: "eia"},
		&schemas.Estimate{
			Metric: schemas.MetricNetworkHashrate, Window: schemas.WindowDay, WindowStart: day, WindowEnd: day.AddDate(0, 0, 1),
			Entity: schemas.EntityNetwork, Method: "blocks", Value: 6.1e20, Lower: 5.3e20, Upper: 7.0e20,
			Unit: schemas.UnitHashesPerSecond, Blocks: 151, Final: true, ModelVersion: "m1",
			ComputedAt: day.Add(25 * time.Hour), InputsDigest: "9f86d081884c7d659a2feaa0c55ad015",
		},
		&schemas.DeadLetter{
			OriginalTopic: schemas.TopicBlocks, Partition: 3, Offset: 1234, OriginalKey: []byte("840001"),
			OriginalValue: []byte(`{"schema":"hashatlas.block.v1","height":-1}`), Reason: "decode hashatlas.block.v1: field height: must be >= 0",
			Stage: schemas.StageValidate, FailedAt: day.Add(time.Hour), ConsumerGroup: "estimator",
		},
	}
}
