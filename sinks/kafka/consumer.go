package kafka

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/hashatlas/hashatlas/ingest/backoff"
	"github.com/hashatlas/hashatlas/schemas"
	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/sirupsen/logrus"
)

// Record is one consumed message, decoded and validated. The handler owns it: nothing in it is
// reused by the consumer. Message's strings share Value's memory (schemas.DecodeShared), so
// Value must not be modified.
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
	// RetryBackoffMin and RetryBackoffMax bound the exponential backoff between handler
	// attempts: RetryBackoffMin after the first failure, doubling up to RetryBackoffMax, each
	// wait drawn from the upper half of its step (internal/backoff). Defaults: 100ms and 30s.
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
	// OnAssign, when set, is called at the start of every generation of the group with the
	// partitions it assigned to this member (topic → partitions), before any of its records, on
	// the goroutine that calls the handler. Its error stops Run. A consumer whose state spans
	// partitions (the estimator) uses it to notice that it holds only part of them.
	OnAssign func(ctx context.Context, assigned map[string][]int) error
	// MaxWait is the longest a fetch waits at the broker for new data. Default: 250ms.
	MaxWait time.Duration
	// QueueCapacity is how many fetched messages kafka-go buffers ahead of the handler, shared
	// among the partitions assigned to the member (at least 64 each). Default: 4096.
	QueueCapacity int
	// MaxBytes caps one fetch response per partition; a batch larger than it still comes whole
	// (KIP-74). Default: 1 MiB, as Kafka's own consumer (max.partition.fetch.bytes) and the size
	// of the batches Writer makes. Bigger responses gain nothing measurable and cost the
	// embedded broker, which builds each one by appending its batches: with 4 MiB the
	// consumer's side of BenchmarkPublishConsume allocated a fifth more per record and spent
	// about 0.4 CPU-µs more per record.
	MaxBytes int
	// SessionTimeout is how long the broker waits for a silent member before it rebalances its
	// partitions to others. Default: 30s (kafka-go's).
	SessionTimeout time.Duration
	// HeartbeatInterval is how often the member tells the group coordinator it is alive; it is
	// also how soon it learns that the group is rebalancing (a member joined or left). It must
	// be well below SessionTimeout. Default: 3s (kafka-go's).
	HeartbeatInterval time.Duration
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
		cc.MaxBytes = 1 << 20
	}
	if cc.SessionTimeout <= 0 {
		cc.SessionTimeout = 30 * time.Second
	}
	if cc.HeartbeatInterval <= 0 {
		cc.HeartbeatInterval = 3 * time.Second
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
// When the group rebalances (a member joins or leaves, or one's session expired), each member
// finishes the record it is handling, drops the records it fetched beyond it, makes the handled
// ones durable (BeforeCommit) and commits them with the ending generation, and only then lets
// the group go on: the partitions' next owners start right after the last handled record, so a
// member joining or leaving causes no record to be handled twice. Records are delivered again
// only when that commit fails: the member had already been expelled (its session expired while
// a handler was stuck), BeforeCommit failed, or the process died.
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
// (MaxAttempts), a dead-letter write that failed, or a broker refusal that retrying cannot cure
// (see unrecoverable). A broker that is unreachable or restarting is waited for until ctx ends,
// with a warning per failed attempt. Records not committed when it returns are delivered again
// to the next member of the group.
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

	// The group is driven through kafka-go's ConsumerGroup rather than a group Reader: the
	// Reader rejoins on a rebalance without waiting for its caller, so the partitions' next
	// owners start from offsets committed before this member's last records were handled and
	// committed (measured: about 6 % of the records streamed during a join and a leave were
	// handled twice, on kfake and on Kafka 4.4 alike). A Generation is not left until the
	// functions started on it return, which lets a member commit before it lets go.
	cg, err := kafkago.NewConsumerGroup(kafkago.ConsumerGroupConfig{
		ID:                c.cc.Group,
		Brokers:           c.cfg.Brokers,
		Dialer:            c.dialer(),
		Topics:            c.cc.Topics,
		HeartbeatInterval: c.cc.HeartbeatInterval,
		SessionTimeout:    c.cc.SessionTimeout,
		JoinGroupBackoff:  time.Second,
		StartOffset:       kafkago.FirstOffset,
		Logger:            kafkaGoLogger(c.log, logrus.DebugLevel),
		// Every error of the group is also returned by Next, which logs it once as a warning.
		ErrorLogger: kafkaGoLogger(c.log, logrus.DebugLevel),
	})
	if err != nil {
		return fmt.Errorf("join consumer group %s: %w", c.cc.Group, err)
	}
	s := &session{
		c: c, cg: cg, handle: handle, pending: map[partitionKey]int64{},
		handled: map[string]prometheus.Counter{}, left: make(chan struct{}),
	}
	err = s.run(ctx)
	s.leave()
	<-s.left
	return err
}

// dialer returns the kafka-go dialer of the consumer's connections.
func (c *Consumer) dialer() *kafkago.Dialer {
	return &kafkago.Dialer{ClientID: c.cfg.ClientID, Timeout: c.cfg.DialTimeout, DualStack: true, KeepAlive: 30 * time.Second}
}

// partitionKey names one partition of one topic.
type partitionKey struct {
	topic     string
	partition int
}

// session is one Run: a group membership and its uncommitted progress.
type session struct {
	c      *Consumer
	cg     *kafkago.ConsumerGroup
	handle Handler
	// gen is the generation being consumed and ended is closed when it ends (the group is
	// rebalancing, the member lost its place, or it is leaving); both are nil between
	// generations.
	gen     *kafkago.Generation
	ended   chan struct{}
	pending map[partitionKey]int64 // offset to commit (last handled + 1) per partition with progress
	npend   int
	last    time.Time // last commit
	handled map[string]prometheus.Counter
	once    sync.Once
	left    chan struct{} // closed once the member left the group (leave)
}

// leave closes the consumer group, which leaves it, in the background; s.left is closed when
// that is done. The current generation, if any, ends (s.ended) but is held until released.
func (s *session) leave() {
	s.once.Do(func() {
		go func() {
			_ = s.cg.Close()
			close(s.left)
		}()
	})
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

// run consumes one generation of the group after another until ctx ends or an error stops it.
func (s *session) run(ctx context.Context) error {
	for {
		gen, err := s.cg.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if unrecoverable(err) {
				return fmt.Errorf("join consumer group %s: %w", s.c.cc.Group, err)
			}
			// kafka-go has left the group and waits JoinGroupBackoff before it joins again.
			s.c.log.WithError(err).Warn("joining the consumer group failed, retrying")
			continue
		}
		stop, err := s.generation(ctx, gen)
		if err != nil || stop {
			return err
		}
	}
}

// The fetch pipeline: each partition's records are fetched in batches, handed on when batchMax
// records are in or batchLinger after the first one arrived (so a lone record waits at most that
// long), decoded by as many workers as there are CPUs, and handled in fetch order (per
// partition: batches of different partitions interleave). At most batchesInFlight batches are
// fetched ahead of the handler (on top of the partition readers' own queues).
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

// errGenerationEnded stops the handling of a generation's records when the group rebalances.
var errGenerationEnded = errors.New("consumer group generation ended")

// generation consumes the partitions gen assigned to this member until the generation ends
// (the group rebalances: stop is false) or Run must return (ctx ended, or err). Either way the
// member stops at the record it is handling, drops the records fetched beyond it, and commits
// what it handled with gen before the generation is released, so that the partitions' next
// owners — this member included — resume right after the last handled record.
func (s *session) generation(ctx context.Context, gen *kafkago.Generation) (stop bool, err error) {
	ended, released := make(chan struct{}), make(chan struct{})
	gen.Start(func(gctx context.Context) {
		select {
		case <-gctx.Done():
			close(ended)
			<-released
		case <-released:
		}
	})
	s.gen, s.ended = gen, ended
	defer func() { s.gen, s.ended = nil, nil }()
	nparts := 0
	for _, as := range gen.Assignments {
		nparts += len(as)
	}
	log := s.c.log.WithFields(logrus.Fields{"generation": gen.ID, "partitions": nparts})
	log.Debug("consuming a generation of the group")
	if s.c.cc.OnAssign != nil {
		assigned := make(map[string][]int, len(gen.Assignments))
		for topic, as := range gen.Assignments {
			for _, a := range as {
				assigned[topic] = append(assigned[topic], a.ID)
			}
			sort.Ints(assigned[topic])
		}
		if err := s.c.cc.OnAssign(ctx, assigned); err != nil {
			s.leave()
			close(released)
			return true, fmt.Errorf("consumer group %s, generation %d: %w", s.c.cc.Group, gen.ID, err)
		}
	}

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
					f.msg, f.err = schemas.DecodeShared(f.m.Value)
				}
				close(b.done)
			}
		}()
	}
	var readers sync.WaitGroup
	s.readPartitions(fctx, gen, nparts, &readers, ordered, work, fetchErr)
	wg.Add(1)
	go func() {
		defer wg.Done()
		readers.Wait()
		close(work)
	}()

	cause, stop := s.consumeUntilEnd(ctx, ended, ordered, fetchErr)
	if stop {
		// Leave before releasing the generation, or the group would be joined again.
		s.leave()
	}
	stopFetch()
	wg.Wait()
	err = s.finish(cause)
	if !stop {
		err = nil // logged by finish; the records are delivered again to the partitions' next owners
	}
	// Offsets not committed by now belong to partitions that may move elsewhere: committing
	// them in a later generation could move another member's position. They are delivered
	// again instead.
	clear(s.pending)
	s.npend = 0
	close(released)
	log.Debug("released the generation")
	return stop, err
}

// consumeUntilEnd handles the fetched records and commits them as they go until the generation
// ends (nil, false), ctx ends (nil, true) or an error stops Run (err, true).
func (s *session) consumeUntilEnd(ctx context.Context, ended <-chan struct{}, ordered <-chan *fetchBatch, fetchErr <-chan error) (error, bool) {
	ticker := time.NewTicker(s.c.cc.CommitInterval)
	defer ticker.Stop()
	s.last = time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil, true
		case <-ended:
			return nil, false
		case err := <-fetchErr:
			if ctx.Err() != nil {
				return nil, true
			}
			return fmt.Errorf("fetch from %v for group %s: %w", s.c.cc.Topics, s.c.cc.Group, err), true
		case <-ticker.C:
			if s.npend > 0 && time.Since(s.last) >= s.c.cc.CommitInterval/2 {
				if err := s.commit(ctx); err != nil {
					if ctx.Err() != nil {
						return nil, true
					}
					s.c.log.WithError(err).Warn("offset commit failed, will retry with the next commit")
				}
			}
		case b := <-ordered:
			select {
			case <-b.done:
			case <-ctx.Done():
				return nil, true
			}
			for i := range b.recs {
				select {
				case <-ended:
					return nil, false // the rest goes to the partitions' next owners
				default:
				}
				if err := s.consume(ctx, &b.recs[i]); err != nil {
					switch {
					case ctx.Err() != nil:
						return nil, true
					case errors.Is(err, errGenerationEnded):
						return nil, false
					}
					return err, true
				}
				if s.npend >= s.c.cc.CommitEvery {
					if err := s.commit(ctx); err != nil {
						if ctx.Err() != nil {
							return nil, true
						}
						s.c.log.WithError(err).Warn("offset commit failed, will retry with the next commit")
					}
				}
			}
		}
	}
}

// finish commits what was handled when a generation ends, with a context of its own since ctx
// may have ended, and returns cause, or the commit error when cause is nil.
func (s *session) finish(cause error) error {
	if s.npend == 0 {
		return cause
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.commit(ctx); err != nil {
		s.c.log.WithError(err).Warn("offset commit at the end of the generation failed, uncommitted records will be delivered again")
		if cause == nil {
			return err
		}
	}
	return cause
}

// readPartitions starts a reader for every partition gen assigned, at its committed offset (the
// first offset when the group has none). Each reads its partition in batches — batchMax records,
// or what arrived within batchLinger of the first — and hands every batch, in offset order, to
// the handling loop (ordered) and to the decoders (work): one hand-over per batch rather than
// per record. A partition reader keeps retrying after a failure (it reconnects, finds the new
// leader, waits for a restarting broker), so its errors are logged and reading goes on, unless
// retrying cannot help (unrecoverable): then the error goes to fetchErr (the first one; Run
// stops) and the reader ends. The readers stop and close when ctx ends; readers counts them.
func (s *session) readPartitions(ctx context.Context, gen *kafkago.Generation, nparts int, readers *sync.WaitGroup,
	ordered, work chan<- *fetchBatch, fetchErr chan<- error) {
	queue := max(64, s.c.cc.QueueCapacity/max(1, nparts))
	fail := func(err error) {
		select {
		case fetchErr <- err:
		default: // Run is stopping for an earlier one
		}
	}
	for topic, as := range gen.Assignments {
		for _, a := range as {
			r := kafkago.NewReader(kafkago.ReaderConfig{
				Brokers:       s.c.cfg.Brokers,
				Topic:         topic,
				Partition:     a.ID,
				Dialer:        s.c.dialer(),
				QueueCapacity: queue,
				MinBytes:      1,
				MaxBytes:      s.c.cc.MaxBytes,
				MaxWait:       s.c.cc.MaxWait,
				// The lag is not used; its polling costs a request per partition per second.
				ReadLagInterval: -1,
				Logger:          kafkaGoLogger(s.c.log, logrus.DebugLevel),
				ErrorLogger:     kafkaGoLogger(s.c.log, logrus.WarnLevel),
			})
			readers.Add(1)
			go func() {
				defer readers.Done()
				defer r.Close()
				if err := r.SetOffset(a.Offset); err != nil {
					fail(fmt.Errorf("read %s/%d from offset %d: %w", topic, a.ID, a.Offset, err))
					return
				}
				for {
					b, err := s.readBatch(ctx, r, topic, a.ID)
					if err != nil {
						if ctx.Err() == nil {
							fail(err)
						}
						return
					}
					for _, ch := range [...]chan<- *fetchBatch{ordered, work} {
						select {
						case ch <- b:
						case <-ctx.Done():
							return
						}
					}
				}
			}()
		}
	}
}

// readBatch reads the next batch of one partition from r: it waits for a first record as long
// as it takes, then adds records until the batch holds batchMax or batchLinger has passed. It
// returns an error only when ctx ended or reading failed for good.
func (s *session) readBatch(ctx context.Context, r *kafkago.Reader, topic string, partition int) (*fetchBatch, error) {
	var first kafkago.Message
	for {
		m, err := r.FetchMessage(ctx)
		if err == nil {
			first = m
			break
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err := s.fetchFailed(topic, partition, err); err != nil {
			return nil, err
		}
	}
	b := &fetchBatch{recs: make([]fetched, 1, batchMax), done: make(chan struct{})}
	b.recs[0].m = first
	linger, cancel := context.WithTimeout(ctx, batchLinger)
	defer cancel()
	for len(b.recs) < batchMax {
		m, err := r.FetchMessage(linger)
		if err != nil {
			if linger.Err() != nil {
				break // lingered long enough (or ctx ended: the caller sees it)
			}
			if err := s.fetchFailed(topic, partition, err); err != nil {
				return nil, err
			}
			continue
		}
		b.recs = append(b.recs, fetched{m: m})
	}
	return b, nil
}

// fetchFailed logs a partition reader's error and returns nil when the reader will retry by
// itself, or returns the error when retrying cannot help (unrecoverable).
func (s *session) fetchFailed(topic string, partition int, err error) error {
	if unrecoverable(err) {
		return fmt.Errorf("read %s/%d: %w", topic, partition, err)
	}
	s.c.log.WithFields(logrus.Fields{"topic": topic, "partition": partition, "err": err}).
		Warn("reading a partition failed, retrying")
	return nil
}

// unrecoverable reports whether a broker's refusal cannot be cured by retrying: the client is
// not authorized, or the group's settings are invalid. Everything else (network failures,
// leader elections, coordinator moves, a group rebalancing) is retried.
func unrecoverable(err error) bool {
	var ke kafkago.Error
	if !errors.As(err, &ke) {
		return false
	}
	switch ke {
	case kafkago.TopicAuthorizationFailed, kafkago.GroupAuthorizationFailed, kafkago.ClusterAuthorizationFailed,
		kafkago.SASLAuthenticationFailed, kafkago.InvalidGroupId, kafkago.InconsistentGroupProtocol,
		kafkago.InvalidSessionTimeout, kafkago.UnsupportedVersion:
		return true
	}
	return false
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
	s.pending[k] = m.Offset + 1
	s.npend++
	return nil
}

// handleWithRetry calls the handler until it succeeds, fails permanently, MaxAttempts is reached
// or ctx ends, waiting by the backoff policy (internal/backoff) between attempts.
func (s *session) handleWithRetry(ctx context.Context, rec Record) error {
	maxAttempts := s.c.cc.MaxAttempts
	p := backoff.Policy{Initial: s.c.cc.RetryBackoffMin, Max: s.c.cc.RetryBackoffMax, MaxAttempts: maxAttempts}
	err := p.Retry(ctx, func(attempt int) error {
		err := s.handle(ctx, rec)
		switch {
		case err == nil:
			return nil
		case IsPermanent(err):
			return backoff.Permanent(err)
		case ctx.Err() != nil:
			return backoff.Permanent(ctx.Err())
		case maxAttempts > 0 && attempt >= maxAttempts:
			return fmt.Errorf("handle %s/%d/%d after %d attempts: %w", rec.Topic, rec.Partition, rec.Offset, attempt, err)
		}
		return err
	}, backoff.Hooks{
		// The group is rebalancing: the record goes to the partition's next owner
		// uncommitted, rather than hold up the whole group while it is retried here.
		Abort: s.ended,
		OnRetry: func(attempt int, d time.Duration, err error) {
			s.c.metrics.retries.WithLabelValues(s.c.cc.Group, rec.Topic).Inc()
			s.c.log.WithFields(logrus.Fields{
				"topic": rec.Topic, "partition": rec.Partition, "offset": rec.Offset,
				"attempt": attempt, "backoff_seconds": d.Seconds(), "err": err,
			}).Warn("handler failed, retrying the record")
		},
	})
	var abandoned *backoff.AbandonedError
	switch {
	case errors.Is(err, backoff.ErrAborted):
		return errGenerationEnded
	case errors.As(err, &abandoned):
		return abandoned.Cause // ctx ended during a wait
	}
	return err
}

// deadLetter sends rec to the dead-letter topic; records of the dead-letter topic itself are
// logged and skipped instead (they are already there). The letter is bounded
// (schemas.NewDeadLetter): a record of any size, a compressed one included, gives a letter of
// at most schemas.MaxDeadLetterBytes, with the first bytes of its key and value, their sizes
// and the value's SHA-256, so that the broker never refuses it for its size.
func (s *session) deadLetter(ctx context.Context, rec Record, stage, reason string) error {
	dl := schemas.NewDeadLetter(rec.Topic, int32(rec.Partition), rec.Offset, rec.Key, rec.Value, stage, reason)
	dl.ConsumerGroup = s.c.cc.Group
	log := s.c.log.WithFields(logrus.Fields{
		"topic": rec.Topic, "partition": rec.Partition, "offset": rec.Offset,
		"stage": stage, "reason": dl.Reason, "value_size": dl.ValueSize, "value_sha256": dl.ValueSHA256,
	})
	if rec.Topic == s.c.dlq.Topic() {
		log.Warn("unreadable record on the dead-letter topic skipped, it stays there")
		return nil
	}
	if err := s.c.dlq.Send(ctx, dl); err != nil {
		return fmt.Errorf("dead-letter %s/%d/%d (%s: %s): %w", rec.Topic, rec.Partition, rec.Offset, stage, dl.Reason, err)
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
	offsets := map[string]map[int]int64{}
	for k, off := range s.pending {
		if offsets[k.topic] == nil {
			offsets[k.topic] = map[int]int64{}
		}
		offsets[k.topic][k.partition] = off
	}
	if err := s.commitOffsets(ctx, offsets); err != nil {
		s.c.metrics.commits.WithLabelValues(s.c.cc.Group, "error").Inc()
		return fmt.Errorf("commit offsets of %d partitions for group %s (generation %d): %w", len(s.pending), s.c.cc.Group, s.gen.ID, err)
	}
	s.c.metrics.commits.WithLabelValues(s.c.cc.Group, "ok").Inc()
	clear(s.pending)
	s.npend = 0
	s.last = time.Now()
	return nil
}

// commitOffsets commits offsets with the current generation, trying again up to twice while the
// coordinator answers with a temporary error (it is loading the group, or moved). Other errors
// are returned at once: the member was expelled (its session expired), or the connection to
// the coordinator broke, which ends the generation anyway.
func (s *session) commitOffsets(ctx context.Context, offsets map[string]map[int]int64) error {
	for attempt := 1; ; attempt++ {
		err := s.gen.CommitOffsets(offsets)
		var ke kafkago.Error
		if err == nil || attempt == 3 || !errors.As(err, &ke) || !ke.Temporary() {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
		}
	}
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
