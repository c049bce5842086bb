package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sirupsen/logrus"
)

// fakeBackend is a recording backend with one table: it answers the column lookup, stores
// inserted rows, and fails inserts as scripted.
type fakeBackend struct {
	mu       sync.Mutex
	names    []string
	types    []string
	rows     [][]any
	inserts  int     // insert calls, failed ones included
	failures []error // returned by the next inserts, in order; nil entries succeed
	// stuck, when set, makes inserts hang like a server that never answers, until the
	// channel is closed (then they fail with errRefused) or their context ends.
	stuck chan struct{}
	// gate, when set, makes inserts wait until it is closed, then succeed.
	gate chan struct{}
}

func (f *fakeBackend) exec(context.Context, string) error { return nil }
func (f *fakeBackend) close() error                       { return nil }

func (f *fakeBackend) query(_ context.Context, sql string) (*Result, error) {
	if !strings.Contains(sql, "system.columns") {
		return nil, fmt.Errorf("fake: unexpected query %s", sql)
	}
	res := &Result{Columns: []Column{{"name", "String"}, {"type", "String"}}}
	for i := range f.names {
		res.Rows = append(res.Rows, []any{f.names[i], f.types[i]})
	}
	return res, nil
}

func (f *fakeBackend) insert(ctx context.Context, _ string, _ []string, rows *rowBuffer) error {
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	if stuck := f.stuck; stuck != nil {
		f.inserts++
		f.mu.Unlock()
		select {
		case <-stuck:
			return errRefused
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer f.mu.Unlock()
	f.inserts++
	if len(f.failures) > 0 {
		err := f.failures[0]
		f.failures = f.failures[1:]
		if err != nil {
			return err
		}
	}
	for i := 0; i < rows.len(); i++ {
		f.rows = append(f.rows, rows.row(i, nil))
	}
	return nil
}

func (f *fakeBackend) written() ([][]any, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]any(nil), f.rows...), f.inserts
}

func (f *fakeBackend) fail(errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures = append(f.failures, errs...)
}

// hang makes the next inserts hang (see stuck); closing the returned channel makes them fail.
func (f *fakeBackend) hang() chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stuck = make(chan struct{})
	return f.stuck
}

// answer makes the next inserts succeed again.
func (f *fakeBackend) answer() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stuck = nil
}

func quietLog() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

func newFakeWriter(t *testing.T, cfg WriterConfig, reg prometheus.Registerer) (*Writer, *fakeBackend) {
	t.Helper()
	fb := &fakeBackend{names: []string{"id", "name", "at"}, types: []string{"UInt64", "String", "DateTime('UTC')"}}
	db := &DB{b: fb, database: "fake", log: quietLog(), metrics: newDBMetrics(nil)}
	w, err := NewWriter(context.Background(), db, "t", []string{"id", "name", "at"}, cfg, quietLog(), reg)
	if err != nil {
		t.Fatal(err)
	}
	return w, fb
}

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

var errRefused = &ch.OpError{Op: "dial", Err: syscall.ECONNREFUSED}

func TestWriterSendsEachFullBatchInTheBackground(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w, fb := newFakeWriter(t, WriterConfig{BatchRows: 3, FlushInterval: time.Hour}, nil)
		defer w.Close(context.Background())
		ctx := context.Background()
		for i := 0; i < 7; i++ {
			if err := w.Add(ctx, uint64(i), "n", t0); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		rows, inserts := fb.written()
		if len(rows) != 6 || inserts != 2 {
			t.Fatalf("after 7 adds with batch 3: %d rows in %d inserts written, want 6 in 2", len(rows), inserts)
		}
		if got := w.Buffered(); got != 1 {
			t.Fatalf("Buffered() = %d, want 1", got)
		}
	})
}

func TestWriterFlushesBufferedRowsEveryFlushInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w, fb := newFakeWriter(t, WriterConfig{BatchRows: 1000, FlushInterval: time.Second}, nil)
		if err := w.Add(context.Background(), uint64(1), "a", t0); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		synctest.Wait()
		if rows, _ := fb.written(); len(rows) != 0 {
			t.Fatalf("rows written before the interval passed: %d", len(rows))
		}
		time.Sleep(600 * time.Millisecond)
		synctest.Wait()
		if rows, _ := fb.written(); len(rows) != 1 {
			t.Fatalf("%d rows written after the interval passed, want 1", len(rows))
		}
		if err := w.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestFailedFlushKeepsRowsInOrderAndTheNextFlushWritesThem(t *testing.T) {
	w, fb := newFakeWriter(t, WriterConfig{BatchRows: 100, FlushInterval: time.Hour}, nil)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		_ = w.Add(ctx, uint64(i), "a", t0)
	}
	fb.fail(errRefused)
	if err := w.Flush(ctx); err == nil || !IsRetryable(err) {
		t.Fatalf("Flush() = %v, want the retryable insert error", err)
	}
	if got := w.Buffered(); got != 3 {
		t.Fatalf("Buffered() after a failed flush = %d, want 3", got)
	}
	_ = w.Add(ctx, uint64(3), "b", t0)
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rows, _ := fb.written()
	var ids []uint64
	for _, r := range rows {
		ids = append(ids, r[0].(uint64))
	}
	if !reflect.DeepEqual(ids, []uint64{0, 1, 2, 3}) {
		t.Fatalf("written ids %v, want [0 1 2 3]", ids)
	}
}

func TestRetryableErrorsAreRetriedWithBackoffAndPermanentOnesAreNot(t *testing.T) {
	for _, tc := range []struct {
		name        string
		failures    []error
		maxRetries  int
		wantInserts int
		wantErr     bool
	}{
		{"connection refused twice, then success", []error{errRefused, errRefused}, 3, 3, false},
		{"too many simultaneous queries, then success", []error{&ch.Exception{Code: 202}}, 3, 2, false},
		{"retryable errors beyond max-retries", []error{errRefused, errRefused, errRefused}, 2, 3, true},
		{"a syntax error is not retried", []error{&ch.Exception{Code: 62}}, 5, 1, true},
		{"an unknown table is not retried", []error{&ch.Exception{Code: 60}}, 5, 1, true},
		{"no retries configured", []error{errRefused}, 0, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				reg := prometheus.NewRegistry()
				w, fb := newFakeWriter(t, WriterConfig{BatchRows: 100, FlushInterval: time.Hour, MaxRetries: tc.maxRetries,
					RetryBackoff: 100 * time.Millisecond, MaxRetryBackoff: time.Second}, reg)
				defer func() { w.Discard(context.Background()); _ = w.Close(context.Background()) }()
				_ = w.Add(context.Background(), uint64(1), "a", t0)
				fb.fail(tc.failures...)
				start := time.Now()
				err := w.Flush(context.Background())
				if (err != nil) != tc.wantErr {
					t.Fatalf("Flush() = %v, want error: %v", err, tc.wantErr)
				}
				if _, n := fb.written(); n != tc.wantInserts {
					t.Errorf("%d insert attempts, want %d", n, tc.wantInserts)
				}
				retries := min(len(tc.failures), tc.maxRetries)
				if tc.wantErr && Classify(tc.failures[0]) == Permanent {
					retries = 0
				}
				// Backoff before retry k is in [b·2^k/2, b·2^k].
				minWait := time.Duration(0)
				for k := 0; k < retries; k++ {
					minWait += (100 * time.Millisecond << k) / 2
				}
				if took := time.Since(start); took < minWait {
					t.Errorf("flush took %v, want at least %v of backoff", took, minWait)
				}
				class := Classify(tc.failures[0]).String()
				failed := testutil.ToFloat64(w.m.errors.WithLabelValues(class))
				if want := float64(min(tc.wantInserts, len(tc.failures))); failed != want {
					t.Errorf("flush_errors_total{class=%s} = %v, want %v", class, failed, want)
				}
			})
		})
	}
}

func TestCancelledContextStopsRetrying(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w, fb := newFakeWriter(t, WriterConfig{BatchRows: 100, FlushInterval: time.Hour, MaxRetries: 10, RetryBackoff: time.Second}, nil)
		defer func() { w.Discard(context.Background()); _ = w.Close(context.Background()) }()
		_ = w.Add(context.Background(), uint64(1), "a", t0)
		fb.fail(errRefused, errRefused, errRefused)
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		err := w.Flush(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Flush() = %v, want it to give up with the context", err)
		}
		if got := w.Buffered(); got != 1 {
			t.Fatalf("Buffered() = %d, want the row kept", got)
		}
	})
}

// TestDiscardReturnsWhenItsContextEndsAndTheAbandonedBatchIsDropped: a timed flush hangs in an
// insert the server never answers (its context is the Writer's own, which only Close cancels).
// Discard returns when its context ends, not when the server answers (issue 13: it waited with
// context.Background() and kept a SIGTERMed estimator alive for minutes); it cancels that send,
// whose batch is then dropped rather than put back ahead of the rows added since.
func TestDiscardReturnsWhenItsContextEndsAndTheAbandonedBatchIsDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w, fb := newFakeWriter(t, WriterConfig{BatchRows: 100, FlushInterval: time.Second}, nil)
		defer func() { _ = w.Close(context.Background()) }()
		ctx := context.Background()
		fb.hang()
		_ = w.Add(ctx, uint64(1), "a", t0)
		time.Sleep(1500 * time.Millisecond) // the timed flush is in flight, hanging
		if _, n := fb.written(); n != 1 {
			t.Fatalf("%d inserts, want the timed flush's one in flight", n)
		}
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		start := time.Now()
		if n := w.Discard(dctx); n != 1 {
			t.Fatalf("Discard() = %d, want the 1 row in flight", n)
		}
		if took := time.Since(start); took != 2*time.Second {
			t.Fatalf("Discard took %v, want it to give up with its context after 2s", took)
		}
		synctest.Wait()
		if got := w.Buffered(); got != 0 {
			t.Fatalf("Buffered() = %d after Discard, want 0: the abandoned send is cancelled and its batch dropped", got)
		}
		fb.answer()
		_ = w.Add(ctx, uint64(2), "b", t0)
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		rows, _ := fb.written()
		if len(rows) != 1 || rows[0][0] != uint64(2) {
			t.Fatalf("written %v, want only row 2 (row 1 was discarded)", rows)
		}
	})
}

// TestCloseReturnsWhenItsContextEndsWhileAServerHangs: Close waits for a hanging timed flush
// only until its context ends, then abandons it; the rows stay buffered and the error says so.
func TestCloseReturnsWhenItsContextEndsWhileAServerHangs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w, fb := newFakeWriter(t, WriterConfig{BatchRows: 100, FlushInterval: time.Second}, nil)
		fb.hang()
		_ = w.Add(context.Background(), uint64(1), "a", t0)
		time.Sleep(1500 * time.Millisecond) // the timed flush is in flight, hanging
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		start := time.Now()
		err := w.Close(ctx)
		if took := time.Since(start); took != 3*time.Second {
			t.Fatalf("Close took %v, want it to give up with its context after 3s", took)
		}
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "1 rows stay buffered") {
			t.Fatalf("Close() = %v, want the deadline and the row still buffered", err)
		}
	})
}

func TestAddRejectsBadRowsWholeAndNamesTheColumn(t *testing.T) {
	w, _ := newFakeWriter(t, WriterConfig{BatchRows: 100, FlushInterval: time.Hour}, nil)
	defer w.Close(context.Background())
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		row     []any
		wantErr string
	}{
		{"too few values", []any{uint64(1), "a"}, "got 2 values for 3 columns"},
		{"a negative id", []any{-1, "a", t0}, "column id"},
		{"a number for a string", []any{uint64(1), 5, t0}, "column name"},
		{"a string for a time", []any{uint64(1), "a", "2024-01-01"}, "column at"},
		{"negative Unix seconds", []any{uint64(1), "a", -5}, "column at"},
		{"a time before 1970", []any{uint64(1), "a", time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC)}, "outside the DateTime range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := w.Add(ctx, tc.row...)
			var re *RowError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Add() = %v, want a *RowError containing %q", err, tc.wantErr)
			}
			if Classify(err) != Permanent {
				t.Errorf("Classify(%v) = %v, want permanent", err, Classify(err))
			}
			if got := w.Buffered(); got != 0 {
				t.Fatalf("a rejected row left %d values buffered", got)
			}
		})
	}
	// Any Go integer type that fits is accepted.
	if err := w.Add(ctx, 7, []byte("b"), t0); err != nil {
		t.Fatalf("Add(int, []byte, time) = %v", err)
	}
}

func TestAddReturnsAnErrorAndDropsNothingWhenTheBufferIsFullAndCannotBeSent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w, fb := newFakeWriter(t, WriterConfig{BatchRows: 2, FlushInterval: time.Hour}, nil)
		ctx := context.Background()
		fb.fail(errRefused, errRefused)
		_ = w.Add(ctx, uint64(1), "a", t0)
		if err := w.Add(ctx, uint64(2), "a", t0); err != nil {
			t.Fatalf("the row that fills the buffer: Add() = %v, want nil (it is buffered and sent in the background)", err)
		}
		synctest.Wait() // the background send fails; its rows go back to the buffer
		if got := w.Buffered(); got != 2 {
			t.Fatalf("Buffered() after the failed background send = %d, want 2", got)
		}
		if err := w.Add(ctx, uint64(3), "a", t0); err == nil || !IsRetryable(err) {
			t.Fatalf("Add() on a full buffer that cannot be sent = %v, want the retryable error", err)
		}
		if got := w.Buffered(); got != 2 {
			t.Fatalf("Buffered() = %d, want 2 (the rejected row is not buffered)", got)
		}
		if err := w.Add(ctx, uint64(3), "a", t0); err != nil {
			t.Fatalf("Add() once the server is back = %v", err)
		}
		if err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
		rows, _ := fb.written()
		var ids []uint64
		for _, r := range rows {
			ids = append(ids, r[0].(uint64))
		}
		if !reflect.DeepEqual(ids, []uint64{1, 2, 3}) {
			t.Fatalf("written ids %v, want [1 2 3]", ids)
		}
		if err := w.Add(ctx, uint64(4), "a", t0); !errors.Is(err, ErrWriterClosed) {
			t.Fatalf("Add() after Close = %v, want ErrWriterClosed", err)
		}
	})
}

func TestConcurrentAddsAndFlushesLoseNoRows(t *testing.T) {
	w, fb := newFakeWriter(t, WriterConfig{BatchRows: 50, FlushInterval: time.Millisecond}, nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				if i%97 == 0 {
					fb.fail(errRefused)
				}
				for w.Add(ctx, uint64(g*1000+i), "x", t0) != nil {
				}
			}
		}()
	}
	wg.Wait()
	for w.Close(ctx) != nil {
	}
	rows, _ := fb.written()
	seen := map[uint64]bool{}
	for _, r := range rows {
		seen[r[0].(uint64)] = true
	}
	if len(seen) != 4000 {
		t.Fatalf("%d distinct rows written, want 4000", len(seen))
	}
}

func TestWriterMetricsCountRowsWritten(t *testing.T) {
	reg := prometheus.NewRegistry()
	w, _ := newFakeWriter(t, WriterConfig{BatchRows: 10, FlushInterval: time.Hour}, reg)
	// A second writer on the same registry shares the collectors instead of failing.
	w2, _ := newFakeWriter(t, WriterConfig{}, reg)
	defer w2.Close(context.Background())
	for i := 0; i < 25; i++ {
		_ = w.Add(context.Background(), uint64(i), "a", t0)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(w.m.rowsWritten); got != 25 {
		t.Fatalf("rows_written_total = %v, want 25", got)
	}
	if n, err := testutil.GatherAndCount(reg, "hashatlas_clickhouse_flush_duration_seconds"); err != nil || n != 1 {
		t.Fatalf("flush duration series: %d, %v", n, err)
	}
}

// TestWriterKeepsTheBuffersOfSmallBatchesOnly: after a batch of more than spareRows rows is sent
// its buffers are let go (a replay's would otherwise stay for the life of the process), unless
// rows came in while it was sent (the next batch is being filled: they will be needed); a small
// batch's are kept for the next one.
func TestWriterKeepsTheBuffersOfSmallBatchesOnly(t *testing.T) {
	w, fb := newFakeWriter(t, WriterConfig{BatchRows: 1 << 20, FlushInterval: time.Hour}, nil)
	defer w.Close(context.Background())
	ctx := context.Background()
	add := func(n int) {
		for i := range n {
			if err := w.Add(ctx, uint64(i), "n", t0); err != nil {
				t.Fatal(err)
			}
		}
	}
	flush := func() {
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	add(spareRows + 1)
	flush()
	if w.spare != nil {
		t.Errorf("the buffers of a batch of %d rows were kept", spareRows+1)
	}
	add(10)
	flush()
	if w.spare == nil || w.spare.len() != 0 {
		t.Error("the buffers of a batch of 10 rows were not kept for the next one")
	}
	// a big batch sent while the next rows come in
	fb.gate = make(chan struct{})
	add(spareRows + 1)
	done := make(chan error)
	go func() { done <- w.Flush(ctx) }()
	for inFlight := false; !inFlight; time.Sleep(time.Millisecond) {
		w.mu.Lock()
		inFlight = w.flight != nil
		w.mu.Unlock()
	}
	add(5) // into the buffer beside the batch in flight
	close(fb.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if w.spare == nil {
		t.Error("the buffers of a big batch were let go while the next batch was being filled")
	}
	flush()
	if rows, _ := fb.written(); len(rows) != 2*(spareRows+1)+15 {
		t.Errorf("%d rows written, want %d", len(rows), 2*(spareRows+1)+15)
	}
}
