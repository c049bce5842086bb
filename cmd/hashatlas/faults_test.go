package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/estimate"
	"github.com/hashatlas/hashatlas/schemas"
	"github.com/hashatlas/hashatlas/sinks/clickhouse"
	"github.com/hashatlas/hashatlas/sinks/kafka"
)

// The fault suite of issue 13 for the estimator's inputs (cases 1, 2, 3 and 8): each test runs
// the pipeline — the embedded broker, the estimator, the ClickHouse server — once undisturbed
// and once with the fault, and compares every table (row counts and a checksum of every column
// but the compute times), the dead letters, and the group's commits against what is durable.
// Cases 4 and 5 (outages, shutdown) are in shutdown_test.go; 6 and 7 (secrets, hostile
// sources) in package ingest.

// faultRig is one pipeline: a fresh broker and a fresh database.
type faultRig struct {
	t      testing.TB
	ctx    context.Context
	kCfg   kafka.Config
	chCfg  clickhouse.Config
	db     *clickhouse.DB
	w      *kafka.Writer
	reader *kafka.TopicReader
	group  string
}

func newFaultRig(t testing.TB, name string) *faultRig {
	t.Helper()
	broker, err := kafka.StartEmbedded(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { broker.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	r := &faultRig{t: t, ctx: ctx, kCfg: kafka.DefaultConfig(), chCfg: clickhouse.DefaultConfig(), group: "faults-" + name}
	r.kCfg.Brokers = []string{broker.Addr()}
	if err := kafka.EnsureTopics(ctx, r.kCfg, schemas.Topics()); err != nil {
		t.Fatal(err)
	}
	r.chCfg.Addr, r.chCfg.Database = testClickHouseAddr(), fmt.Sprintf("hashatlas_fault_%s_%d", name, rand.Uint64()%1_000_000_000)
	r.chCfg.FlushInterval = 100 * time.Millisecond
	dropDatabaseAtEnd(t, r.chCfg.Database)
	if r.db, err = clickhouse.Open(ctx, r.chCfg, nil, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.db.Close() })
	migrations, _ := schemas.Migrations()
	if _, err := clickhouse.Migrate(ctx, r.db, migrations, nil); err != nil {
		t.Fatal(err)
	}
	if r.w, err = kafka.NewWriter(r.kCfg, nil, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.w.Close() })
	if r.reader, err = kafka.NewTopicReader(r.kCfg, nil); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *faultRig) publish(msgs ...schemas.Message) {
	r.t.Helper()
	if err := r.w.Publish(r.ctx, msgs...); err != nil {
		r.t.Fatal(err)
	}
}

// publishRaw writes bytes as they are, as a producer that does not validate would.
func (r *faultRig) publishRaw(topic, key string, value []byte) {
	r.t.Helper()
	if err := r.w.WriteMessages(r.ctx, kafka.Message{Topic: topic, Key: []byte(key), Value: value}); err != nil {
		r.t.Fatal(err)
	}
}

// chArgs are the command-line flags that point a command at the rig.
func (r *faultRig) args(cmd ...string) []string {
	return append(cmd, "--kafka.brokers="+r.kCfg.Brokers[0], "--clickhouse.addr="+r.chCfg.Addr,
		"--clickhouse.database="+r.chCfg.Database, "--estimate.group="+r.group, "--estimate.draws=200", "--log.level=warn")
}

// estimateUntilIdle runs `hashatlas estimate --until-idle` and fails the test unless it exits 0.
func (r *faultRig) estimateUntilIdle() {
	r.t.Helper()
	select {
	case res := <-runCmdAsync(r.t, r.args("estimate", "--until-idle")...):
		if res.code != exitOK {
			r.t.Fatalf("estimate --until-idle: exit %d: %s", res.code, res.errOut)
		}
	case <-time.After(90 * time.Second):
		r.t.Fatal("estimate --until-idle did not finish within 90 s: a message stopped it")
	}
}

// follower is the long-running estimator (estimate.Run following the input topics).
type follower struct {
	stop func()
	done chan error
}

func (r *faultRig) follow() *follower {
	r.t.Helper()
	store, err := clickhouse.NewEstimateStore(r.ctx, r.db, r.chCfg.WriterConfig(), nil, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = store.Close(context.Background()) })
	model := estimate.NewModel()
	model.Draws = 200
	svc := estimate.NewService(estimate.ServiceConfig{Model: model}, store, r.w, nil)
	src := &kafkaSource{cfg: r.kCfg, group: r.group, reader: r.reader, log: discardLogger(), svc: svc}
	ctx, stop := context.WithCancel(r.ctx)
	f := &follower{stop: stop, done: make(chan error, 1)}
	go func() { f.done <- estimate.Run(ctx, svc, src, false, nil, discardLogger()) }()
	return f
}

func (f *follower) close(t *testing.T) {
	t.Helper()
	f.stop()
	if err := <-f.done; err != nil {
		t.Fatalf("estimator: %v", err)
	}
}

// caughtUp waits until the group committed every input message (it is never ahead: commits
// follow durable writes).
func (r *faultRig) caughtUp() {
	r.t.Helper()
	var end, committed int64
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var err error
		if end, err = r.reader.EndTotal(r.ctx, estimatorInputs); err != nil {
			continue
		}
		committed = 0
		for _, topic := range estimatorInputs {
			n, _ := r.reader.CommittedTotal(r.ctx, r.group, topic)
			committed += n
		}
		if committed == end {
			return
		}
	}
	r.t.Fatalf("the estimator's group committed %d of %d input messages within 60 s: a message stopped it", committed, end)
}

// stateTables are the tables compared between runs.
var stateTables = []string{"blocks", "blocks_canonical", "difficulty_epochs", "orphaned_blocks", "pool_stats", "grid_observations",
	"network_hashrate", "pool_hashrate", "country_hashrate", "region_block_share", "energy_signals"}

// checksums returns, per table, its row count and a checksum of every column but those that
// record when a row was made (version, computed_at, detected_at, observed_at). The last-n estimate is left
// out: which tips it was computed at depends on how messages were batched.
func (r *faultRig) checksums() map[string]string {
	r.t.Helper()
	return tableChecksums(r.t, r.ctx, r.db)
}

// tableChecksums is faultRig.checksums of the database of any DB.
func tableChecksums(t testing.TB, ctx context.Context, db *clickhouse.DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, table := range stateTables {
		res, err := db.Query(ctx, "SELECT name FROM system.columns WHERE database = "+clickhouse.QuoteString(db.Database())+
			" AND table = "+clickhouse.QuoteString(strings.TrimSuffix(table, "_canonical"))+" ORDER BY name")
		if err != nil {
			t.Fatal(err)
		}
		var cols []string
		window := false
		for _, row := range res.Rows {
			name := row[0].(string)
			switch name {
			case "version", "computed_at", "detected_at", "observed_at":
				continue
			case "window":
				window = true
			}
			cols = append(cols, clickhouse.QuoteIdentifier(name))
		}
		from := table + " FINAL"
		if table == "blocks_canonical" {
			from = table
		}
		where := ""
		if window {
			where = " WHERE window != 'lastn'"
		}
		res, err = db.Query(ctx, "SELECT toString(count()), toString(sum(cityHash64("+strings.Join(cols, ", ")+"))) FROM "+from+where)
		if err != nil {
			t.Fatalf("checksum of %s: %v", table, err)
		}
		out[table] = fmt.Sprintf("%s rows, sum %s", res.Rows[0][0], res.Rows[0][1])
	}
	return out
}

// rows is SELECT count() of a query's rows.
func (r *faultRig) count(query string) uint64 {
	r.t.Helper()
	res, err := r.db.Query(r.ctx, "SELECT count() FROM ("+query+")")
	if err != nil {
		r.t.Fatal(err)
	}
	return res.Rows[0][0].(uint64)
}

// deadLetters reads the dead-letter topic.
func (r *faultRig) deadLetters() []schemas.DeadLetter {
	r.t.Helper()
	var out []schemas.DeadLetter
	_, err := r.reader.ReadAll(r.ctx, []string{schemas.TopicDLQ}, func(rec kafka.Record) error {
		switch d := rec.Message.(type) {
		case schemas.DeadLetter:
			out = append(out, d)
		case *schemas.DeadLetter:
			out = append(out, *d)
		}
		return nil
	}, func(_ kafka.Record, err error) { r.t.Errorf("undecodable dead letter: %v", err) })
	if err != nil {
		r.t.Fatal(err)
	}
	return out
}

func sameTables(t *testing.T, want, got map[string]string) {
	t.Helper()
	for _, table := range stateTables {
		if want[table] != got[table] {
			t.Errorf("%s: %s with the fault, %s undisturbed", table, got[table], want[table])
		}
	}
}

// faultDay is day d of a made-up chain (144 blocks from 2026-03-02, the pools taking turns);
// the first block of day d is at height 144·d.
func faultDay(d int) []schemas.Message {
	bits := "17034219"
	work, _ := schemas.WorkFromBits(bits)
	diff, _ := schemas.DifficultyFromBits(bits)
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC).AddDate(0, 0, d)
	out := make([]schemas.Message, 144)
	for i := range out {
		out[i] = schemas.Block{Height: int64(d*144 + i), Time: day.Add(time.Duration(i) * 10 * time.Minute),
			Bits: bits, Difficulty: diff, Work: work, Pool: []string{"foundryusa", "antpool", "viabtc"}[i%3],
			AttributionMethod: schemas.AttributionFile, Source: "test", ObservedAt: day}
	}
	return out
}

// poison are input records that must become dead letters, each with the field its reason names:
// a block dated 2150 (past every DateTime column), one at height 9·10^18 (past UInt32), and
// one that is not JSON at all.
func poison(t *testing.T) (records []struct {
	key   string
	value []byte
}, reasons []string) {
	t.Helper()
	good, err := schemas.Encode(faultDay(0)[0])
	if err != nil {
		t.Fatal(err)
	}
	add := func(key string, value []byte, reason string) {
		records = append(records, struct {
			key   string
			value []byte
		}{key, value})
		reasons = append(reasons, reason)
	}
	add("0", []byte(strings.Replace(string(good), `"time":"2026-03-02T00:00:00Z"`, `"time":"2150-01-01T00:00:00Z"`, 1)), "field time")
	add("9000000000000000000", []byte(strings.Replace(string(good), `"height":0,`, `"height":9000000000000000000,`, 1)), "field height")
	add("x", []byte("not json"), "")
	for i, rec := range records[:2] {
		if string(rec.value) == string(good) {
			t.Fatalf("poison %d was not made: the block's JSON changed form", i)
		}
	}
	return records, reasons
}

// checkPoisonLetters matches the dead letters to the poison records by their keys (the records
// sit on different partitions, so the letters come in no fixed order).
func checkPoisonLetters(t *testing.T, letters []schemas.DeadLetter, keys, reasons []string) {
	t.Helper()
	if len(letters) != len(reasons) {
		t.Fatalf("%d dead letters, want %d (one per poison record): %+v", len(letters), len(reasons), letters)
	}
	byKey := map[string]schemas.DeadLetter{}
	for _, d := range letters {
		byKey[string(d.OriginalKey)] = d
	}
	for i, want := range reasons {
		d, ok := byKey[keys[i]]
		if !ok || d.OriginalTopic != schemas.TopicBlocks || !strings.Contains(d.Reason, want) {
			t.Errorf("dead letter of poison record %q: %+v; want one from the blocks topic with a reason naming %q", keys[i], d, want)
		}
	}
}

// TestFaultPoisonWhileFollowingLosesNothing (cases 1 and 2): poison records published while the
// estimator follows become dead letters with their reasons; the blocks before and after them,
// a reorg among them, all reach every table exactly as without the poison, and the group's
// commits reach the end of the topics (before: a block dated 2150 made the next flush commit a
// batch whose rows were never written; one at height 9·10^18 stopped the estimator for good).
func TestFaultPoisonWhileFollowingLosesNothing(t *testing.T) {
	records, reasons := poison(t)
	reorg := faultDay(1)[10].(schemas.Block)
	reorg.Pool = "f2pool"
	run := func(name string, disturb bool) (map[string]string, *faultRig) {
		r := newFaultRig(t, name)
		r.publish(faultDay(0)...)
		f := r.follow()
		r.caughtUp()
		if disturb {
			for _, rec := range records {
				r.publishRaw(schemas.TopicBlocks, rec.key, rec.value)
			}
		}
		r.publish(faultDay(1)...)
		r.publish(reorg)
		r.caughtUp()
		f.close(t)
		return r.checksums(), r
	}
	want, _ := run("calm", false)
	got, r := run("poison", true)
	sameTables(t, want, got)
	keys := make([]string, len(records))
	for i, rec := range records {
		keys[i] = rec.key
	}
	checkPoisonLetters(t, r.deadLetters(), keys, reasons)
	if n := r.count("SELECT height FROM blocks_canonical"); n != 288 {
		t.Fatalf("%d canonical blocks, want 288", n)
	}
}

// TestFaultPoisonInTheReplayLosesNothing (case 1): the same poison in the input log before the
// estimator starts — its start-up rebuild — gives the same tables as a log without it (before:
// exit 0 and "estimates written", with one network row of all).
func TestFaultPoisonInTheReplayLosesNothing(t *testing.T) {
	records, _ := poison(t)
	run := func(name string, disturb bool) map[string]string {
		r := newFaultRig(t, name)
		r.publish(faultDay(0)...)
		if disturb {
			for _, rec := range records {
				r.publishRaw(schemas.TopicBlocks, rec.key, rec.value)
			}
		}
		r.publish(faultDay(1)...)
		r.estimateUntilIdle()
		return r.checksums()
	}
	sameTables(t, run("calm", false), run("poison", true))
}

// TestFaultHashedBlockOverHashlessOneLeavesOneCanonicalRow (case 3): a file replay's blocks
// (no hash) and then the node's blocks at the same heights (with hashes): blocks_canonical holds
// one row per height, the node's, and the replaced rows are orphans.
func TestFaultHashedBlockOverHashlessOneLeavesOneCanonicalRow(t *testing.T) {
	r := newFaultRig(t, "hashes")
	day := faultDay(0)
	r.publish(day...)
	r.estimateUntilIdle()
	hashed := make([]schemas.Message, 10)
	for i := range hashed {
		b := day[i].(schemas.Block)
		b.Hash = fmt.Sprintf("%064x", 1000+i)
		hashed[i] = b
	}
	r.publish(hashed...)
	r.estimateUntilIdle()
	if n := r.count("SELECT height FROM blocks_canonical"); n != 144 {
		t.Fatalf("%d rows in blocks_canonical for 144 heights", n)
	}
	if n := r.count("SELECT height FROM blocks_canonical WHERE hash != ''"); n != 10 {
		t.Fatalf("%d canonical rows carry the node's hash, want 10", n)
	}
	if n := r.count("SELECT height FROM orphaned_blocks FINAL WHERE hash = '' AND replaced_by != ''"); n != 10 {
		t.Fatalf("%d hash-less blocks recorded as replaced, want 10", n)
	}
}

// TestFaultHistoryFromBeforeTheHardwareTable (case 8): a simulated world of 2016 (the first
// hardware model counts from 2016-07-31) replays whole: every day has its network, pool and
// country rows, every grid observation is stored, and power is unknown (NaN) exactly on the days
// before the hardware table and known after (before: "no miner model counts on 2016-07-02" and,
// through case 1, the batch lost).
func TestFaultHistoryFromBeforeTheHardwareTable(t *testing.T) {
	r := newFaultRig(t, "y2016")
	code, out, stderr := runCmd(t, nil, "simulate", "--kafka.brokers="+r.kCfg.Brokers[0], "--sim.seed=5",
		"--sim.from=2016-07-01", "--sim.to=2016-08-15", "--sim.out="+t.TempDir(), "--log.level=warn")
	if code != exitOK {
		t.Fatalf("simulate: exit %d: %s", code, stderr)
	}
	var blocks, grid int
	if _, err := fmt.Sscanf(out[strings.Index(out, "published"):], "published %d blocks", &blocks); err != nil {
		t.Fatalf("simulate summary %q: %v", out, err)
	}
	if i := strings.Index(out, "epochs, "); i >= 0 {
		_, _ = fmt.Sscanf(out[i+len("epochs, "):], "%d grid observations", &grid)
	}
	if grid == 0 {
		t.Fatalf("the simulated world has no grid observations: %q", out)
	}
	r.estimateUntilIdle()
	if n := r.count("SELECT height FROM blocks FINAL"); n != uint64(blocks) {
		t.Fatalf("%d blocks stored, want %d", n, blocks)
	}
	if n := r.count("SELECT * FROM grid_observations FINAL"); n != uint64(grid) {
		t.Fatalf("%d grid observations stored, want %d", n, grid)
	}
	if n := r.count("SELECT window_start FROM network_hashrate FINAL WHERE window = 'day'"); n != 45 {
		t.Fatalf("%d daily network rows, want 45 (every day of the world)", n)
	}
	if n := r.count("SELECT window_start FROM country_hashrate FINAL WHERE window = 'day' GROUP BY window_start"); n != 45 {
		t.Fatalf("country rows on %d days, want 45", n)
	}
	unknownAfter := r.count("SELECT * FROM country_hashrate FINAL WHERE window = 'day' AND window_start >= toDateTime('2016-07-31 00:00:00', 'UTC') AND isNaN(power_gw_best)")
	knownBefore := r.count("SELECT * FROM country_hashrate FINAL WHERE window = 'day' AND window_start < toDateTime('2016-07-30 00:00:00', 'UTC') AND NOT isNaN(power_gw_best)")
	unknown := r.count("SELECT * FROM country_hashrate FINAL WHERE window = 'day' AND isNaN(power_gw_best)")
	if unknownAfter != 0 || knownBefore != 0 || unknown == 0 {
		t.Fatalf("power: %d unknown rows in all, %d unknown from 2016-07-31, %d known before 2016-07-30; want unknown exactly before the hardware table", unknown, unknownAfter, knownBefore)
	}
}

// outageProxy forwards TCP connections to target; down makes it refuse connections — the
// listener closed, every open connection cut — for a while, as a restarting server does.
type outageProxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        []net.Conn
}

func startOutageProxy(t *testing.T, target string) *outageProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &outageProxy{addr: ln.Addr().String(), target: target, ln: ln}
	go p.serve(ln)
	t.Cleanup(func() { p.cut() })
	return p
}

func (p *outageProxy) serve(ln net.Listener) {
	for {
		in, err := ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(out, in); _ = out.Close() }()
		go func() { _, _ = io.Copy(in, out); _ = in.Close() }()
	}
}

// cut closes the listener and every connection.
func (p *outageProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

// down refuses connections for d, then listens again on the same address.
func (p *outageProxy) down(t *testing.T, d time.Duration) {
	p.cut()
	time.Sleep(d)
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Errorf("listen again on %s: %v", p.addr, err)
		return
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go p.serve(ln)
}

// TestFaultClickHouseOutageDuringTheRebuild (case 4): ClickHouse refuses connections for 3 s
// while the estimator's start-up rebuild writes its raw inputs (130,000 blocks of the shared
// history: two chunks written while replaying); `estimate --until-idle` must wait and retry,
// exit 0, and leave the same tables as a run without the outage (before: exit 1, "store 50000
// raw inputs: insert 50000 rows into blocks: … connection refused", a crash loop on restarts).
func TestFaultClickHouseOutageDuringTheRebuild(t *testing.T) {
	blocks := firstBlocks(t, 130000)
	epochs := filepath.Join(sharedData(t), "difficulty_epochs.csv")
	run := func(name string, outage bool) map[string]string {
		r := newFaultRig(t, name)
		if code, _, stderr := runCmd(t, nil, "collect", "file", "--once", "--kafka.brokers="+r.kCfg.Brokers[0], "--blocks="+blocks, "--difficulty="+epochs, "--log.level=warn"); code != exitOK {
			t.Fatalf("collect: exit %d: %s", code, stderr)
		}
		if !outage {
			r.estimateUntilIdle()
			return r.checksums()
		}
		proxy := startOutageProxy(t, r.chCfg.Addr)
		stop := make(chan struct{})
		downed := make(chan bool, 1)
		go func() {
			// The outage begins once the first raw rows are in: the rebuild is under way.
			for {
				select {
				case <-stop:
					downed <- false
					return
				case <-time.After(20 * time.Millisecond):
				}
				if res, err := r.db.Query(r.ctx, "SELECT count() FROM blocks"); err == nil && res.Rows[0][0].(uint64) > 0 {
					proxy.down(t, 3*time.Second)
					downed <- true
					return
				}
			}
		}()
		direct := r.chCfg.Addr
		r.chCfg.Addr = proxy.addr
		r.estimateUntilIdle()
		r.chCfg.Addr = direct
		close(stop)
		if !<-downed {
			t.Fatal("the rebuild ended before the outage began: the test proved nothing")
		}
		return r.checksums()
	}
	sameTables(t, run("calm", false), run("outage", true))
}
