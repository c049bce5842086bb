package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"
	kgcompress "github.com/segmentio/kafka-go/compress"
	kgsnappy "github.com/segmentio/kafka-go/compress/snappy"
	"github.com/sirupsen/logrus"
)

// Message is one record to write: a topic, a key (which picks the partition) and a value.
// hashatlas messages carry no headers: the schema name and version are inside the JSON value.
type Message struct {
	// Topic is the topic to write to; required.
	Topic string
	// Key picks the partition with the murmur2 hash Java producers use, so a key lands on the
	// same partition whichever client wrote it. A nil key spreads messages at random.
	Key []byte
	// Value is the payload.
	Value []byte
}

// Writer writes messages to Kafka. Every write waits until all in-sync replicas acknowledged it
// (acks=all; Config.Acks "1" waits for the leader only), messages with the same key go to the
// same partition (murmur2, as Java clients do), batches are compressed, and messages for one
// partition are gathered into batches of up to Config.BatchSize messages or Config.BatchBytes
// bytes, sent when full or after Config.BatchTimeout.
//
// Writes are synchronous: WriteMessages and Publish return once every message was acknowledged
// or failed, so a nil error means the broker has them. While no broker can take them (a broker
// restarting, a leader election) they are retried for up to Config.RetryTimeout. Calls from
// several goroutines are safe and share batches, which is how many small writes get the
// throughput of large ones.
//
// Topics are not created on demand: write only to topics that EnsureTopics created before the
// Writer was made (the writer caches topic metadata for a few seconds).
type Writer struct {
	w         *kafkago.Writer
	transport *kafkago.Transport
	log       logrus.FieldLogger
	metrics   *writerMetrics
	retryFor  time.Duration // Config.RetryTimeout
	pool      sync.Pool     // of *[]kafkago.Message
	values    sync.Pool     // of *[]byte: buffers Publish encodes values into
}

// maxPooledValues is the largest value buffer Publish keeps for reuse: a call with more bytes
// than this (a replay publishing a whole history at once) gets a buffer of its own, so the pool
// never holds on to hundreds of megabytes. It holds the estimator's chunks of 20,000 estimates
// (about 10 MB), which a 4 MB bound made grow a new buffer by doubling every call (0.6 GB of
// garbage in a full replay).
const maxPooledValues = 16 << 20

// Snappy batches are compressed with s2's snappy-compatible fast mode rather than kafka-go's
// default (s2's "better" mode): on hashatlas' JSON it compresses 3.2× faster
// (BenchmarkCompression: 2,270 against 710 MB/s) for batches 2 % larger (ratio 0.296 against
// 0.291), which end to end (BenchmarkPublishConsume) is about 1 CPU-µs less per message. Any
// snappy reader decodes both. kafka-go keeps its codecs in one table per process, so this
// setting holds for every kafka-go writer in the binary.
func init() { kgcompress.SnappyCodec.Compression = kgsnappy.FasterCompression }

// NewWriter returns a Writer for cfg (validated here; zero fields take their defaults). It
// logs to log (nil: discarded) and counts written messages, bytes and failures on reg (nil: not
// exported). It does not connect until the first write. The caller must Close it.
func NewWriter(cfg Config, log logrus.FieldLogger, reg prometheus.Registerer) (*Writer, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	codec, err := cfg.codec()
	if err != nil {
		return nil, err
	}
	acks, err := cfg.requiredAcks()
	if err != nil {
		return nil, err
	}
	m, err := newWriterMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("register kafka writer metrics: %w", err)
	}
	log = orDiscard(log)
	t := newTransport(cfg)
	w := &kafkago.Writer{
		Addr:         kafkago.TCP(cfg.Brokers...),
		Balancer:     &kafkago.Murmur2Balancer{},
		RequiredAcks: acks,
		BatchSize:    cfg.BatchSize,
		BatchBytes:   int64(cfg.BatchBytes),
		BatchTimeout: cfg.BatchTimeout,
		Compression:  codec,
		Transport:    newMetadataCache(t),
		// The writer retries retryable errors itself (leader moves, timeouts) with backoff
		// between 100ms and 1s; what still fails after that is returned to the caller.
		MaxAttempts:            10,
		AllowAutoTopicCreation: false,
		Logger:                 kafkaGoLogger(log, logrus.DebugLevel),
		// Failures are returned to the caller, who logs them once; kafka-go's own
		// per-attempt error lines are only useful when debugging.
		ErrorLogger: kafkaGoLogger(log, logrus.DebugLevel),
	}
	return &Writer{w: w, transport: t, log: log, metrics: m, retryFor: cfg.RetryTimeout}, nil
}

// newTransport returns a kafka-go transport for cfg (defaults applied).
func newTransport(cfg Config) *kafkago.Transport {
	return &kafkago.Transport{
		DialTimeout: cfg.DialTimeout,
		ClientID:    cfg.ClientID,
		Dial:        (&net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
	}
}

// WriteMessages writes msgs and returns when all were acknowledged (nil) or at least one failed.
// A message without topic is refused before anything is written; any other error is a
// *WriteError saying how many messages failed on which topics, wrapping the first cause; the messages may still have been written (Kafka is at-least-once), so
// retrying the whole call is safe when consumers are idempotent by key, as hashatlas' are. Use
// Retryable to decide whether to retry.
//
// The writer reads the keys and values until the messages are written: the caller must not
// modify them before WriteMessages returns, nor after it returned because ctx ended (batches
// already queued are still sent). The msgs slice itself is not kept. Safe for concurrent use.
func (w *Writer) WriteMessages(ctx context.Context, msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	kms := w.getMessages(len(msgs))
	defer w.putMessages(kms)
	for i, m := range msgs {
		if m.Topic == "" {
			return fmt.Errorf("write %d messages: message %d has no topic", len(msgs), i)
		}
		kms[i] = kafkago.Message{Topic: m.Topic, Key: m.Key, Value: m.Value}
	}
	return w.write(ctx, kms)
}

// Publish encodes each message with schemas.Encode and writes it to m.Topic() keyed by m.Key(),
// with the guarantees of WriteMessages. If any message fails to encode (it is invalid), nothing
// is written and the error names its index, schema and key. Safe for concurrent use.
func (w *Writer) Publish(ctx context.Context, ms ...schemas.Message) error {
	if len(ms) == 0 {
		return nil
	}
	kms := w.getMessages(len(ms))
	defer w.putMessages(kms)
	// The keys share one buffer and so do the values: a slice taken before a buffer grew still
	// points at the old array, which stays valid.
	keys := make([]byte, 0, 24*len(ms))
	vp, _ := w.values.Get().(*[]byte)
	if vp == nil {
		vp = new([]byte)
	}
	values := (*vp)[:0]
	for i, m := range ms {
		if m == nil {
			return fmt.Errorf("publish %d messages: message %d is nil", len(ms), i)
		}
		off := len(values)
		var err error
		if values, err = schemas.AppendEncode(values, m); err != nil {
			return fmt.Errorf("publish %d messages: encode message %d (%s, key %q): %w", len(ms), i, m.SchemaName(), m.Key(), err)
		}
		if i == 0 {
			// Size the buffer for the whole call from the first message (plus a quarter): one
			// allocation rather than a doubling series copying what was encoded so far.
			if need := len(values) * len(ms) * 5 / 4; cap(values) < need {
				nb := make([]byte, len(values), need)
				copy(nb, values)
				values = nb
			}
		}
		koff := len(keys)
		keys = append(keys, m.Key()...)
		kms[i] = kafkago.Message{Topic: m.Topic(), Key: keys[koff:len(keys):len(keys)], Value: values[off:len(values):len(values)]}
	}
	err := w.write(ctx, kms)
	// Only a write that succeeded is sure to be done with the values: one that failed, or whose
	// context ended, may have batches still queued in kafka-go that point into the buffer.
	if err == nil && cap(values) <= maxPooledValues {
		*vp = values[:0]
		w.values.Put(vp)
	}
	return err
}

// getMessages returns a slice of n zero Messages from the writer's pool. The pool recycles the
// slices of synchronous writes: kafka-go copies each Message into its batches, so a slice is
// free again once WriteMessages returned (the keys and values it points to are not reused).
func (w *Writer) getMessages(n int) []kafkago.Message {
	if p, ok := w.pool.Get().(*[]kafkago.Message); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]kafkago.Message, n)
}

// putMessages clears kms (dropping its references to keys and values) and recycles it.
func (w *Writer) putMessages(kms []kafkago.Message) {
	clear(kms)
	w.pool.Put(&kms)
}

// write sends kms (whose Topic is set) and accounts for them in the metrics. Messages that
// failed because no broker could take them for now (worthWaiting) are sent again, once a
// second, until they are written or RetryTimeout has passed since the first attempt:
// kafka-go's own retries end after about 7 s, and a broker restart takes longer (measured on
// Kafka 4.4 from deploy/local/kafka.sh: 7 to 9 s from stop to serving again). Other failures are
// returned at once.
func (w *Writer) write(ctx context.Context, kms []kafkago.Message) error {
	deadline := time.Now().Add(w.retryFor)
	send := kms
	for attempt := 1; ; attempt++ {
		err := w.w.WriteMessages(ctx, send...)
		if err == nil {
			w.count(send, nil)
			return nil
		}
		var werrs kafkago.WriteErrors
		partial := errors.As(err, &werrs) && len(werrs) == len(send)
		again := ctx.Err() == nil && time.Now().Before(deadline)
		var failed []kafkago.Message
		if partial {
			for i, e := range werrs {
				if e != nil {
					failed = append(failed, send[i])
					again = again && worthWaiting(e)
				}
			}
		} else {
			again = again && worthWaiting(err)
		}
		if !again {
			if partial {
				w.count(send, werrs)
				return &WriteError{Topics: topicCounts(send, werrs), Messages: len(kms), Failed: werrs.Count(), err: firstError(werrs)}
			}
			// The whole call failed before or while waiting: count every message as failed,
			// since the caller has to treat them so.
			for t, n := range topicCounts(send, nil) {
				w.metrics.errors.WithLabelValues(t).Add(float64(n))
			}
			return &WriteError{Topics: topicCounts(send, nil), Messages: len(kms), Failed: len(send), err: err}
		}
		if partial {
			written := make([]kafkago.Message, 0, len(send)-len(failed))
			for i := range send {
				if werrs[i] == nil {
					written = append(written, send[i])
				}
			}
			w.count(written, nil)
			send = failed
			err = firstError(werrs)
		}
		w.log.WithFields(logrus.Fields{
			"messages": len(send), "attempt": attempt, "err": oneLine(err),
			"retry_seconds_left": time.Until(deadline).Seconds(),
		}).Warn("kafka cannot take the write now, retrying")
		// kafka-go's transport keeps a failed connection state until its next metadata refresh
		// (6 s): drop it, so that the next attempt dials again.
		w.transport.CloseIdleConnections()
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// worthWaiting reports whether a write failed because no broker could take it for now: the
// connection was refused, reset or timed out, or the broker answered with a temporary condition
// (no leader, not enough in-sync replicas, a timeout) or an unexpected error. That is how a
// broker restart looks to a client. A refusal of the write itself (an unknown topic, a message too large, no
// authorization) and an ended context are not worth waiting for.
func worthWaiting(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ke kafkago.Error
	if errors.As(err, &ke) {
		// kafka-go reports a request to a partition's leader that failed on the connection as
		// that partition's error code -1 (Unknown) in ListOffsets answers, for one; kfake and
		// Kafka send -1 for unexpected server errors, which a restart also causes.
		return ke == kafkago.Unknown || ke.Temporary() && ke != kafkago.UnknownTopicOrPartition
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// count adds the messages whose werrs entry is nil (all when werrs is nil) to the written
// counters and the others to the error counter, per topic.
func (w *Writer) count(kms []kafkago.Message, werrs kafkago.WriteErrors) {
	type agg struct{ msgs, bytes, errs int }
	var first string
	var firstAgg agg
	var others map[string]*agg
	for i := range kms {
		a := &firstAgg
		if t := kms[i].Topic; first == "" {
			first = t
		} else if t != first {
			if others == nil {
				others = map[string]*agg{}
			}
			if a = others[t]; a == nil {
				a = &agg{}
				others[t] = a
			}
		}
		if werrs != nil && werrs[i] != nil {
			a.errs++
			continue
		}
		a.msgs++
		a.bytes += len(kms[i].Key) + len(kms[i].Value)
	}
	add := func(t string, a *agg) {
		if a.msgs > 0 {
			w.metrics.messages.WithLabelValues(t).Add(float64(a.msgs))
			w.metrics.bytes.WithLabelValues(t).Add(float64(a.bytes))
		}
		if a.errs > 0 {
			w.metrics.errors.WithLabelValues(t).Add(float64(a.errs))
		}
	}
	add(first, &firstAgg)
	for t, a := range others {
		add(t, a)
	}
}

// Close waits for writes in flight, then closes the connections. Writes after Close fail.
func (w *Writer) Close() error {
	err := w.w.Close()
	w.transport.CloseIdleConnections()
	if err != nil {
		return fmt.Errorf("close kafka writer: %w", err)
	}
	return nil
}

// WriteError is the error of a write that did not fully succeed. Messages were given to the
// call; Failed of them were not acknowledged (all of them when the call failed as a whole, for
// example because its context ended or a topic does not exist).
type WriteError struct {
	// Topics maps each topic of the call to how many of its messages failed.
	Topics map[string]int
	// Messages is how many messages the call wrote; Failed how many of them failed.
	Messages, Failed int
	err              error
}

// Error says how many messages failed on which topics, and why (the first cause).
func (e *WriteError) Error() string {
	names := make([]string, 0, len(e.Topics))
	for t := range e.Topics {
		names = append(names, t)
	}
	sort.Strings(names)
	var b strings.Builder
	if e.Failed == e.Messages {
		fmt.Fprintf(&b, "write %d messages to ", e.Messages)
	} else {
		fmt.Fprintf(&b, "write %d messages (%d failed) to ", e.Messages, e.Failed)
	}
	for i, t := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		if len(names) > 1 {
			fmt.Fprintf(&b, "%s (%d)", t, e.Topics[t])
		} else {
			b.WriteString(t)
		}
	}
	fmt.Fprintf(&b, ": %v", e.err)
	return b.String()
}

// Unwrap returns the first cause, for errors.Is and errors.As.
func (e *WriteError) Unwrap() error { return e.err }

// topicCounts counts the messages per topic; with werrs, only the failed ones.
func topicCounts(kms []kafkago.Message, werrs kafkago.WriteErrors) map[string]int {
	out := map[string]int{}
	for i := range kms {
		if werrs != nil && werrs[i] == nil {
			continue
		}
		out[kms[i].Topic]++
	}
	return out
}

func firstError(werrs kafkago.WriteErrors) error {
	for _, e := range werrs {
		if e != nil {
			return e
		}
	}
	return nil
}

// Retryable reports whether err (from this package) is worth retrying as is: a broker-side
// temporary condition by the Kafka protocol's own classification (leader election, not enough
// in-sync replicas, request timeouts, throttling, and an unknown topic or partition, which is
// how a topic looks in the moments after its creation), a deadline that passed, or a network
// failure. Invalid or oversized messages, authorization failures and a cancelled context are
// not retryable.
func Retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var kerr kafkago.Error
	if errors.As(err, &kerr) {
		return kerr.Temporary()
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}
