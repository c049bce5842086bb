package kafka

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/sirupsen/logrus"
)

// TopicReader reads topics outside any consumer group: from the start up to the end as it is
// when the read begins (to rebuild state), or up to the end they have once their writer is done
// (ReadAllUntil: a replay reading back the file it publishes), or only the tail (to find where a
// collector left off). It commits nothing. Safe for concurrent use.
type TopicReader struct {
	cfg       Config
	client    *kafkago.Client
	transport *kafkago.Transport // the client's
	log       logrus.FieldLogger
}

// NewTopicReader returns a reader for cfg (validated here).
func NewTopicReader(cfg Config, log logrus.FieldLogger) (*TopicReader, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := newTransport(cfg)
	return &TopicReader{
		cfg:       cfg,
		client:    &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Transport: t, Timeout: 30 * time.Second},
		transport: t,
		log:       orDiscard(log),
	}, nil
}

// partitionRange is the offsets [first, end) of one partition.
type partitionRange struct {
	partition  int
	first, end int64
}

// ranges lists every partition of topic with its first and end (next) offset. While the brokers
// cannot be reached (worthWaiting) it asks again every half second for up to cfg.RetryTimeout.
func (r *TopicReader) ranges(ctx context.Context, topic string) ([]partitionRange, error) {
	deadline := time.Now().Add(r.cfg.RetryTimeout)
	for {
		out, err := r.rangesOnce(ctx, topic)
		if err == nil || ctx.Err() != nil || !worthWaiting(err) || time.Now().After(deadline) {
			return out, err
		}
		r.log.WithFields(logrus.Fields{"topic": topic, "err": oneLine(err)}).Warn("kafka unreachable, asking again for the offsets")
		// kafka-go's transport keeps a failed connection state until its next metadata refresh
		// (6 s): drop it, so that the next request dials again.
		r.transport.CloseIdleConnections()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (r *TopicReader) rangesOnce(ctx context.Context, topic string) ([]partitionRange, error) {
	parts, err := topicPartitions(ctx, r.client, []string{topic})
	if err != nil {
		return nil, fmt.Errorf("list the partitions of %s: %w", topic, err)
	}
	n, ok := parts[topic]
	if !ok || n == 0 {
		return nil, fmt.Errorf("topic %s does not exist (create it with hashatlas topics)", topic)
	}
	req := &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{}}
	for p := 0; p < n; p++ {
		req.Topics[topic] = append(req.Topics[topic], kafkago.FirstOffsetOf(p), kafkago.LastOffsetOf(p))
	}
	var out []partitionRange
	// A partition whose leader is being elected (a new topic, a broker restart) answers with a
	// temporary error: ask again for a while before giving up.
	for attempt := 0; ; attempt++ {
		resp, err := r.client.ListOffsets(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("list the offsets of %s: %w", topic, err)
		}
		out = out[:0]
		var perr error
		for _, po := range resp.Topics[topic] {
			if po.Error != nil {
				perr = fmt.Errorf("list the offsets of %s/%d: %w", topic, po.Partition, po.Error)
				continue
			}
			out = append(out, partitionRange{partition: po.Partition, first: po.FirstOffset, end: po.LastOffset})
		}
		if perr == nil {
			break
		}
		var ke kafkago.Error
		if !errors.As(perr, &ke) || !ke.Temporary() || attempt >= 200 {
			return nil, perr
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].partition < out[j].partition })
	return out, nil
}

// ReadAll decodes every message of the topics from the first offset up to the end offsets
// they have when the call begins, and calls fn with each, partition by partition in offset
// order (partitions are read concurrently, but fn is called from one goroutine at a time).
// Messages that fail schemas.Decode are passed to bad (nil: skipped) with the error. It returns
// the number of messages read. fn's error stops the read.
func (r *TopicReader) ReadAll(ctx context.Context, topics []string, fn func(Record) error, bad func(Record, error)) (int, error) {
	n, _, err := r.readAll(ctx, topics, nil, nil, fn, bad)
	return n, err
}

// ReadAllUntil is ReadAll over topics still being written: it reads every partition at once
// from its first offset as records arrive until done is closed (the writer has finished), and
// then each to its end as it is at that moment, which it returns (the offsets a reader of all
// of it would commit). A replay that publishes a file reads it back this way while publishing.
func (r *TopicReader) ReadAllUntil(ctx context.Context, topics []string, done <-chan struct{}, fn func(Record) error, bad func(Record, error)) (int, map[string]map[int]int64, error) {
	return r.readAll(ctx, topics, nil, done, fn, bad)
}

// ReadUncommittedUntil is ReadAllUntil from the offsets group has committed (ReadUncommitted).
func (r *TopicReader) ReadUncommittedUntil(ctx context.Context, topics []string, group string, done <-chan struct{}, fn func(Record) error, bad func(Record, error)) (int, map[string]map[int]int64, error) {
	return r.readAll(ctx, topics, r.committedLimit(ctx, group, uncommitted), done, fn, bad)
}

// ReadCommitted is ReadAll up to the offsets group has committed on each partition (nothing of
// a partition without a commit): the records the group's members have consumed and made
// durable. An estimator that rebuilds its state mid-stream reads this, and then consumes the
// rest as a group member.
func (r *TopicReader) ReadCommitted(ctx context.Context, topics []string, group string, fn func(Record) error, bad func(Record, error)) (int, error) {
	n, _, err := r.readAll(ctx, topics, r.committedLimit(ctx, group, func(pr partitionRange, c int64) partitionRange {
		pr.end = max(pr.first, min(pr.end, c))
		return pr
	}), nil, fn, bad)
	return n, err
}

// ReadUncommitted is ReadAll from the offsets group has committed on each partition (the first
// offset of a partition without a commit): what the group has not yet made durable. An
// estimator that restarts from the state its store holds (estimate.Checkpoint) reads this.
func (r *TopicReader) ReadUncommitted(ctx context.Context, topics []string, group string, fn func(Record) error, bad func(Record, error)) (int, error) {
	n, _, err := r.readAll(ctx, topics, r.committedLimit(ctx, group, uncommitted), nil, fn, bad)
	return n, err
}

// uncommitted narrows a partition to what follows its committed offset c.
func uncommitted(pr partitionRange, c int64) partitionRange {
	pr.first = min(pr.end, max(pr.first, c))
	return pr
}

// ReadLastCommitted reads, of each partition, the last record group committed (none of a
// partition without a commit): what a restart checks its stored state against.
func (r *TopicReader) ReadLastCommitted(ctx context.Context, topics []string, group string, fn func(Record) error, bad func(Record, error)) (int, error) {
	n, _, err := r.readAll(ctx, topics, r.committedLimit(ctx, group, func(pr partitionRange, c int64) partitionRange {
		if c <= pr.first || c > pr.end {
			pr.end = pr.first // nothing committed here, or the record is gone
			return pr
		}
		pr.first, pr.end = c-1, c
		return pr
	}), nil, fn, bad)
	return n, err
}

// committedLimit returns a readAll limit that fetches group's committed offset of every
// partition (-1 where it has none, as Kafka answers) and narrows each range with narrow.
func (r *TopicReader) committedLimit(ctx context.Context, group string, narrow func(partitionRange, int64) partitionRange) func(string, []partitionRange) ([]partitionRange, error) {
	return func(topic string, rs []partitionRange) ([]partitionRange, error) {
		parts := make([]int, len(rs))
		for i, pr := range rs {
			parts[i] = pr.partition
		}
		resp, err := r.client.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
		if err == nil && resp.Error != nil {
			err = resp.Error
		}
		if err != nil {
			return nil, fmt.Errorf("fetch the offsets of group %s on %s: %w", group, topic, err)
		}
		committed := map[int]int64{}
		for _, p := range resp.Topics[topic] {
			if p.Error != nil {
				return nil, fmt.Errorf("fetch the offset of group %s on %s/%d: %w", group, topic, p.Partition, p.Error)
			}
			committed[p.Partition] = p.CommittedOffset
		}
		out := make([]partitionRange, 0, len(rs))
		for _, pr := range rs {
			c, ok := committed[pr.partition]
			if !ok {
				c = -1
			}
			out = append(out, narrow(pr, c))
		}
		return out, nil
	}
}

// readAll reads every partition of topics, from its first offset to its end or, with limit, to
// the end limit sets. With until (not nil) the topics are still being written: every partition
// is read at once as records arrive, whatever its end when the call began, and once until is
// closed to its end as it is then; those ends are returned (nil without until).
func (r *TopicReader) readAll(ctx context.Context, topics []string, limit func(string, []partitionRange) ([]partitionRange, error), until <-chan struct{}, fn func(Record) error, bad func(Record, error)) (int, map[string]map[int]int64, error) {
	type part struct {
		topic string
		partitionRange
		tail *tailState // with until
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var all []part
	for _, t := range topics {
		rs, err := r.ranges(ctx, t)
		if err != nil {
			return 0, nil, err
		}
		if limit != nil {
			if rs, err = limit(t, rs); err != nil {
				return 0, nil, err
			}
		}
		for _, pr := range rs {
			if until != nil {
				all = append(all, part{t, pr, newTailState(ctx, pr.first)})
			} else if pr.end > pr.first {
				all = append(all, part{t, pr, nil})
			}
		}
	}
	var (
		mu    sync.Mutex
		count int
		first error
		wg    sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
			cancel()
		}
		mu.Unlock()
	}
	var ends map[string]map[int]int64
	if until != nil {
		// Once the writer is done, each partition's end is final: a reader past it stops, and
		// one waiting for a record that will not come is stopped.
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-until:
			case <-ctx.Done():
				return
			}
			final, err := r.Ends(ctx, topics)
			if err != nil {
				fail(err)
				return
			}
			mu.Lock()
			ends = final
			mu.Unlock()
			for _, p := range all {
				p.tail.finish(final[p.topic][p.partition])
			}
		}()
	}
	sem := make(chan struct{}, 4)
	if until != nil {
		sem = make(chan struct{}, len(all)) // all at once: each waits for the writer
	}
	for _, p := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			err := r.readRange(ctx, p.topic, p.partitionRange, p.tail, func(batch []Record, errs []error) error {
				mu.Lock()
				defer mu.Unlock()
				if first != nil {
					return first
				}
				for i, rec := range batch {
					if errs[i] != nil {
						if bad != nil {
							bad(rec, errs[i])
						}
						continue
					}
					if err := fn(rec); err != nil {
						return err
					}
					count++
				}
				return nil
			})
			if err != nil {
				fail(err)
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return count, nil, first
	}
	return count, ends, nil
}

// tailState is what the reader of a partition still being written and the goroutine that
// learns its final end share. Each side stores its own value before it reads the other's, so
// at least one of them sees that the reader has read to the end: the reader stops by itself,
// or is stopped (while it waits for a record that will not come).
type tailState struct {
	end     atomic.Int64 // the final end; MaxInt64 until known
	last    atomic.Int64 // the offset of the last record read
	stopped atomic.Bool  // stop was called because everything was read
	ctx     context.Context
	stop    context.CancelFunc // ends ctx, the reader's
}

func newTailState(ctx context.Context, first int64) *tailState {
	t := &tailState{}
	t.ctx, t.stop = context.WithCancel(ctx)
	t.end.Store(math.MaxInt64)
	t.last.Store(first - 1)
	return t
}

// finish records the final end, stopping the reader if it has read everything before it.
func (t *tailState) finish(end int64) {
	t.end.Store(end)
	if t.last.Load() >= end-1 {
		t.stopped.Store(true)
		t.stop()
	}
}

// read records offset as read and reports whether it is the last one.
func (t *tailState) read(offset int64) bool {
	t.last.Store(offset)
	return offset >= t.end.Load()-1
}

// readRange reads one partition's [first, end) and hands decoded records to deliver in batches.
func (r *TopicReader) readRange(ctx context.Context, topic string, pr partitionRange, tail *tailState, deliver func([]Record, []error) error) error {
	maxBytes := 8 << 20
	if tail != nil {
		maxBytes = 1 << 20 // records arrive a batch at a time, on every partition at once
		ctx = tail.ctx
		defer tail.stop()
	}
	rd := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:   r.cfg.Brokers,
		Topic:     topic,
		Partition: pr.partition,
		MinBytes:  1,
		MaxBytes:  maxBytes,
		MaxWait:   250 * time.Millisecond,
		Dialer:    &kafkago.Dialer{Timeout: r.cfg.DialTimeout, ClientID: r.cfg.ClientID},
	})
	defer rd.Close()
	if err := rd.SetOffset(pr.first); err != nil {
		return fmt.Errorf("seek %s/%d to %d: %w", topic, pr.partition, pr.first, err)
	}
	const batchSize = 512
	batch := make([]Record, 0, batchSize)
	errs := make([]error, 0, batchSize)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := deliver(batch, errs)
		batch, errs = batch[:0], errs[:0]
		return err
	}
	var failing time.Time // since when reading fails; zero while it works
	for {
		m, err := rd.ReadMessage(ctx)
		if err != nil {
			// kafka-go's reader goes on reconnecting by itself after it reported an error: wait
			// for it while the brokers cannot be reached (a restart), up to cfg.RetryTimeout.
			if tail != nil && tail.stopped.Load() {
				return flush() // read to the final end; stopped while waiting for more
			}
			if failing.IsZero() {
				failing = time.Now()
			}
			if ctx.Err() == nil && worthWaiting(err) && time.Since(failing) < r.cfg.RetryTimeout {
				r.log.WithFields(logrus.Fields{"topic": topic, "partition": pr.partition, "err": oneLine(err)}).
					Warn("reading a partition failed, retrying")
				continue
			}
			return errors.Join(fmt.Errorf("read %s/%d: %w", topic, pr.partition, err), flush())
		}
		failing = time.Time{}
		rec := Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Time: m.Time}
		msg, derr := schemas.DecodeShared(m.Value)
		if derr == nil && msg.Topic() != topic {
			derr = fmt.Errorf("a %s message does not belong on %s", msg.SchemaName(), topic)
		}
		rec.Message = msg
		batch = append(batch, rec)
		errs = append(errs, derr)
		if len(batch) == batchSize {
			if err := flush(); err != nil {
				return err
			}
		}
		// The end offset was read when the call began; anything at or past it is newer. (A
		// compacted topic keeps the last offset of a partition: compaction never touches the
		// active segment.)
		if tail != nil {
			if tail.read(m.Offset) {
				return flush()
			}
			if rd.Lag() <= 0 { // caught up with the writer: hand over what waits, then wait
				if err := flush(); err != nil {
					return err
				}
			}
		} else if m.Offset >= pr.end-1 {
			return flush()
		}
	}
}

// LastBlocks returns the latest message of each of the n highest heights on the blocks topic,
// ascending (chain.BlockLog and replay.BlockLog). It reads only the tail of every partition:
// the last n+64 offsets, enough unless that many re-publications of other heights followed.
func (r *TopicReader) LastBlocks(ctx context.Context, n int) ([]schemas.Block, error) {
	rs, err := r.ranges(ctx, schemas.TopicBlocks)
	if err != nil {
		return nil, err
	}
	latest := map[int64]schemas.Block{}
	for _, pr := range rs {
		if pr.end <= pr.first {
			continue
		}
		tail := pr
		tail.first = max(pr.first, pr.end-int64(n)-64)
		err := r.readRange(ctx, schemas.TopicBlocks, tail, nil, func(batch []Record, errs []error) error {
			for i, rec := range batch {
				if errs[i] != nil {
					continue // a bad message was dead-lettered by its consumer; it is no block
				}
				if b, ok := asBlock(rec.Message); ok {
					latest[b.Height] = b
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	out := make([]schemas.Block, 0, len(latest))
	for _, b := range latest {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Height < out[j].Height })
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out, nil
}

func asBlock(m schemas.Message) (schemas.Block, bool) {
	switch b := m.(type) {
	case *schemas.Block:
		return *b, true
	case schemas.Block:
		return b, true
	}
	return schemas.Block{}, false
}

// CommittedTotal returns the sum over topic's partitions of the offsets group has committed
// (partitions without a commit count 0): for a topic that started empty, the number of
// messages the group has consumed and committed. For tests and lag reports.
func (r *TopicReader) CommittedTotal(ctx context.Context, group, topic string) (int64, error) {
	rs, err := r.ranges(ctx, topic)
	if err != nil {
		return 0, err
	}
	parts := make([]int, len(rs))
	for i, pr := range rs {
		parts[i] = pr.partition
	}
	resp, err := r.client.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return 0, fmt.Errorf("fetch the offsets of group %s on %s: %w", group, topic, err)
	}
	if resp.Error != nil {
		return 0, fmt.Errorf("fetch the offsets of group %s on %s: %w", group, topic, resp.Error)
	}
	var total int64
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			return 0, fmt.Errorf("fetch the offset of group %s on %s/%d: %w", group, topic, p.Partition, p.Error)
		}
		if p.CommittedOffset > 0 {
			total += p.CommittedOffset
		}
	}
	return total, nil
}

// EndTotal returns the sum of the end offsets of every partition of the topics: for topics that
// started empty, how many messages were ever written to them.
func (r *TopicReader) EndTotal(ctx context.Context, topics []string) (int64, error) {
	var total int64
	for _, t := range topics {
		rs, err := r.ranges(ctx, t)
		if err != nil {
			return 0, err
		}
		for _, pr := range rs {
			total += pr.end
		}
	}
	return total, nil
}

// Partitions returns the partition ids of each topic, sorted.
func (r *TopicReader) Partitions(ctx context.Context, topics []string) (map[string][]int, error) {
	out := make(map[string][]int, len(topics))
	for _, t := range topics {
		rs, err := r.ranges(ctx, t)
		if err != nil {
			return nil, err
		}
		for _, pr := range rs {
			out[t] = append(out[t], pr.partition)
		}
		sort.Ints(out[t])
	}
	return out, nil
}

// Ends returns the end offset of every partition of the topics (the offset the next record
// will have).
func (r *TopicReader) Ends(ctx context.Context, topics []string) (map[string]map[int]int64, error) {
	out := make(map[string]map[int]int64, len(topics))
	for _, t := range topics {
		rs, err := r.ranges(ctx, t)
		if err != nil {
			return nil, err
		}
		out[t] = make(map[int]int64, len(rs))
		for _, pr := range rs {
			out[t][pr.partition] = pr.end
		}
	}
	return out, nil
}

// CommitOutsideGroup commits offsets (topic → partition → the next offset to read) for group
// without joining it, as `kafka-consumer-groups --reset-offsets` does: the broker accepts it
// only while the group has no active member (a member's generation owns the commits then), and
// refuses it otherwise.
func (r *TopicReader) CommitOutsideGroup(ctx context.Context, group string, offsets map[string]map[int]int64) error {
	commits := map[string][]kafkago.OffsetCommit{}
	for topic, parts := range offsets {
		for p, off := range parts {
			commits[topic] = append(commits[topic], kafkago.OffsetCommit{Partition: p, Offset: off})
		}
	}
	resp, err := r.client.OffsetCommit(ctx, &kafkago.OffsetCommitRequest{GroupID: group, GenerationID: -1, Topics: commits})
	if err != nil {
		return fmt.Errorf("commit the offsets of group %s: %w", group, err)
	}
	for topic, parts := range resp.Topics {
		for _, p := range parts {
			if p.Error != nil {
				return fmt.Errorf("commit the offset of group %s on %s/%d: %w", group, topic, p.Partition, p.Error)
			}
		}
	}
	return nil
}
