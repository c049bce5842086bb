package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
	"github.com/hashatlas/hashatlas/sinks/clickhouse"
	"github.com/hashatlas/hashatlas/sinks/kafka"
)

// childArgsEnv holds the arguments (JSON) with which the test binary, started as a child, runs
// the hashatlas entry point (TestMain) — a process of its own that a test can signal.
const childArgsEnv = "HASHATLAS_TEST_CHILD_ARGS"

// child is hashatlas running in a process of its own.
type child struct {
	cmd            *exec.Cmd
	stdout, stderr *lockedBuffer
	done           chan struct{}
	exited         time.Time
	code           int
}

func startChild(t testing.TB, args ...string) *child {
	t.Helper()
	b, _ := json.Marshal(args)
	ch := &child{cmd: exec.Command(os.Args[0]), stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	ch.cmd.Env = append(os.Environ(), childArgsEnv+"="+string(b))
	ch.cmd.Stdout, ch.cmd.Stderr = ch.stdout, ch.stderr
	if err := ch.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = ch.cmd.Wait()
		ch.exited = time.Now()
		ch.code = ch.cmd.ProcessState.ExitCode()
		close(ch.done)
	}()
	t.Cleanup(func() {
		select {
		case <-ch.done:
		default:
			_ = ch.cmd.Process.Kill()
			<-ch.done
		}
	})
	return ch
}

// terminate sends SIGTERM and waits for the exit at most wait; it returns how long the process
// took to exit (and kills it when it did not).
func (ch *child) terminate(t *testing.T, wait time.Duration) (time.Duration, bool) {
	t.Helper()
	sent := time.Now()
	if err := ch.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch.done:
		return ch.exited.Sub(sent), true
	case <-time.After(wait):
		_ = ch.cmd.Process.Kill()
		<-ch.done
		return ch.exited.Sub(sent), false
	}
}

// blackhole is a loopback TCP proxy to a server that can be cut the way a network partition
// cuts it: once cut, what either side sends is never delivered and new connections are accepted
// but never answered; nothing is closed, so only timeouts and cancellation end a wait on it.
type blackhole struct {
	ln     net.Listener
	target string
	cutCh  chan struct{}
	once   sync.Once
	mu     sync.Mutex
	conns  []net.Conn
}

func startBlackhole(t *testing.T, target string) *blackhole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{ln: ln, target: target, cutCh: make(chan struct{})}
	go b.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, c := range b.conns {
			_ = c.Close()
		}
	})
	return b
}

func (b *blackhole) addr() string { return b.ln.Addr().String() }

// cut stops all traffic through the proxy.
func (b *blackhole) cut() { b.once.Do(func() { close(b.cutCh) }) }

func (b *blackhole) track(c net.Conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.conns = append(b.conns, c)
}

func (b *blackhole) serve() {
	for {
		in, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.track(in)
		select {
		case <-b.cutCh:
			continue // accepted, never answered
		default:
		}
		out, err := net.Dial("tcp", b.target)
		if err != nil {
			_ = in.Close()
			continue
		}
		b.track(out)
		go b.pipe(in, out)
		go b.pipe(out, in)
	}
}

// pipe copies from src to dst until the cut; what arrives after it is swallowed.
func (b *blackhole) pipe(src, dst net.Conn) {
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-b.cutCh:
			_, _ = io.Copy(io.Discard, src) // read and never deliver, until the test ends
			return
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			_ = dst.Close()
			return
		}
	}
}

// shutdownFixture is a broker in the test process (so that the group's commits outlive the
// estimator's process), a database on the ClickHouse server and a direct connection to it.
type shutdownFixture struct {
	broker *kafka.Embedded
	kCfg   kafka.Config
	w      *kafka.Writer
	tr     *kafka.TopicReader
	db     string
	conn   *clickhouse.DB
	group  string
}

func newShutdownFixture(t *testing.T) *shutdownFixture {
	t.Helper()
	f := &shutdownFixture{db: fmt.Sprintf("hashatlas_shutdown_%d", rand.Uint64()%1_000_000_000), group: fmt.Sprintf("shutdown-%d", rand.Uint64())}
	var err error
	if f.broker, err = kafka.StartEmbedded(0, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.broker.Close)
	f.kCfg = kafka.DefaultConfig()
	f.kCfg.Brokers = []string{f.broker.Addr()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, f.kCfg, schemas.Topics()); err != nil {
		t.Fatal(err)
	}
	if f.w, err = kafka.NewWriter(f.kCfg, nil, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.w.Close() })
	if f.tr, err = kafka.NewTopicReader(f.kCfg, nil); err != nil {
		t.Fatal(err)
	}
	dropDatabaseAtEnd(t, f.db)
	cfg := clickhouse.DefaultConfig()
	cfg.Addr, cfg.Database = testClickHouseAddr(), f.db
	if f.conn, err = clickhouse.Open(ctx, cfg, nil, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.conn.Close() })
	return f
}

// publishDays publishes the blocks of days [from, to) of a made-up chain, 144 a day.
func (f *shutdownFixture) publishDays(t *testing.T, from, to int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.w.Publish(ctx, testBlocks(int64(from*144), int64(to*144))...); err != nil {
		t.Fatal(err)
	}
}

// committed is how many block offsets the estimator's group committed (0 before it has a
// group).
func (f *shutdownFixture) committed(t *testing.T) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := f.tr.CommittedTotal(ctx, f.group, schemas.TopicBlocks)
	if err != nil {
		if strings.Contains(err.Error(), "Group ID Not Found") {
			return 0
		}
		t.Fatal(err)
	}
	return n
}

// durable is how many distinct blocks are in the blocks table (0 before the migration).
func (f *shutdownFixture) durable(t *testing.T) int64 {
	t.Helper()
	res, err := f.conn.Query(context.Background(), "SELECT toInt64(uniqExact(height)) FROM blocks")
	if err != nil {
		if strings.Contains(err.Error(), "doesn't exist") || strings.Contains(err.Error(), "does not exist") {
			return 0
		}
		t.Fatal(err)
	}
	return res.Rows[0][0].(int64)
}

func (f *shutdownFixture) waitFor(t *testing.T, what string, within time.Duration, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !ok(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
	}
}

// TestSIGTERMWhileClickHouseIsBlackholedEndsWithinTheBudget (issue 13, case 4): the estimator,
// following its group, is stopped with SIGTERM while ClickHouse has stopped answering in the
// middle of a flush (a proxy swallows everything, connections stay open). The process exits
// within --shutdown.timeout (3 s here; before, it was still alive minutes later: Writer.Discard
// and the store's Close waited with context.Background() for sends only the driver's 5-minute
// read timeout ends), and the group committed no offset whose block is not in ClickHouse. At
// the next start, with ClickHouse back, the blocks not committed are delivered again and
// written, and a SIGTERM then ends it at once with everything committed.
func TestSIGTERMWhileClickHouseIsBlackholedEndsWithinTheBudget(t *testing.T) {
	const budget = 3 * time.Second
	f := newShutdownFixture(t)
	f.publishDays(t, 0, 1)
	proxy := startBlackhole(t, testClickHouseAddr())
	args := func(addr string) []string {
		return []string{"estimate", "--kafka.brokers=" + f.broker.Addr(), "--clickhouse.addr=" + addr, "--clickhouse.database=" + f.db,
			"--estimate.group=" + f.group, "--estimate.draws=100", "--shutdown.timeout=" + budget.String(), "--log.level=warn"}
	}
	est := startChild(t, args(proxy.addr())...)
	f.waitFor(t, "the first day's 144 blocks written and committed", 60*time.Second, func() bool {
		select {
		case <-est.done:
			t.Fatalf("the estimator exited %d: %s", est.code, est.stderr)
		default:
		}
		return f.committed(t) == 144 && f.durable(t) == 144
	})

	proxy.cut()
	f.publishDays(t, 1, 2)
	// The estimator applies them and, at its next commit (every second), flushes them into the
	// blackhole.
	time.Sleep(2500 * time.Millisecond)
	took, exited := est.terminate(t, budget+10*time.Second)
	t.Logf("exit %d %v after SIGTERM (budget %v); stderr:\n%s", est.code, took.Round(time.Millisecond), budget, est.stderr)
	if !exited {
		t.Fatalf("still running %v after SIGTERM with a %v shutdown budget (killed)", took.Round(time.Millisecond), budget)
	}
	if took > budget+500*time.Millisecond {
		t.Errorf("exited %v after SIGTERM, want within the %v budget", took.Round(time.Millisecond), budget)
	}
	// On its own: the last flush gave up at its share of the budget and the estimator left its
	// group (so the next start need not wait out its session), rather than being cut off at the
	// end of the budget.
	if strings.Contains(est.stderr.String(), "after the stop signal") {
		t.Errorf("the estimator did not end on its own within its budget; the last resort ended it")
	}
	committed, durable := f.committed(t), f.durable(t)
	if committed > durable {
		t.Fatalf("the group committed %d block offsets but only %d blocks are in ClickHouse", committed, durable)
	}
	if committed != 144 {
		t.Errorf("the group committed %d block offsets, want the first day's 144 (the second day never reached ClickHouse)", committed)
	}

	// The next start, ClickHouse answering: the second day is delivered again and written.
	est = startChild(t, args(testClickHouseAddr())...)
	f.waitFor(t, "both days written and committed after the restart", 60*time.Second, func() bool {
		return f.committed(t) == 288 && f.durable(t) == 288
	})
	took, exited = est.terminate(t, budget+10*time.Second)
	if !exited || took > budget || est.code != exitOK {
		t.Fatalf("with ClickHouse answering: exit %d %v after SIGTERM (exited: %v), want 0 well within %v; stderr:\n%s", est.code, took, exited, budget, est.stderr)
	}
	if committed, durable := f.committed(t), f.durable(t); committed != 288 || durable != 288 {
		t.Fatalf("after a clean stop: %d committed, %d durable, want 288 and 288", committed, durable)
	}
}

// TestSIGTERMWhileConnectingToABlackholedClickHouseEndsAtTheBudget: the last resort of the
// shutdown budget. Connecting to a server that accepted the connection and never answers waits
// for the driver's handshake, which no context interrupts (here up to a 1-minute dial timeout);
// SIGTERM still ends the process at its budget, with one line saying so.
func TestSIGTERMWhileConnectingToABlackholedClickHouseEndsAtTheBudget(t *testing.T) {
	const budget = time.Second
	proxy := startBlackhole(t, testClickHouseAddr())
	proxy.cut()
	mig := startChild(t, "migrate", "--clickhouse.addr="+proxy.addr(), "--clickhouse.dial-timeout=1m", "--shutdown.timeout="+budget.String())
	time.Sleep(time.Second)
	took, exited := mig.terminate(t, budget+10*time.Second)
	if !exited || took > budget+500*time.Millisecond {
		t.Fatalf("exited: %v, %v after SIGTERM, want within the %v budget; stderr:\n%s", exited, took.Round(time.Millisecond), budget, mig.stderr)
	}
	lines := strings.Split(strings.TrimRight(mig.stderr.String(), "\n"), "\n")
	if mig.code != exitFailed || len(lines) != 1 || !strings.Contains(lines[0], "still running 1s after the stop signal (--shutdown.timeout") {
		t.Fatalf("exit %d, stderr %q; want exit 1 and one line naming --shutdown.timeout", mig.code, mig.stderr)
	}
}

// TestRunStopsCollectorsThenTheEstimatorWhichWritesAndCommitsItsLastRecords (issue 13, case
// 5): `run` stopped while blocks stream in (the estimator always has records applied but not
// yet committed) stops every part and waits for all of them, the estimator last: the
// collectors stop, then the estimator writes what it applied, commits exactly that, and
// releases its generation of the group — all within the shutdown budget. Before, the command
// returned with its first goroutine (a collector's schedule), closed the stores under the
// estimator ("buffered rows discarded") and left the group's offsets behind the blocks written.
func TestRunStopsCollectorsThenTheEstimatorWhichWritesAndCommitsItsLastRecords(t *testing.T) {
	const budget = 5 * time.Second
	f := newShutdownFixture(t)
	t.Setenv("HASHATLAS_BLOCKS", firstBlocks(t, 10))
	t.Setenv("HASHATLAS_DIFFICULTY", filepath.Join(sharedData(t), "difficulty_epochs.csv"))
	var stderr lockedBuffer
	c := newCLI("run", io.Discard, &stderr)
	runFn, err := setupRun(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.parse([]string{"--kafka.brokers=" + f.broker.Addr(), "--clickhouse.addr=" + testClickHouseAddr(), "--clickhouse.database=" + f.db,
		"--estimate.group=" + f.group, "--estimate.draws=100", "--run.collectors=file=@every 1h", "--shutdown.timeout=" + budget.String(),
		"--log.level=debug", "--log.format=json"}); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	c.shutdown = watchShutdown(ctx, c.shutdownTimeout) // as run does
	defer c.shutdown.release()
	done := make(chan error, 1)
	go func() { done <- runFn(ctx) }()

	// Blocks stream in the whole time: 20 every 50 ms, a day every 360 ms.
	pubCtx, stopPublishing := context.WithCancel(context.Background())
	published := make(chan int64, 1)
	go func() {
		h := int64(1000)
		for pubCtx.Err() == nil {
			if err := f.w.Publish(pubCtx, testBlocks(h, h+20)...); err == nil {
				h += 20
			}
			time.Sleep(50 * time.Millisecond)
		}
		published <- h - 1000
	}()
	f.waitFor(t, "the estimator following and committing", 60*time.Second, func() bool {
		select {
		case err := <-done:
			t.Fatalf("run stopped early: %v\n%s", err, stderr.String())
		default:
		}
		return f.committed(t) >= 500
	})

	stop() // as SIGTERM does
	start := time.Now()
	select {
	case err = <-done:
	case <-time.After(budget + 10*time.Second):
		t.Fatalf("run still running %v after it was stopped (budget %v)", time.Since(start), budget)
	}
	took := time.Since(start)
	logs := stderr.String() // what had happened when run returned (the process would exit now)
	committed, durable := f.committed(t), f.durable(t)
	stopPublishing()
	n := <-published
	if err != nil {
		t.Fatalf("run returned %v when stopped, want nil\n%s", err, lastLines(logs, 40))
	}
	t.Logf("stopped in %v; %d blocks published, %d written, %d committed", took.Round(time.Millisecond), n, durable, committed)
	if took > budget {
		t.Errorf("run took %v to stop, want within the %v budget", took, budget)
	}
	if !strings.Contains(logs, `"msg":"released the generation"`) {
		t.Errorf("run returned before the estimator released its generation of the group:\n%s", lastLines(logs, 40))
	}
	if committed != durable {
		t.Errorf("the group committed %d block offsets, %d blocks are in ClickHouse: want the last flush committed, no more and no less", committed, durable)
	}
	// Nothing runs on after run returned: a part still running would move these.
	time.Sleep(time.Second)
	if c2, d2 := f.committed(t), f.durable(t); c2 != committed || d2 != durable {
		t.Errorf("after run returned, the committed offsets went from %d to %d and the blocks in ClickHouse from %d to %d: a part was still running",
			committed, c2, durable, d2)
	}
	c.close()
	if strings.Contains(logs, "buffered rows discarded") {
		t.Errorf("rows were discarded at the stop:\n%s", lastLines(logs, 40))
	}
	// The order: the collectors stopped, then the estimator wrote, committed and released its
	// generation, then the group returned.
	order := []string{`"msg":"stopping: the collectors first, then the estimator"`, `"msg":"collectors stopped; stopping the estimator`,
		`"msg":"released the generation"`, `"msg":"stopped: collectors and estimator"`}
	at := 0
	for _, want := range order {
		i := strings.Index(logs[at:], want)
		if i < 0 {
			t.Fatalf("the logs lack %s after the previous step (want, in order: %q)\n%s", want, order, lastLines(logs, 40))
		}
		at += i
	}
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
