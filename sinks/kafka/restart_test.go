package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/sirupsen/logrus"
)

// restartableBroker is a broker a test may restart: the real one of HASHATLAS_TEST_KAFKA_BROKERS
// (through deploy/local/kafka.sh, which must have started it), or an embedded broker of the
// test's own that keeps its data in a directory and comes back on the same port.
type restartableBroker struct {
	cfg  Config
	real bool
	dir  string
	port int
	emb  *Embedded
	log  logrus.FieldLogger
}

func newRestartableBroker(t *testing.T) *restartableBroker {
	t.Helper()
	if os.Getenv(testBrokersEnv) != "" {
		return &restartableBroker{cfg: testConfig(t), real: true}
	}
	b := &restartableBroker{dir: t.TempDir(), log: testLogger(t)}
	e, err := StartEmbeddedIn(b.dir, 0, b.log)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(e.Addr())
	b.port, _ = strconv.Atoi(port)
	b.emb = e
	t.Cleanup(func() { b.emb.Close() })
	b.cfg = DefaultConfig()
	b.cfg.Brokers = []string{e.Addr()}
	b.cfg.BatchTimeout = 2 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := EnsureTopics(ctx, b.cfg, schemas.Topics()); err != nil {
		t.Fatal(err)
	}
	return b
}

// stop stops the broker; clients see their connections refused until start.
func (b *restartableBroker) stop(t *testing.T) {
	t.Helper()
	if b.real {
		kafkaScript(t, b.cfg, "stop")
		if Ping(context.Background(), b.cfg) == nil {
			t.Fatalf("the broker at %s still answers after deploy/local/kafka.sh stop: the script did not start it, so this test cannot restart it", b.cfg.Brokers[0])
		}
		return
	}
	b.emb.Close()
}

// start starts the stopped broker again with its data, on the same address.
func (b *restartableBroker) start(t *testing.T) {
	t.Helper()
	if b.real {
		kafkaScript(t, b.cfg, "start")
		return
	}
	e, err := StartEmbeddedIn(b.dir, b.port, b.log)
	if err != nil {
		t.Fatalf("start the embedded broker again: %v", err)
	}
	b.emb = e
}

// kafkaScript runs deploy/local/kafka.sh with a command for the broker of cfg, which the script
// must have started (it stops only its own broker).
func kafkaScript(t *testing.T, cfg Config, command string) {
	t.Helper()
	_, port, err := net.SplitHostPort(cfg.Brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs("../../deploy/local/kafka.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(script, command)
	cmd.Env = append(os.Environ(), "HASHATLAS_KAFKA_PORT="+port)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", script, command, err, out)
	}
	t.Logf("kafka.sh %s took %.1f s", command, time.Since(start).Seconds())
}

// restartIn stops the broker e (started with StartEmbeddedIn(dir, …)) and starts it again on
// the same port and directory after down; the channel delivers the new broker (nil if it could
// not start, which fails t).
func restartIn(t *testing.T, e *Embedded, dir string, down time.Duration) <-chan *Embedded {
	t.Helper()
	_, port, _ := net.SplitHostPort(e.Addr())
	p, _ := strconv.Atoi(port)
	e.Close()
	restarted := make(chan *Embedded, 1)
	go func() {
		time.Sleep(down)
		e, err := StartEmbeddedIn(dir, p, testLogger(t))
		if err != nil {
			t.Errorf("start the broker again: %v", err)
		}
		restarted <- e
	}()
	return restarted
}

// TestWriterWaitsForABrokerThatIsDown starts a write while the broker is down (a new writer, so
// nothing is cached: kafka-go's own retries would fail it at once) and brings the broker back a
// second later, with its data: the write must wait for it and succeed, and the record must be
// there. A write that cannot succeed — to a topic that does not exist — still fails at once.
// It uses an embedded broker of its own on either run, since it must be down before the write.
func TestWriterWaitsForABrokerThatIsDown(t *testing.T) {
	dir := t.TempDir()
	e, err := StartEmbeddedIn(dir, 0, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Brokers = []string{e.Addr()}
	cfg.RetryTimeout = 20 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := EnsureTopics(ctx, cfg, schemas.Topics()); err != nil {
		t.Fatal(err)
	}
	restarted := restartIn(t, e, dir, time.Second)
	w := newTestWriter(t, cfg)
	block := sampleBlock(t, 900000)
	start := time.Now()
	err = w.Publish(ctx, block)
	waited := time.Since(start)
	e = <-restarted
	if e == nil {
		t.FailNow()
	}
	defer e.Close()
	if err != nil {
		t.Fatalf("publish while the broker was down for a second: %v (after %v)", err, waited)
	}
	if waited < 500*time.Millisecond {
		t.Fatalf("publish returned after %v, before the broker was back", waited)
	}
	got := 0
	for p := 0; p < 6; p++ {
		for _, m := range readPartitionIfAny(t, cfg, schemas.TopicBlocks, p) {
			if string(m.Key) == block.Key() {
				got++
			}
		}
	}
	if got != 1 {
		t.Fatalf("the block is %d times on the restarted broker, want once", got)
	}

	start = time.Now()
	err = w.WriteMessages(ctx, Message{Topic: uniqueName(t, "missing"), Value: []byte("x")})
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("a write to a missing topic returned %v after %v, want an error at once", err, time.Since(start))
	}
}

// TestTopicReaderWaitsForABrokerThatIsDown starts reading a topic whole (how the estimator
// rebuilds its state) while the broker is down and brings it back a second later: the read must
// wait for it and return every record.
func TestTopicReaderWaitsForABrokerThatIsDown(t *testing.T) {
	dir := t.TempDir()
	e, err := StartEmbeddedIn(dir, 0, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Brokers = []string{e.Addr()}
	cfg.RetryTimeout = 20 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := EnsureTopics(ctx, cfg, schemas.Topics()); err != nil {
		t.Fatal(err)
	}
	var blocks []schemas.Message
	for h := int64(900000); h < 900500; h++ {
		blocks = append(blocks, sampleBlock(t, h))
	}
	if err := newTestWriter(t, cfg).Publish(ctx, blocks...); err != nil {
		t.Fatal(err)
	}
	restarted := restartIn(t, e, dir, time.Second)
	tr, err := NewTopicReader(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	heights := map[int64]bool{}
	n, err := tr.ReadAll(ctx, []string{schemas.TopicBlocks}, func(r Record) error {
		if b, ok := asBlock(r.Message); ok {
			heights[b.Height] = true
		}
		return nil
	}, nil)
	if e := <-restarted; e != nil {
		defer e.Close()
	}
	if err != nil {
		t.Fatalf("read the blocks while the broker was down for a second: %v", err)
	}
	if n != len(blocks) || len(heights) != len(blocks) {
		t.Fatalf("read %d records of %d distinct heights, published %d blocks", n, len(heights), len(blocks))
	}
}

// readPartitionIfAny is readPartition for a partition that may be empty.
func readPartitionIfAny(t *testing.T, cfg Config, topic string, p int) []Message {
	t.Helper()
	if endOffsets(t, cfg, topic)[p] == 0 {
		return nil
	}
	var out []Message
	for _, m := range readPartition(t, cfg, topic, p) {
		out = append(out, Message{Topic: m.Topic, Key: m.Key, Value: m.Value})
	}
	return out
}

// TestStreamAndGroupRideThroughABrokerRestart restarts the broker while a writer streams records
// and a group member consumes them: the writer must wait for the broker rather than fail, the
// member must come back by itself (Run does not return), and every record published must be
// handled. Records handled while the broker went away whose commit it never received are
// handled again after the restart (at-least-once; the count is logged).
func TestStreamAndGroupRideThroughABrokerRestart(t *testing.T) {
	b := newRestartableBroker(t)
	cfg := b.cfg
	topic := schemas.TopicPoolStats
	group := uniqueName(t, "group")
	startGroupAtEnd(t, cfg, group, topic)
	start := map[string]map[int]int64{topic: endOffsets(t, cfg, topic)}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	log := newHandledLog()
	// After the restart the member joins again under a new member id (kafka-go drops its id when
	// a join fails), and the coordinator waits for the old id, which it reloaded with the group,
	// until that one's session times out: the shortest session the brokers allow (6 s,
	// group.min.session.timeout.ms) keeps that pause short.
	cc := ConsumerConfig{Group: group, Topics: []string{topic}, CommitInterval: 100 * time.Millisecond,
		SessionTimeout: 6 * time.Second, HeartbeatInterval: 200 * time.Millisecond}
	member := startConsumer(t, cfg, cc, func(_ context.Context, r Record) error {
		if fresh(start, r.Topic, r.Partition, r.Offset) {
			log.add("a", string(r.Key))
		}
		return nil
	})
	stop := make(chan struct{})
	published := streamPoolStats(ctx, t, newTestWriter(t, cfg), "restart", stop)
	waitFor(t, 20*time.Second, "records to be handled before the restart", func() bool { return log.count("a") >= 100 })
	b.stop(t)
	time.Sleep(time.Second) // long enough for the writer's and the member's connections to fail
	b.start(t)
	restarted := time.Now()
	atStart := log.count("a")
	waitFor(t, 60*time.Second, "records to be handled after the restart", func() bool {
		if t.Failed() {
			t.FailNow() // the stream could not publish
		}
		return log.count("a") >= atStart+200
	})
	t.Logf("handling went on %.1f s after the broker was back", time.Since(restarted).Seconds())
	close(stop)
	keys := <-published
	if t.Failed() {
		t.FailNow() // the stream could not publish
	}
	waitFor(t, 30*time.Second, fmt.Sprintf("all %d records published to be handled", len(keys)), func() bool { return log.distinct() >= len(keys) })
	select {
	case err := <-member.done:
		t.Fatalf("the member stopped by itself during the restart: %v", err)
	default:
	}
	if err := member.stop(t); err != nil {
		t.Fatalf("member: %v", err)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	again := 0
	for _, k := range keys {
		switch n := len(log.by[k]); {
		case n == 0:
			t.Errorf("record %s was never handled", k)
		case n > 1:
			again++
		}
	}
	t.Logf("published %d records across the restart; %d handled again after it", len(keys), again)
}

func TestWorthWaitingTellsAnOutageFromARefusal(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"a refused connection (the broker is down)", fmt.Errorf("kafka.(*Client).Produce: %w", refused), true},
		{"a connection cut mid-request", io.ErrUnexpectedEOF, true},
		{"a reset connection", syscall.ECONNRESET, true},
		{"no leader yet", kafkago.LeaderNotAvailable, true},
		{"a leader moving", kafkago.NotLeaderForPartition, true},
		{"not enough in-sync replicas", kafkago.NotEnoughReplicas, true},
		{"kafka-go's code for a request failed on its connection", kafkago.Unknown, true},
		{"a topic that does not exist", kafkago.UnknownTopicOrPartition, false},
		{"a message too large", kafkago.MessageSizeTooLarge, false},
		{"no authorization", kafkago.TopicAuthorizationFailed, false},
		{"a cancelled context", context.Canceled, false},
		{"a context past its deadline", fmt.Errorf("write: %w", context.DeadlineExceeded), false},
		{"any other error", errors.New("invalid message"), false},
	} {
		if got := worthWaiting(c.err); got != c.want {
			t.Errorf("%s: worthWaiting(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

func TestUnrecoverableGroupErrorsAreRefusalsOnly(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{kafkago.GroupAuthorizationFailed, true},
		{kafkago.TopicAuthorizationFailed, true},
		{fmt.Errorf("join: %w", kafkago.InvalidSessionTimeout), true},
		{kafkago.RebalanceInProgress, false},
		{kafkago.UnknownMemberId, false},
		{kafkago.NotCoordinatorForGroup, false},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, false},
	} {
		if got := unrecoverable(c.err); got != c.want {
			t.Errorf("unrecoverable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
