package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashatlas/hashatlas/ingest/backoff"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
)

// WriterConfig tunes a Writer. Config.WriterConfig derives it from the clickhouse.* flags.
type WriterConfig struct {
	// BatchRows is the number of buffered rows at which the Writer flushes.
	// Default (when 0): 100000.
	BatchRows int
	// FlushInterval is how often a background goroutine flushes whatever is buffered, so no
	// row waits longer than about this. Default (when 0): 1s.
	FlushInterval time.Duration
	// MaxRetries is how many times one flush is retried after a retryable error. Permanent
	// errors are never retried. 0 means no retries.
	MaxRetries int
	// RetryBackoff is the wait before the first retry; it doubles for each further retry,
	// with jitter (internal/backoff: each wait drawn from the upper half of its step), up to
	// MaxRetryBackoff. Default (when 0): 100ms.
	RetryBackoff time.Duration
	// MaxRetryBackoff caps the wait between retries. Default (when 0): 5s.
	MaxRetryBackoff time.Duration
}

func (c WriterConfig) withDefaults() WriterConfig {
	if c.BatchRows <= 0 {
		c.BatchRows = DefaultBatchRows
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.MaxRetries < 0 {
		c.MaxRetries = 0
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = 100 * time.Millisecond
	}
	if c.MaxRetryBackoff <= 0 {
		c.MaxRetryBackoff = 5 * time.Second
	}
	return c
}

// ErrWriterClosed is returned by Add after Close.
var ErrWriterClosed = errors.New("clickhouse writer is closed")

// Writer buffers rows for one table and inserts them in batches: when BatchRows rows are
// buffered (sent in the background while Add goes on filling the next batch, at most one
// batch in flight), every FlushInterval (from a background goroutine), and on Flush and
// Close. Values are converted to the column types on Add, so a bad value is rejected there
// and never poisons a batch.
//
// Rows are never dropped: a failed send puts its batch back in front of the buffer, in
// order, and the next flush sends it again. Retryable errors are retried MaxRetries times
// with exponential backoff inside one send; permanent errors are not retried. A re-sent
// batch may duplicate rows the server had stored before the error reached us; the
// ReplacingMergeTree tables make that harmless.
//
// All methods are safe for concurrent use.
type Writer struct {
	db      *DB
	table   string
	columns []string
	cfg     WriterConfig
	log     logrus.FieldLogger
	m       writerMetrics

	mu      sync.Mutex // guards the fields below
	buf     *rowBuffer // rows not being sent
	spare   *rowBuffer // an empty buffer to swap in, or nil
	flight  *flight    // the batch being sent, nil when none is
	lastErr error      // error of the last send, nil after a successful one
	closed  bool

	async     sync.WaitGroup     // background sends
	stopAsync context.CancelFunc // cancels background sends (Close, when its flush fails)
	asyncCtx  context.Context
	stopLoop  context.CancelFunc
	loopDone  chan struct{}
}

// flight is one batch being sent; done is closed when it is over.
type flight struct {
	batch *rowBuffer
	done  chan struct{}
	// discarded is set (under Writer.mu) by a Discard that stopped waiting for the flight: if
	// the send fails, its batch is dropped instead of going back in front of the buffer.
	discarded bool
	// cancel ends the send (Discard gives up on it).
	cancel context.CancelFunc
}

// NewWriter returns a Writer for the named columns of table (unqualified, in db's database).
// It reads the column types from the database, so an unknown table or column fails here.
// log may be nil (no logs), reg may be nil (no metrics). The Writer starts goroutines;
// Close it when done.
func NewWriter(ctx context.Context, db *DB, table string, columns []string, cfg WriterConfig, log logrus.FieldLogger, reg prometheus.Registerer) (*Writer, error) {
	if err := ValidateIdentifier(table); err != nil {
		return nil, fmt.Errorf("table name %q: %w", table, err)
	}
	if len(columns) == 0 {
		return nil, fmt.Errorf("writer for %s: no columns", table)
	}
	types, err := db.tableColumns(ctx, table, columns)
	if err != nil {
		return nil, fmt.Errorf("writer for %s: %w", table, err)
	}
	log = orDiscard(log)
	cfg = cfg.withDefaults()
	names := append([]string(nil), columns...)
	buf := newRowBuffer(names, types)
	w := &Writer{
		db:       db,
		table:    table,
		columns:  names,
		cfg:      cfg,
		log:      log.WithFields(logrus.Fields{"component": "clickhouse-writer", "table": table}),
		m:        newWriterMetrics(reg, table),
		buf:      buf,
		spare:    buf.emptyLike(),
		loopDone: make(chan struct{}),
	}
	w.asyncCtx, w.stopAsync = context.WithCancel(context.Background())
	loopCtx, cancel := context.WithCancel(context.Background())
	w.stopLoop = cancel
	go w.loop(loopCtx)
	return w, nil
}

// Table returns the table the Writer writes to.
func (w *Writer) Table() string { return w.table }

// Columns returns the column names, in the order Add expects values. The caller must not
// modify the slice.
func (w *Writer) Columns() []string { return w.columns }

// Add buffers one row: one value per column, in the order given to NewWriter, each of a Go
// type that fits the column (integers of any Go integer type within range, float64, string
// or []byte, time.Time for Date and DateTime (or Unix seconds for DateTime), []string for
// Array(String), bool for UInt8; other column
// types take what clickhouse-go accepts). Add copies what it keeps; the caller may reuse row.
//
// A nil error means the row is buffered and will be written by a later send. A non-nil
// error means it is not: it was rejected (*RowError, permanent), the Writer is closed
// (ErrWriterClosed), or the buffer was full and could not be sent (the error of that send;
// the buffered rows stay). When the row fills the buffer, Add starts sending it in the
// background and returns; when the buffer is full while the previous batch is still being
// sent, Add waits for it (at most one batch is in flight). When the last background send
// failed, the next Add that finds the buffer full sends synchronously and returns its error.
// ctx bounds the waiting and sending Add does.
func (w *Writer) Add(ctx context.Context, row ...any) error {
	w.mu.Lock()
	for !w.closed && w.buf.len() >= w.cfg.BatchRows {
		if w.flight != nil {
			if err := w.waitIdleLocked(ctx); err != nil {
				w.mu.Unlock()
				return fmt.Errorf("row not added: waiting for the batch being sent to %s: %w", w.table, err)
			}
			continue
		}
		if w.lastErr != nil {
			w.mu.Unlock()
			if err := w.Flush(ctx); err != nil {
				return fmt.Errorf("row not added: the buffer is full and sending it failed: %w", err)
			}
			w.mu.Lock()
			continue
		}
		w.startAsyncLocked()
	}
	if w.closed {
		w.mu.Unlock()
		return ErrWriterClosed
	}
	if err := w.buf.add(w.table, row); err != nil {
		w.mu.Unlock()
		return err
	}
	n := w.buf.len()
	w.m.buffered.Set(float64(n))
	if n >= w.cfg.BatchRows && w.flight == nil && w.lastErr == nil {
		w.startAsyncLocked()
	}
	w.mu.Unlock()
	return nil
}

// Buffered returns the number of rows added but not yet acknowledged (including a batch
// being sent).
func (w *Writer) Buffered() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := w.buf.len()
	if w.flight != nil {
		n += w.flight.batch.len()
	}
	return n
}

// Flush writes every buffered row. It returns nil only after the engine acknowledged all
// rows that were added before the call, so the caller may then commit its input offsets.
// On error the rows stay buffered (in order, ahead of rows added since) for the next flush;
// retryable errors were already retried MaxRetries times.
func (w *Writer) Flush(ctx context.Context) error {
	w.mu.Lock()
	if err := w.waitIdleLocked(ctx); err != nil {
		w.mu.Unlock()
		return fmt.Errorf("flush %s: waiting for the batch being sent: %w", w.table, err)
	}
	if w.buf.len() == 0 {
		w.mu.Unlock()
		return nil
	}
	f := w.beginLocked()
	ctx, f.cancel = context.WithCancel(ctx)
	w.mu.Unlock()
	err := w.send(ctx, f.batch)
	f.cancel()
	w.finish(f, err)
	return err
}

// waitIdleLocked waits, with w.mu held (released while waiting), until no batch is in
// flight.
func (w *Writer) waitIdleLocked(ctx context.Context) error {
	for w.flight != nil {
		f := w.flight
		w.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			w.mu.Lock()
			return ctx.Err()
		}
		w.mu.Lock()
	}
	return nil
}

// beginLocked takes the buffer as the batch in flight; w.mu held, no batch in flight.
func (w *Writer) beginLocked() *flight {
	f := &flight{batch: w.buf, done: make(chan struct{})}
	w.buf = w.spare
	w.spare = nil
	if w.buf == nil {
		w.buf = f.batch.emptyLike()
	}
	w.flight = f
	w.m.buffered.Set(0)
	return f
}

// spareRows is the largest batch whose buffers are kept for the next one (16,384 rows: every
// batch of a live estimator); a bigger one's, from a replay or a catch-up, are kept only while
// rows keep coming (the next batch is being filled: a replay's raw inputs) and are otherwise
// left to the garbage collector once sent (an estimator's one big flush of a replay).
const spareRows = 1 << 14

// finish ends a flight: on error its batch goes back in front of the buffer.
func (w *Writer) finish(f *flight, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil && !f.discarded {
		f.batch.appendFrom(w.buf)
		w.buf.reset()
		w.spare = w.buf
		w.buf = f.batch
	} else if f.batch.len() <= spareRows || w.buf.len() > 0 {
		f.batch.reset()
		w.spare = f.batch
	} else {
		w.spare = nil // a big batch's buffers go: kept, a replay's would stay for the process's life
	}
	w.lastErr = err
	w.m.buffered.Set(float64(w.buf.len()))
	w.flight = nil
	close(f.done)
}

// startAsyncLocked sends the buffer in the background; w.mu held, no batch in flight.
func (w *Writer) startAsyncLocked() {
	f := w.beginLocked()
	ctx, cancel := context.WithCancel(w.asyncCtx)
	f.cancel = cancel
	w.async.Add(1)
	n := f.batch.len()
	go func() {
		defer w.async.Done()
		err := w.send(ctx, f.batch)
		abandoned := ctx.Err() != nil // by Close or Discard
		cancel()
		w.finish(f, err)
		if err != nil && !abandoned {
			w.log.WithFields(logrus.Fields{"rows": n, "err": err}).
				Warn("background send of a full batch failed; rows stay buffered and the next add or flush retries")
		}
	}()
}

// send inserts one batch, retrying retryable errors MaxRetries times with the backoff policy
// (internal/backoff).
func (w *Writer) send(ctx context.Context, batch *rowBuffer) error {
	n := batch.len()
	p := backoff.Policy{Initial: w.cfg.RetryBackoff, Max: w.cfg.MaxRetryBackoff, MaxAttempts: w.cfg.MaxRetries + 1}
	return p.Retry(ctx, func(int) error {
		start := time.Now()
		err := w.db.b.insert(ctx, w.table, w.columns, batch)
		took := time.Since(start)
		w.m.flushDuration.Observe(took.Seconds())
		if err == nil {
			w.m.rowsWritten.Add(float64(n))
			w.log.WithFields(logrus.Fields{"rows": n, "duration_seconds": took.Seconds()}).Debug("rows written")
			return nil
		}
		class := Classify(err)
		if ctx.Err() != nil {
			class = Canceled
		}
		w.m.errors.WithLabelValues(class.String()).Inc()
		err = fmt.Errorf("insert %d rows into %s: %w", n, w.table, err)
		if class != Retryable {
			return backoff.Permanent(err)
		}
		return err
	}, backoff.Hooks{OnRetry: func(attempt int, wait time.Duration, err error) {
		w.log.WithFields(logrus.Fields{"rows": n, "attempt": attempt, "backoff_seconds": wait.Seconds(), "err": err}).
			Warn("insert failed with a retryable error; retrying")
	}})
}

// loop flushes every FlushInterval until stopped.
func (w *Writer) loop(ctx context.Context) {
	defer close(w.loopDone)
	t := time.NewTicker(w.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if w.Buffered() == 0 {
			continue
		}
		// Not ctx: stopping the loop must not abort an insert half-way (Close waits for it,
		// and cancels it through asyncCtx only when its own context ends first).
		// Canceled: Discard gave up on the rows (asyncCtx itself ends only with Close).
		if err := w.Flush(w.asyncCtx); err != nil && w.asyncCtx.Err() == nil && !errors.Is(err, context.Canceled) {
			w.log.WithFields(logrus.Fields{"rows": w.Buffered(), "err": err}).Warn("timed flush failed; rows stay buffered for the next flush")
		}
	}
}

// Discard drops every buffered row and returns how many there were. It is for a caller that
// has decided to give up on them (after a failed write it will redo, or a permanent error); it
// must then not acknowledge their input. A batch being sent is waited for until ctx ends; then
// its send is cancelled, and its rows dropped when it fails (if it succeeded after all, they
// were written although nobody waits for them, which is harmless: the caller acknowledges
// nothing for them). So Discard returns by the time ctx ends whatever the database does.
func (w *Writer) Discard(ctx context.Context) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	if err := w.waitIdleLocked(ctx); err != nil && w.flight != nil {
		// Nobody is to wait for these rows any more: end the send (it then fails, and drops
		// them) rather than leave it to a server that may never answer.
		w.flight.discarded = true
		w.flight.cancel()
		n += w.flight.batch.len()
	}
	n += w.buf.len()
	w.buf.reset()
	w.lastErr = nil
	w.m.buffered.Set(0)
	if n > 0 {
		w.log.WithField("rows", n).Warn("buffered rows discarded")
	}
	return n
}

// Close stops the background flushes, refuses further Adds, and flushes what is buffered.
// A nil error means every row ever added was written (or discarded). It returns by the time
// ctx ends (cancelling the sends still running then). On error the rows stay buffered and
// Close (or Flush) may be called again to retry.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	first := !w.closed
	w.closed = true
	w.mu.Unlock()
	if first {
		w.stopLoop()
	}
	select {
	case <-w.loopDone:
	case <-ctx.Done():
		w.stopAsync()
		<-w.loopDone
		w.async.Wait()
		if n := w.Buffered(); n > 0 {
			return fmt.Errorf("close the writer for %s: %w (%d rows stay buffered)", w.table, ctx.Err(), n)
		}
		return nil // every row added was written (or discarded)
	}
	err := w.Flush(ctx)
	if err != nil {
		// Do not leave a background send retrying after Close gave up.
		w.stopAsync()
	}
	w.async.Wait()
	return err
}

// writerMetrics are one Writer's series (the table label curried).
type writerMetrics struct {
	rowsWritten   prometheus.Counter
	flushDuration prometheus.Observer
	errors        *prometheus.CounterVec
	buffered      prometheus.Gauge
}

func newWriterMetrics(reg prometheus.Registerer, table string) writerMetrics {
	rows := registerOrExisting(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hashatlas_clickhouse_rows_written_total",
		Help: "Rows the ClickHouse engine acknowledged, by table.",
	}, []string{"table"}))
	dur := registerOrExisting(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "hashatlas_clickhouse_flush_duration_seconds",
		Help:    "Duration of each insert attempt of a batch, successful or not, by table.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
	}, []string{"table"}))
	errs := registerOrExisting(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hashatlas_clickhouse_flush_errors_total",
		Help: "Failed insert attempts, by table and error class (retryable, permanent, canceled).",
	}, []string{"table", "class"}))
	buffered := registerOrExisting(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hashatlas_clickhouse_rows_buffered",
		Help: "Rows added but not yet written, by table.",
	}, []string{"table"}))
	return writerMetrics{
		rowsWritten:   rows.WithLabelValues(table),
		flushDuration: dur.WithLabelValues(table),
		errors:        errs.MustCurryWith(prometheus.Labels{"table": table}),
		buffered:      buffered.WithLabelValues(table),
	}
}

// String describes the writer for logs.
func (w *Writer) String() string {
	return fmt.Sprintf("clickhouse writer %s.%s (%s)", w.db.database, w.table, strings.Join(w.columns, ", "))
}
