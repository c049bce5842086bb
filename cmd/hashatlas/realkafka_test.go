package main

// The pipeline's Kafka behaviours that matter end to end, on the test broker: the real Apache
// Kafka named by HASHATLAS_TEST_KAFKA_BROKERS (make test starts one with deploy/local/kafka.sh
// and runs these tests on it), or, when that is unset, an embedded kfake broker of each test's
// own. The tests whose names start with TestKafka are the ones make test runs on both.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/estimate"
	"github.com/hashatlas/hashatlas/schemas"
	"github.com/hashatlas/hashatlas/sinks/clickhouse"
	"github.com/hashatlas/hashatlas/sinks/kafka"
)

// testKafkaBrokersEnv names the real broker of the integration tests (host:port). The tests
// delete and recreate the standard topics on it: never point it at a broker whose data matters.
const testKafkaBrokersEnv = "HASHATLAS_TEST_KAFKA_BROKERS"

// testBroker is a test's Kafka broker, restartable: the real one (restarted through
// deploy/local/kafka.sh, which must have started it), or an embedded one keeping its data in a
// directory of the test's own and coming back on the same port.
type testBroker struct {
	cfg  kafka.Config
	real bool
	dir  string
	port int
	emb  *kafka.Embedded
}

// newTestBroker returns the test's broker with the standard topics empty: on the real broker
// they are deleted (with whatever earlier tests and runs left in them) and created again.
func newTestBroker(t *testing.T) *testBroker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := &testBroker{cfg: kafka.DefaultConfig()}
	if addr := os.Getenv(testKafkaBrokersEnv); addr != "" {
		b.real = true
		b.cfg.Brokers = strings.Split(addr, ",")
		var names []string
		for _, s := range schemas.Topics() {
			names = append(names, s.Name)
		}
		if err := kafka.DeleteTopics(ctx, b.cfg, names); err != nil {
			t.Fatalf("empty the standard topics on %s: %v", addr, err)
		}
	} else {
		b.dir = t.TempDir()
		e, err := kafka.StartEmbeddedIn(b.dir, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		b.emb = e
		t.Cleanup(func() { b.emb.Close() })
		_, port, _ := net.SplitHostPort(e.Addr())
		b.port, _ = strconv.Atoi(port)
		b.cfg.Brokers = []string{e.Addr()}
	}
	if err := kafka.EnsureTopics(ctx, b.cfg, schemas.Topics()); err != nil {
		t.Fatal(err)
	}
	return b
}

// arg is the --kafka.brokers flag of the broker.
func (b *testBroker) arg() string { return "--kafka.brokers=" + strings.Join(b.cfg.Brokers, ",") }

// restart stops the broker (clients see their connections refused) and starts it again with its
// data on the same address, and returns how long it was down.
func (b *testBroker) restart(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	if !b.real {
		b.emb.Close()
		e, err := kafka.StartEmbeddedIn(b.dir, b.port, nil)
		if err != nil {
			t.Fatalf("start the embedded broker again: %v", err)
		}
		b.emb = e
		return time.Since(start)
	}
	b.script(t, "stop")
	if kafka.Ping(context.Background(), b.cfg) == nil {
		t.Fatalf("the broker at %s still answers after deploy/local/kafka.sh stop: the script did not start it, so the test cannot restart it", b.cfg.Brokers[0])
	}
	b.script(t, "start")
	return time.Since(start)
}

func (b *testBroker) script(t *testing.T, command string) {
	t.Helper()
	_, port, err := net.SplitHostPort(b.cfg.Brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "deploy", "local", "kafka.sh"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(script, command)
	cmd.Env = append(os.Environ(), "HASHATLAS_KAFKA_PORT="+port)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", script, command, err, out)
	}
}

// digestViews are the views two replays are compared by, with the natural key of each (the
// ORDER BY of its table).
var digestViews = map[string][]string{
	"blocks_latest":            {"height", "hash"},
	"difficulty_epochs_latest": {"start_height"},
	"network_hashrate_latest":  {"window", "window_start", "model_version", "method"},
	"pool_hashrate_latest":     {"window", "window_start", "pool", "model_version", "method"},
}

// sameViews fails t unless the views of got (database gotDB), a replay with what happening
// during it, hold one row per key and equal those of the undisturbed replay want (wantDB); it
// returns both digests.
func sameViews(t *testing.T, got *clickhouse.DB, gotDB string, want *clickhouse.DB, wantDB, what string) (map[string][][]any, map[string][][]any) {
	t.Helper()
	for view, n := range duplicateKeys(t, got) {
		if n != 0 {
			t.Errorf("%s holds %d rows beyond one per key after the replay with %s", view, n, what)
		}
	}
	g, w := viewDigest(t, got, gotDB), viewDigest(t, want, wantDB)
	if len(g) != len(w) {
		t.Errorf("the replays' views have %d and %d columns", len(g), len(w))
	}
	for col := range w {
		if !reflect.DeepEqual(g[col], w[col]) {
			t.Errorf("%s after %s differs from the undisturbed replay's:\n got %v\nwant %v", col, what, g[col], w[col])
		}
	}
	return g, w
}

// viewDigest sums up what a replay leaves in ClickHouse, in a form two replays can be compared
// by: per view, column and model version, the row count and an order-independent hash of the
// column's value together with the row's key. The columns that record when a row was made
// (version, computed_at, observed_at) are left out. (One query per column: ClickHouse 18.16
// runs out of memory hashing all the columns of blocks_latest in one query.)
func viewDigest(t *testing.T, conn *clickhouse.DB, db string) map[string][][]any {
	t.Helper()
	out := map[string][][]any{}
	for view, key := range digestViews {
		var quoted []string
		for _, k := range key {
			quoted = append(quoted, clickhouse.QuoteIdentifier(k))
		}
		group := "''"
		if slices.Contains(key, "model_version") {
			group = "model_version"
		}
		cols := queryRows(t, conn, fmt.Sprintf("SELECT name FROM system.columns WHERE database = '%s' AND table = '%s' ORDER BY name", db, view))
		if len(cols) == 0 {
			t.Fatalf("%s.%s has no columns", db, view)
		}
		for _, r := range cols {
			name := r[0].(string)
			switch name {
			case "version", "computed_at", "observed_at":
				continue
			}
			rows := queryRows(t, conn, fmt.Sprintf("SELECT %s, count(), sum(cityHash64(%s, %s)) FROM %s GROUP BY %s ORDER BY %s",
				group, strings.Join(quoted, ", "), clickhouse.QuoteIdentifier(name), view, group, group))
			out[view+"."+name] = rows
		}
	}
	return out
}

// duplicateKeys counts, per view, the rows beyond one per natural key: what FINAL must have
// merged away.
func duplicateKeys(t *testing.T, conn *clickhouse.DB) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for view, key := range digestViews {
		r := queryRows(t, conn, fmt.Sprintf("SELECT toInt64(count()) - toInt64(uniqExact(%s)) FROM %s", strings.Join(key, ", "), view))
		out[view] = r[0][0].(int64)
	}
	return out
}

// fewDraws makes both replays of the comparison cheaper: the number of Monte Carlo draws behind
// the intervals has nothing to do with the broker.
const fewDraws = "--estimate.draws=100"

// TestKafkaReplayWithABrokerRestartMatchesAnUninterruptedEmbeddedReplay replays the shared
// history through the test broker and restarts the broker once a third of the blocks are on
// it: the replay must ride through (its writes and topic reads wait for the broker) and leave
// in ClickHouse exactly the rows of a replay through a fresh embedded broker, uninterrupted —
// the same blocks, epochs, network and pool estimates (every column but the times of writing),
// no duplicate key in any view. On the real broker it replays the whole of ../shared/data: this
// is the "the replay through Kafka gives the same rows as through kfake", with a
// restart on top. On kfake, which make test runs under the race detector (a full replay takes
// minutes there), it replays the first 50,000 blocks.
func TestKafkaReplayWithABrokerRestartMatchesAnUninterruptedEmbeddedReplay(t *testing.T) {
	data := sharedData(t)
	b := newTestBroker(t)
	suffix := rand.Uint64() % 1_000_000_000
	dbRestarted, dbReference := fmt.Sprintf("hashatlas_restart_%d", suffix), fmt.Sprintf("hashatlas_reference_%d", suffix)
	dropDatabaseAtEnd(t, dbRestarted)
	dropDatabaseAtEnd(t, dbReference)
	total, said := int64(282174), "replayed 282174 blocks up to height 946236"
	history := []string{fewDraws}
	if !b.real {
		total, said = 50000, "replayed 50000 blocks up to height 714062"
		history = append(history, "--blocks="+firstBlocks(t, int(total)))
	}

	done := runCmdAsync(t, append(replayArgs(data, dbRestarted, b.arg()), history...)...)
	tr, err := kafka.NewTopicReader(b.cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	onTopic := waitForProgress(t, done, total/3, "a third of the blocks were published", func() int64 {
		n, err := tr.EndTotal(ctx, []string{schemas.TopicBlocks})
		if err != nil {
			t.Fatal(err)
		}
		return n
	})
	down := b.restart(t)
	r := <-done
	if r.code != exitOK {
		t.Fatalf("the replay through a broker restarted after %d of %d blocks failed (exit %d): %s", onTopic, total, r.code, r.errOut)
	}
	if !strings.Contains(r.out, said) {
		t.Fatalf("the replay said: %s", r.out)
	}
	t.Logf("broker restarted after %d of %d blocks were published, down for %.1f s; replay: %s", onTopic, total, down.Seconds(), strings.TrimSpace(r.out))

	if code, _, errOut := runCmd(t, nil, append(replayArgs(data, dbReference, "--kafka.embedded", "--kafka.embedded-port=0"), history...)...); code != exitOK {
		t.Fatalf("reference replay through a fresh embedded broker: exit %d: %s", code, errOut)
	}
	restarted, reference := openTestDB(t, dbRestarted), openTestDB(t, dbReference)
	_, want := sameViews(t, restarted, dbRestarted, reference, dbReference, "a broker restart")
	if n := want["blocks_latest.height"][0][1].(uint64); n != uint64(total) {
		t.Fatalf("the reference holds %d blocks, want %d", n, total)
	}
}

// countingStore passes results on to a store and counts, per height, the raw blocks it wrote
// while its estimator rebuilt its state (replay) and while it followed the group (follow).
type countingStore struct {
	next estimate.Store

	mu        sync.Mutex
	following bool
	replay    map[int64]int
	follow    map[int64]int
}

func newCountingStore(next estimate.Store) *countingStore {
	return &countingStore{next: next, replay: map[int64]int{}, follow: map[int64]int{}}
}

func (s *countingStore) WriteResults(ctx context.Context, r estimate.Results) error {
	if err := s.next.WriteResults(ctx, r); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range r.Raw {
		var h int64
		switch b := m.(type) {
		case schemas.Block:
			h = b.Height
		case *schemas.Block:
			h = b.Height
		default:
			continue
		}
		if s.following {
			s.follow[h]++
		} else {
			s.replay[h]++
		}
	}
	return nil
}

func (s *countingStore) followed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.follow)
}

// followingSource is an estimator's input log that tells its store when the estimator moves
// from rebuilding its state to following the group (estimate.Run writes everything it rebuilt
// before it calls Follow).
type followingSource struct {
	estimate.Source
	store *countingStore
}

func (s followingSource) Follow(ctx context.Context, apply func(schemas.Message) error, flush func(context.Context) error) error {
	s.store.mu.Lock()
	s.store.following = true
	s.store.mu.Unlock()
	return s.Source.Follow(ctx, apply, flush)
}

// testEstimator is one estimator process: estimate.Run over the test broker and ClickHouse,
// in the background.
type testEstimator struct {
	store *countingStore
	src   *kafkaSource
	stop  context.CancelFunc
	done  chan error
}

func startTestEstimator(t *testing.T, b *testBroker, db, group string) *testEstimator {
	t.Helper()
	ctx := context.Background()
	conn := openTestDB(t, db)
	chCfg := clickhouse.DefaultConfig()
	chCfg.FlushInterval = 100 * time.Millisecond
	inner, err := clickhouse.NewEstimateStore(ctx, conn, chCfg.WriterConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inner.Close(context.Background()) })
	w, err := kafka.NewWriter(b.cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	tr, err := kafka.NewTopicReader(b.cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	model := estimate.NewModel()
	model.Draws = 200
	e := &testEstimator{store: newCountingStore(inner), done: make(chan error, 1)}
	svc := estimate.NewService(estimate.ServiceConfig{Model: model, RecentBlocks: 10}, e.store, w, nil)
	e.src = &kafkaSource{cfg: b.cfg, group: group, reader: tr, log: discardLogger(), svc: svc}
	runCtx, stop := context.WithCancel(ctx)
	e.stop = stop
	go func() {
		e.done <- estimate.Run(runCtx, svc, followingSource{e.src, e.store}, false, nil, discardLogger())
	}()
	t.Cleanup(stop)
	return e
}

// end stops the estimator (it commits what it handled and leaves the group) and returns Run's
// error.
func (e *testEstimator) end(t *testing.T) error {
	t.Helper()
	e.stop()
	select {
	case err := <-e.done:
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("the estimator did not stop within 60 s")
		return nil
	}
}

// testBlocks returns blocks [from, to) of a made-up chain, 144 a day from 2012-01-01 (a past date: validation refuses times past now), mined
// by two pools in turn.
func testBlocks(from, to int64) []schemas.Message {
	bits := "17034219"
	work, _ := schemas.WorkFromBits(bits)
	diff, _ := schemas.DifficultyFromBits(bits)
	day0 := time.Date(2012, 1, 1, 0, 0, 0, 0, time.UTC)
	var out []schemas.Message
	for h := from; h < to; h++ {
		out = append(out, schemas.Block{Height: h, Time: day0.Add(time.Duration(h) * 10 * time.Minute),
			Bits: bits, Difficulty: diff, Work: work, Pool: []string{"alpha", "beta"}[h%2],
			AttributionMethod: schemas.AttributionFile, Source: "test", ObservedAt: day0})
	}
	return out
}

// TestKafkaSecondEstimatorJoiningAndLeavingMidStreamLosesNoBlockAndWritesNoneTwice runs a
// second estimator in the first one's consumer group while blocks stream in, then stops it: the
// group hands the partitions to the newcomer and back. Every block streamed must reach
// ClickHouse, and none may be written twice by the estimators following the group.
//
// A block is written to the raw blocks table when an estimator applies it and did not have it:
// a block handed to the next owner of its partition without its commit is applied and written
// by both members, which the counting store reports. (The second estimator also writes the
// blocks it read while it rebuilt its state on start, by design; those are counted apart.)
func TestKafkaSecondEstimatorJoiningAndLeavingMidStreamLosesNoBlockAndWritesNoneTwice(t *testing.T) {
	b := newTestBroker(t)
	db := fmt.Sprintf("hashatlas_rebalance_%d", rand.Uint64()%1_000_000_000)
	dropDatabaseAtEnd(t, db)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if code, _, errOut := runCmd(t, nil, "migrate", "--clickhouse.addr="+testClickHouseAddr(), "--clickhouse.database="+db); code != exitOK {
		t.Fatalf("migrate: %s", errOut)
	}
	w, err := kafka.NewWriter(b.cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const history = 144 // the first day, there before the estimators start
	if err := w.Publish(ctx, testBlocks(0, history)...); err != nil {
		t.Fatal(err)
	}

	group := fmt.Sprintf("estimator-%d", rand.Uint64())
	a := startTestEstimator(t, b, db, group)

	// The stream: 6 blocks every 20 ms until told to stop.
	var next atomic.Int64
	next.Store(history)
	stopStream := make(chan struct{})
	streamed := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stopStream:
				streamed <- nil
				return
			case <-time.After(20 * time.Millisecond):
			}
			h := next.Load()
			if err := w.Publish(ctx, testBlocks(h, h+6)...); err != nil {
				streamed <- err
				return
			}
			next.Store(h + 6)
		}
	}()
	wait := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out after 60 s waiting for %s", what)
			}
		}
	}
	wait("the first estimator to write streamed blocks", func() bool { return a.store.followed() >= 300 })
	bEst := startTestEstimator(t, b, db, group)
	wait("the second estimator to get partitions and write streamed blocks", func() bool { return bEst.store.followed() >= 200 })
	if err := bEst.end(t); err != nil {
		t.Fatalf("second estimator: %v", err)
	}
	atLeave := a.store.followed()
	wait("the first estimator to take the partitions back", func() bool { return a.store.followed() >= atLeave+300 })
	close(stopStream)
	if err := <-streamed; err != nil {
		t.Fatalf("stream: %v", err)
	}
	last := next.Load()
	wait("the first estimator to commit every block", func() bool {
		lag, err := a.src.Lag(ctx)
		return err == nil && lag == 0
	})
	if err := a.end(t); err != nil {
		t.Fatalf("first estimator: %v", err)
	}

	var lost, twice []string
	for h := int64(history); h < last; h++ {
		followed := a.store.follow[h] + bEst.store.follow[h]
		if followed+bEst.store.replay[h] == 0 {
			lost = append(lost, strconv.FormatInt(h, 10))
		}
		if followed > 1 {
			twice = append(twice, fmt.Sprintf("%d (first estimator %d, second %d)", h, a.store.follow[h], bEst.store.follow[h]))
		}
	}
	sort.Strings(lost)
	if len(lost) > 0 {
		t.Errorf("%d streamed blocks were never written, e.g. %v", len(lost), lost[:min(5, len(lost))])
	}
	if len(twice) > 0 {
		t.Errorf("%d streamed blocks were written twice through the group, e.g. %v", len(twice), twice[:min(5, len(twice))])
	}
	if len(bEst.store.follow) == 0 {
		t.Fatal("the second estimator wrote no streamed block: the rebalance moved nothing")
	}
	conn := openTestDB(t, db)
	n := uint64(last - history)
	row := queryRows(t, conn, fmt.Sprintf("SELECT count(), uniqExact(height) FROM blocks_latest WHERE height >= %d", history))[0]
	if row[0].(uint64) != n || row[1].(uint64) != n {
		t.Errorf("blocks_latest holds %v rows of %v heights from %d on, want %d of each", row[0], row[1], history, n)
	}
	// The estimates are whole again: every day window counts every block of its day (while the
	// two shared the group, neither wrote estimates from its half; the first rebuilt its state
	// when it held every partition again).
	days := queryRows(t, conn, "SELECT toString(window_start), toString(blocks) FROM network_hashrate_latest WHERE window = 'day' ORDER BY window_start")
	want := queryRows(t, conn, "SELECT toString(toStartOfDay(time)), toString(count()) FROM blocks_latest GROUP BY toStartOfDay(time) ORDER BY toStartOfDay(time)")
	if !reflect.DeepEqual(days, want) {
		t.Errorf("day windows after the rebalance %v, want the block counts per day %v", days, want)
	}
	t.Logf("streamed %d blocks; written while following: %d by the first estimator, %d by the second (which rebuilt %d of them on start)",
		n, len(a.store.follow), len(bEst.store.follow), len(bEst.store.replay)-history)
}
