package kafka

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/sirupsen/logrus"
)

// Record is one consumed message, decoded and validated. The handler owns it: nothing in it is
// reused by the consumer.
type Record struct {
	// Topic, Partition and Offset say where the message is.
	Topic     string
	Partition int
	Offset    int64
	// Key and Value are the message's bytes as stored.
	Key, Value []byte
	// Time is the broker timestamp (the produce time unless the producer set one).
	Time time.Time
	// Message is Value decoded by schemas.Decode; it passed Validate and belongs to Topic
	// (Message.Topic() == Topic).
	Message schemas.Message
}

// Handler handles one record. It must return nil only once the record's effects are durable:
// the record's offset may be committed as soon as it returns nil. An error wrapped by Permanent
// sends the record to the dead-letter topic (stage "process") and the consumer moves on; any
// other error is retried with backoff (see ConsumerConfig.MaxAttempts). It must return when ctx
// ends.
type Handler func(ctx context.Context, r Record) error

// Permanent marks a handler error as permanent: retrying the record cannot help (it is wrong
// for this handler, not for its schema), so it goes to the dead-letter topic with stage
// "process" and the error as reason. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// IsPermanent reports whether err, or an error it wraps, was marked by Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// ConsumerConfig says what a Consumer reads and how it commits. Zero fields take their defaults.
type ConsumerConfig struct {
	// Group is the consumer group id; required, printable ASCII without spaces or '|' (it is
	// recorded in dead letters). A new group starts at the first offset of each partition; an
	// existing one resumes after its last committed offset.
	Group string
	// Topics are the topics to consume; at least one is required.
	Topics []string
	// CommitEvery commits the handled offsets once this many records were handled since the
	// last commit. Default: 1000.
	CommitEvery int
	// CommitInterval commits handled offsets at least this often while there are some.
	// Default: 1s.
	CommitInterval time.Duration
	// MaxAttempts is how many times a handler is called for one record before Run gives up
	// and returns the error (leaving the record uncommitted, so it is delivered again after a
	// restart). Zero retries until the context ends, which is right when failures are
	// outages of a downstream store. Default: 0.
	MaxAttempts int
	// RetryBackoffMin and RetryBackoffMax bound the exponential backoff (with jitter) between
	// handler attempts. Defaults: 100ms and 30s.
	RetryBackoffMin, RetryBackoffMax time.Duration
	// DeadLetters receives the records that cannot be consumed. Default (nil): a dead-letter
	// writer on schemas.TopicDLQ (which must exist: EnsureTopics) with a Writer of the
	// consumer's own, closed by Close.
	DeadLetters *DeadLetters
	// BeforeCommit, when set, is called before every offset commit; the offsets are committed
	// only if it returns nil (otherwise they stay pending and the next commit tries again). It
	// lets a handler buffer its effects — apply records in memory, write them in bulk — and make
	// them durable exactly when their offsets are about to be committed: with it, a handler's
	// nil means "applied", not "durable". It runs on the goroutine that calls the handler.
	BeforeCommit func(ctx context.Context) error
	// MaxWait is the longest a fetch waits at the broker for new data. Default: 250ms.
	MaxWait time.Duration
	// QueueCapacity is how many fetched messages kafka-go buffers ahead of the handler.
	// Default: 4096.
	QueueCapacity int
	// MaxBytes caps one fetch response per partition. Default: 4 MiB.
	MaxBytes int
	// SessionTimeout is how long the broker waits for a silent member before it rebalances its
	// partitions to others. Default: 30s (kafka-go's).
	SessionTimeout time.Duration
}

func (cc ConsumerConfig) withDefaults() ConsumerConfig {
	if cc.CommitEvery <= 0 {
		cc.CommitEvery = 1000
	}
	if cc.CommitInterval <= 0 {
		cc.CommitInterval = time.Second
	}
	if cc.RetryBackoffMin <= 0 {
		cc.RetryBackoffMin = 100 * time.Millisecond
	}
	if cc.RetryBackoffMax <= 0 {
		cc.RetryBackoffMax = 30 * time.Second
	}
	if cc.RetryBackoffMax < cc.RetryBackoffMin {
		cc.RetryBackoffMax = cc.RetryBackoffMin
	}
	if cc.MaxWait <= 0 {
		cc.MaxWait = 250 * time.Millisecond
	}
	if cc.QueueCapacity <= 0 {
		cc.QueueCapacity = 4096
	}
	if cc.MaxBytes <= 0 {
		cc.MaxBytes = 4 << 20
	}
	if cc.SessionTimeout <= 0 {
		cc.SessionTimeout = 30 * time.Second
	}
	return cc
}

// Consumer reads topics as a member of a consumer group, decodes each message with
// schemas.Decode and calls a Handler with it, and commits offsets only for records that were
// handled (or dead-lettered):
//
//   - Records of one partition are handled in offset order, one at a time; Run never calls the
//     handler concurrently. Values are decoded ahead of the handler, on as many goroutines as
//     there are CPUs, so that a replay is not limited by one core.
//   - An offset is committed only after its record's handler returned nil, or the record was
//     acknowledged by the dead-letter topic. Commits are batched (ConsumerConfig.CommitEvery,
//     CommitInterval) and made once more when Run returns, so a restarted consumer of the same
//     group resumes right after the last handled record and re-reads nothing that was
//     committed; records handled but not yet committed when the process died are delivered
//     again (at-least-once: handlers must be idempotent, which keyed upserts are).
//   - A value that does not decode (stage "decode"), fails validation, or is a message of
//     another topic (stage "validate") goes to the dead-letter topic with the reason, is
//     committed, and the consumer goes on with the next record. If the dead-letter write
//     fails, Run returns the error without committing past the record.
//   - Records read from the dead-letter topic itself are never dead-lettered again; an
//     undecodable one is logged and skipped (it stays in that topic).
//
// During a rebalance, records already fetched for partitions that moved to another member may
// still be handled here and their offsets committed: they are then handled twice, never lost.
//
// A Consumer is not safe for concurrent use: call Run from one goroutine at a time.
type Consumer struct {
	cfg     Config
	cc      ConsumerConfig
	log     logrus.FieldLogger
	metrics *consumerMetrics
	dlq     *DeadLetters
	ownW    *Writer // the dead-letter writer we made, if any
	mu      sync.Mutex
	running bool
}

// NewConsumer returns a consumer for cfg and cc (both validated here). It logs to log (nil:
// discarded) and counts handled, retried and dead-lettered records and commits on reg (nil: not
// exported). It does not connect until Run. The caller must Close it.
func NewConsumer(cfg Config, cc ConsumerConfig, log logrus.FieldLogger, reg prometheus.Registerer) (*Consumer, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cc = cc.withDefaults()
	if cc.Group == "" {
		return nil, errors.New("new kafka consumer: no consumer group id")
	}
	if len(cc.Topics) == 0 {
		return nil, fmt.Errorf("new kafka consumer for group %s: no topics", cc.Group)
	}
	for _, t := range cc.Topics {
		if t == "" {
			return nil, fmt.Errorf("new kafka consumer for group %s: empty topic name", cc.Group)
		}
	}
	// The group is recorded in every dead letter: check now that schemas accepts it there,
	// rather than fail on the first bad record.
	probe := schemas.DeadLetter{OriginalTopic: cc.Topics[0], Reason: "probe", Stage: schemas.StageDecode, FailedAt: time.Now().UTC(), ConsumerGroup: cc.Group}
	if err := probe.Validate(); err != nil {
		return nil, fmt.Errorf("new kafka consumer for group %q: %w", cc.Group, err)
	}
	log = orDiscard(log).WithField("group", cc.Group)
	m, err := newConsumerMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("register kafka consumer metrics: %w", err)
	}
	c := &Consumer{cfg: cfg, cc: cc, log: log, metrics: m, dlq: cc.DeadLetters}
	if c.dlq == nil {
		// Dead letters are rare: send each at once rather than wait for a batch to fill.
		dcfg := cfg
		dcfg.BatchTimeout = time.Millisecond
		w, err := NewWriter(dcfg, log.WithField("component", "dlq"), reg)
		if err != nil {
			return nil, err
		}
		c.ownW = w
		c.dlq = NewDeadLetters(w, "", cc.Group)
	}
	return c, nil
}

// Close releases the dead-letter writer the consumer made for itself. Call it after Run
// returned.
func (c *Consumer) Close() error {
	if c.ownW != nil {
		return c.ownW.Close()
	}
	return nil
}

// fetched is a message read from kafka-go with its decoding result.
type fetched struct {
	m   kafkago.Message
	msg schemas.Message
	err error
}

// Run joins the group, handles records until ctx ends or an error stops it, commits the offsets
// of the records handled, and leaves the group. It returns nil when ctx ended (cancellation is
// how to stop a consumer), and otherwise the error that stopped it: a handler that kept failing
// (MaxAttempts), a dead-letter write that failed, a fetch or commit error. Records not committed
// when it returns are delivered again to the next member of the group.
func (c *Consumer) Run(ctx context.Context, handle Handler) error {
	if handle == nil {
		return errors.New("kafka consumer: nil handler")
	}
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return errors.New("kafka consumer: Run is already running")
	}
	c.running = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.running = false
		c.mu.Unlock()
	}()

	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:     c.cfg.Brokers,
		GroupID:     c.cc.Group,
		GroupTopics: c.cc.Topics,
		Dialer: &kafkago.Dialer{
			ClientID:  c.cfg.ClientID,
			Timeout:   c.cfg.DialTimeout,
			DualStack: true,
			KeepAlive: 30 * time.Second,
		},
		QueueCapacity:  c.cc.QueueCapacity,
		MinBytes:       1,
		MaxBytes:       c.cc.MaxBytes,
		MaxWait:        c.cc.MaxWait,
		StartOffset:    kafkago.FirstOffset,
		CommitInterval: 0, // synchronous: we batch commits ourselves and must see their errors
		SessionTimeout: c.cc.SessionTimeout,
		// The lag is not used; its polling costs a request per partition per second.
		ReadLagInterval:  -1,
		JoinGroupBackoff: time.Second,
		Logger:           kafkaGoLogger(c.log, logrus.DebugLevel),
		// The reader retries connection and group errors by itself without telling the
		// caller; these lines are the only sign of a broker it cannot reach.
		ErrorLogger: kafkaGoLogger(c.log, logrus.WarnLevel),
	})
	s := &session{c: c, r: r, handle: handle, pending: map[partitionKey]kafkago.Message{}, handled: map[string]prometheus.Counter{}}
	err := s.run(ctx)
	if cerr := r.Close(); cerr != nil && err == nil && ctx.Err() == nil {
		err = fmt.Errorf("leave consumer group %s: %w", c.cc.Group, cerr)
	}
	return err
}

// partitionKey names one partition of one topic.
type partitionKey struct {
	topic     string
	partition int
}

// session is one Run: a group membership and its uncommitted progress.
type session struct {
	c       *Consumer
	r       *kafkago.Reader
	handle  Handler
	pending map[partitionKey]kafkago.Message // last handled message per partition, not committed
	npend   int
	last    time.Time // last commit
	handled map[string]prometheus.Counter
}

// handledCounter returns the handled-records counter of topic (cached: the label lookup costs
// more than the increment).
func (s *session) handledCounter(topic string) prometheus.Counter {
	c, ok := s.handled[topic]
	if !ok {
		c = s.c.metrics.handled.WithLabelValues(s.c.cc.Group, topic)
		s.handled[topic] = c
	}
	return c
}

// The fetch pipeline: records are fetched in batches, handed on when batchMax records are in
// or batchLinger after the first one arrived (so a lone record waits at most that long), decoded
// by as many workers as there are CPUs, and handled in fetch order. At most batchesInFlight batches are fetched ahead of the
// handler (on top of kafka-go's own QueueCapacity).
const (
	batchMax        = 256
	batchLinger     = time.Millisecond
	batchesInFlight = 8
)

// fetchBatch is a batch of fetched records; done is closed once all are decoded.
type fetchBatch struct {
	recs []fetched
	done chan struct{}
}

func (s *session) run(ctx context.Context) error {
	fctx, stopFetch := context.WithCancel(ctx)
	ordered := make(chan *fetchBatch, batchesInFlight)
	work := make(chan *fetchBatch, batchesInFlight)
	fetchErr := make(chan error, 1)
	var wg sync.WaitGroup
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				for i := range b.recs {
					f := &b.recs[i]
					f.msg, f.err = schemas.Decode(f.m.Value)
				}
				close(b.done)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(work)
		fetchErr <- s.fetch(fctx, work, ordered)
	}()
	defer func() {
		stopFetch()
		wg.Wait()
	}()

	ticker := time.NewTicker(s.c.cc.CommitInterval)
	defer ticker.Stop()
	s.last = time.Now()
	for {
		select {
		case <-ctx.Done():
			return s.finish(nil)
		case err := <-fetchErr:
			if ctx.Err() != nil {
				return s.finish(nil)
			}
			return s.finish(fmt.Errorf("fetch from %v for group %s: %w", s.c.cc.Topics, s.c.cc.Group, err))
		case <-ticker.C:
			if s.npend > 0 && time.Since(s.last) >= s.c.cc.CommitInterval/2 {
				if err := s.commit(ctx); err != nil {
					if ctx.Err() != nil {
						return s.finish(nil)
					}
					s.c.log.WithError(err).Warn("offset commit failed, will retry with the next commit")
				}
			}
		case b := <-ordered:
			select {
			case <-b.done:
			case <-ctx.Done():
				return s.finish(nil)
			}
			for i := range b.recs {
				if err := s.consume(ctx, &b.recs[i]); err != nil {
					if ctx.Err() != nil {
						return s.finish(nil)
					}
					return s.finish(err)
				}
				if s.npend >= s.c.cc.CommitEvery {
					if err := s.commit(ctx); err != nil {
						if ctx.Err() != nil {
							return s.finish(nil)
						}
						s.c.log.WithError(err).Warn("offset commit failed, will retry with the next commit")
					}
				}
			}
		}
	}
}

// finish commits what was handled, with a context of its own since ctx may have ended, and
// returns cause, or the commit error when cause is nil.
func (s *session) finish(cause error) error {
	if s.npend == 0 {
		return cause
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.commit(ctx); err != nil {
		s.c.log.WithError(err).Warn("final offset commit failed, uncommitted records will be delivered again")
		if cause == nil {
			return err
		}
	}
	return cause
}

// fetch reads records into batches and passes each batch, in order, to the decoders (work) and
// to run (ordered). It returns when ctx ends or the reader fails.
func (s *session) fetch(ctx context.Context, work, ordered chan<- *fetchBatch) error {
	for {
		// The first record of a batch is waited for as long as it takes.
		m, err := s.r.FetchMessage(ctx)
		if err != nil {
			return err
		}
		b := &fetchBatch{recs: make([]fetched, 1, batchMax), done: make(chan struct{})}
		b.recs[0].m = m
		if err := s.fill(ctx, b); err != nil {
			return err
		}
		for _, ch := range [...]chan<- *fetchBatch{ordered, work} {
			select {
			case ch <- b:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

// fill adds records to b until it is full or batchLinger has passed. An interrupted fetch loses
// nothing: kafka-go hands the record to the next FetchMessage.
func (s *session) fill(ctx context.Context, b *fetchBatch) error {
	lctx, cancel := context.WithTimeout(ctx, batchLinger)
	defer cancel()
	for len(b.recs) < batchMax {
		m, err := s.r.FetchMessage(lctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if lctx.Err() != nil {
				return nil // lingered long enough: hand on what we have
			}
			return err
		}
		b.recs = append(b.recs, fetched{m: m})
	}
	return nil
}

// consume handles one fetched message: dead-letters it if it did not decode or belongs
// elsewhere, otherwise calls the handler (with retries). On nil the message counts as handled.
func (s *session) consume(ctx context.Context, f *fetched) error {
	m := &f.m
	rec := Record{
		Topic: m.Topic, Partition: m.Partition, Offset: m.Offset,
		Key: m.Key, Value: m.Value, Time: m.Time, Message: f.msg,
	}
	if f.err != nil {
		if err := s.deadLetter(ctx, rec, decodeStage(f.err), oneLine(f.err)); err != nil {
			return err
		}
	} else if f.msg.Topic() != m.Topic {
		reason := fmt.Sprintf("schema %s belongs on topic %s, not %s", f.msg.SchemaName(), f.msg.Topic(), m.Topic)
		if err := s.deadLetter(ctx, rec, schemas.StageValidate, reason); err != nil {
			return err
		}
	} else if err := s.handleWithRetry(ctx, rec); err != nil {
		if !IsPermanent(err) {
			return err
		}
		if err := s.deadLetter(ctx, rec, schemas.StageProcess, oneLine(err)); err != nil {
			return err
		}
	} else {
		s.handledCounter(m.Topic).Inc()
	}
	k := partitionKey{m.Topic, m.Partition}
	s.pending[k] = *m
	s.npend++
	return nil
}

// handleWithRetry calls the handler until it succeeds, fails permanently, MaxAttempts is reached
// or ctx ends.
func (s *session) handleWithRetry(ctx context.Context, rec Record) error {
	for attempt := 1; ; attempt++ {
		err := s.handle(ctx, rec)
		if err == nil || IsPermanent(err) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if s.c.cc.MaxAttempts > 0 && attempt >= s.c.cc.MaxAttempts {
			return fmt.Errorf("handle %s/%d/%d after %d attempts: %w", rec.Topic, rec.Partition, rec.Offset, attempt, err)
		}
		d := backoff(attempt, s.c.cc.RetryBackoffMin, s.c.cc.RetryBackoffMax)
		s.c.metrics.retries.WithLabelValues(s.c.cc.Group, rec.Topic).Inc()
		s.c.log.WithFields(logrus.Fields{
			"topic": rec.Topic, "partition": rec.Partition, "offset": rec.Offset,
			"attempt": attempt, "backoff_seconds": d.Seconds(), "err": err,
		}).Warn("handler failed, retrying the record")
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// backoff is the delay before attempt+1: min doubled per attempt, capped at max, with up to 20%
// jitter below.
func backoff(attempt int, min, max time.Duration) time.Duration {
	d := min
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// deadLetter sends rec to the dead-letter topic; records of the dead-letter topic itself are
// logged and skipped instead (they are already there).
func (s *session) deadLetter(ctx context.Context, rec Record, stage, reason string) error {
	log := s.c.log.WithFields(logrus.Fields{
		"topic": rec.Topic, "partition": rec.Partition, "offset": rec.Offset,
		"stage": stage, "reason": reason,
	})
	if rec.Topic == s.c.dlq.Topic() {
		log.Warn("unreadable record on the dead-letter topic skipped, it stays there")
		return nil
	}
	dl := schemas.DeadLetter{
		OriginalTopic: rec.Topic, Partition: int32(rec.Partition), Offset: rec.Offset,
		OriginalKey: rec.Key, OriginalValue: rec.Value, Reason: reason, Stage: stage,
		ConsumerGroup: s.c.cc.Group,
	}
	if err := s.c.dlq.Send(ctx, dl); err != nil {
		return fmt.Errorf("dead-letter %s/%d/%d (%s: %s): %w", rec.Topic, rec.Partition, rec.Offset, stage, reason, err)
	}
	s.c.metrics.deadLetters.WithLabelValues(s.c.cc.Group, rec.Topic, stage).Inc()
	log.Warn("record refused, sent to the dead-letter topic")
	return nil
}

// commit commits the last handled offset of every partition with progress.
func (s *session) commit(ctx context.Context) error {
	if s.npend == 0 {
		return nil
	}
	if s.c.cc.BeforeCommit != nil {
		if err := s.c.cc.BeforeCommit(ctx); err != nil {
			s.c.metrics.commits.WithLabelValues(s.c.cc.Group, "error").Inc()
			return fmt.Errorf("make the effects of %d records durable before committing them: %w", s.npend, err)
		}
	}
	msgs := make([]kafkago.Message, 0, len(s.pending))
	for _, m := range s.pending {
		msgs = append(msgs, m)
	}
	if err := s.r.CommitMessages(ctx, msgs...); err != nil {
		s.c.metrics.commits.WithLabelValues(s.c.cc.Group, "error").Inc()
		return fmt.Errorf("commit offsets of %d partitions for group %s: %w", len(msgs), s.c.cc.Group, err)
	}
	s.c.metrics.commits.WithLabelValues(s.c.cc.Group, "ok").Inc()
	clear(s.pending)
	s.npend = 0
	s.last = time.Now()
	return nil
}

// decodeStage tells a decoding failure (the bytes are not a known message: stage "decode") from
// a validation failure (they are, but break a rule of the schema: stage "validate"). Decode
// reports the latter as a *schemas.DecodeError wrapping *schemas.FieldError values.
func decodeStage(err error) string {
	var fe *schemas.FieldError
	if errors.As(err, &fe) {
		return schemas.StageValidate
	}
	return schemas.StageDecode
}
