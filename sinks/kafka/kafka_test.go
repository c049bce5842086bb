package kafka

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	kafkago "github.com/segmentio/kafka-go"
)

// committedOffsets returns the offsets group committed on topic, by partition.
func committedOffsets(t *testing.T, cfg Config, group, topic string) map[int]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr := newTransport(cfg)
	defer tr.CloseIdleConnections()
	c := &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Transport: tr}
	parts, err := topicPartitions(ctx, c, []string{topic})
	if err != nil {
		t.Fatal(err)
	}
	var ps []int
	for p := 0; p < parts[topic]; p++ {
		ps = append(ps, p)
	}
	resp, err := c.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ps}})
	if err != nil {
		t.Fatalf("fetch offsets of group %s: %v", group, err)
	}
	if resp.Error != nil {
		t.Fatalf("fetch offsets of group %s: %v", group, resp.Error)
	}
	out := map[int]int64{}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("fetch offset of group %s on %s/%d: %v", group, topic, p.Partition, p.Error)
		}
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

// deadLettersTo returns a dead-letter writer on a topic of the test's own.
func deadLettersTo(t *testing.T, cfg Config, group string) *DeadLetters {
	t.Helper()
	topic := newTestTopic(t, cfg, "dlq", 1)
	return NewDeadLetters(newTestWriter(t, cfg), topic, group)
}

func TestEveryMessageTypeRoundTripsKeyedThroughAGroupAndIsCommitted(t *testing.T) {
	cfg := testConfig(t)
	msgs := sampleMessages(t)
	start := map[string]map[int]int64{}
	var topics []string
	for _, m := range msgs {
		start[m.Topic()] = endOffsets(t, cfg, m.Topic())
		topics = append(topics, m.Topic())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := newTestWriter(t, cfg).Publish(ctx, msgs...); err != nil {
		t.Fatalf("publish: %v", err)
	}

	group := uniqueName(t, "group")
	startGroupAt(t, cfg, group, start)
	var mu sync.Mutex
	got := map[string]Record{}
	rc := startConsumer(t, cfg, ConsumerConfig{Group: group, Topics: topics, DeadLetters: deadLettersTo(t, cfg, group)},
		func(_ context.Context, r Record) error {
			if fresh(start, r.Topic, r.Partition, r.Offset) {
				mu.Lock()
				got[r.Message.SchemaName()] = r
				mu.Unlock()
			}
			return nil
		})
	waitFor(t, 20*time.Second, "every message type to come back", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == len(msgs)
	})
	if err := rc.stop(t); err != nil {
		t.Fatalf("consumer run: %v", err)
	}

	for _, m := range msgs {
		r, ok := got[m.SchemaName()]
		if !ok {
			t.Errorf("%s did not come back", m.SchemaName())
			continue
		}
		want, err := schemas.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		if r.Topic != m.Topic() {
			t.Errorf("%s came back on topic %s, want %s", m.SchemaName(), r.Topic, m.Topic())
		}
		if string(r.Key) != m.Key() {
			t.Errorf("%s came back with key %q, want %q", m.SchemaName(), r.Key, m.Key())
		}
		if !bytes.Equal(r.Value, want) {
			t.Errorf("%s came back with value\n%s\nwant\n%s", m.SchemaName(), r.Value, want)
		}
		if reflect.TypeOf(r.Message) != reflect.TypeOf(m) {
			t.Errorf("%s decoded as %T, want %T", m.SchemaName(), r.Message, m)
		}
		if again, err := schemas.Encode(r.Message); err != nil || !bytes.Equal(again, want) {
			t.Errorf("%s decoded to a different message: %s (err %v)", m.SchemaName(), again, err)
		}
		if r.Time.IsZero() {
			t.Errorf("%s came back without a broker timestamp", m.SchemaName())
		}
		// The group committed past the record: a restart does not read it again.
		if off := committedOffsets(t, cfg, group, r.Topic)[r.Partition]; off <= r.Offset {
			t.Errorf("%s at %s/%d/%d: group committed offset %d, want > %d", m.SchemaName(), r.Topic, r.Partition, r.Offset, off, r.Offset)
		}
	}
}

func TestRestartedConsumerResumesAfterLastCommitAndGetsUncommittedAgain(t *testing.T) {
	cfg := testConfig(t)
	topic := schemas.TopicPoolStats
	start := map[string]map[int]int64{topic: endOffsets(t, cfg, topic)}
	w := newTestWriter(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	stats := func(from, n int) []schemas.Message {
		var out []schemas.Message
		for i := from; i < from+n; i++ {
			hr := float64(i) * 1e18
			out = append(out, &schemas.PoolStats{Pool: fmt.Sprintf("pool%d", i), Time: sampleTime.Truncate(24 * time.Hour), IntervalSeconds: 86400, HashrateHS: &hr, Source: "test"})
		}
		return out
	}
	if err := w.Publish(ctx, stats(0, 20)...); err != nil {
		t.Fatal(err)
	}

	group := uniqueName(t, "group")
	startGroupAt(t, cfg, group, start)
	dlq := deadLettersTo(t, cfg, group)
	cc := ConsumerConfig{Group: group, Topics: []string{topic}, DeadLetters: dlq, MaxAttempts: 1, CommitEvery: 3}

	// First member: handles records until the 12th of ours, on which the handler fails; Run
	// gives up (MaxAttempts 1) and commits what was handled before.
	var mu sync.Mutex
	first := map[string]bool{}
	rc := startConsumer(t, cfg, cc, func(_ context.Context, r Record) error {
		if !fresh(start, r.Topic, r.Partition, r.Offset) {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		if len(first) == 11 {
			return errTest
		}
		first[string(r.Key)] = true
		return nil
	})
	if err := rc.wait(t, 20*time.Second); !errors.Is(err, errTest) {
		t.Fatalf("first run returned %v, want the handler's error", err)
	}
	if len(first) != 11 {
		t.Fatalf("first run handled %d records, want 11", len(first))
	}

	// Second member of the same group: gets exactly the 9 records the first did not handle
	// (including the one that failed), then a record published while it runs.
	var second []string
	var dup []string
	marker := stats(100, 1)
	rc = startConsumer(t, cfg, cc, func(_ context.Context, r Record) error {
		if !fresh(start, r.Topic, r.Partition, r.Offset) {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		if first[string(r.Key)] {
			dup = append(dup, string(r.Key))
		}
		second = append(second, string(r.Key))
		return nil
	})
	waitFor(t, 20*time.Second, "the 9 uncommitted records", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(second) >= 9
	})
	if err := w.Publish(ctx, marker...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the record published during the run", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(second) >= 10 && second[len(second)-1] == marker[0].Key()
	})
	if err := rc.stop(t); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if len(dup) > 0 {
		t.Errorf("second run re-read committed records %v", dup)
	}
	if len(second) != 10 {
		t.Errorf("second run handled %d records %v, want 9 + 1", len(second), second)
	}
	all := map[string]bool{}
	for k := range first {
		all[k] = true
	}
	for _, k := range second {
		all[k] = true
	}
	if len(all) != 21 {
		t.Errorf("the two runs handled %d distinct records, want all 21", len(all))
	}

	// Third member after a clean stop: nothing of ours is left to read but a new record.
	var third []string
	marker = stats(200, 1)
	rc = startConsumer(t, cfg, cc, func(_ context.Context, r Record) error {
		if fresh(start, r.Topic, r.Partition, r.Offset) {
			mu.Lock()
			third = append(third, string(r.Key))
			mu.Unlock()
		}
		return nil
	})
	if err := w.Publish(ctx, marker...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the new record", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(third) > 0
	})
	if err := rc.stop(t); err != nil {
		t.Fatalf("third run: %v", err)
	}
	if len(third) != 1 || third[0] != marker[0].Key() {
		t.Errorf("third run read %v, want only %s", third, marker[0].Key())
	}
}

func TestBadRecordsGoToTheDeadLetterTopicAndTheConsumerGoesOn(t *testing.T) {
	cfg := testConfig(t)
	topic := schemas.TopicGrid
	start := map[string]map[int]int64{topic: endOffsets(t, cfg, topic)}
	good := sampleMessages(t)[3].(*schemas.GridObservation)
	goodJSON, err := schemas.Encode(good)
	if err != nil {
		t.Fatal(err)
	}
	invalid := bytes.Replace(goodJSON, []byte(`"country":"US"`), []byte(`"country":"usa"`), 1)
	otherTopic, err := schemas.Encode(sampleMessages(t)[2]) // a PoolStats message, valid, on the grid topic
	if err != nil {
		t.Fatal(err)
	}
	// One key, so all land on one partition in this order.
	key := []byte(uniqueName(t, "key"))
	bad := []struct {
		value  []byte
		stage  string
		reason string
	}{
		{[]byte(`{"schema":"hashatlas.grid.v1","region":`), schemas.StageDecode, "decode hashatlas.grid.v1"},
		{[]byte("\x00\x01 not json"), schemas.StageDecode, "decode"},
		{invalid, schemas.StageValidate, "field country"},
		{otherTopic, schemas.StageValidate, "belongs on topic " + schemas.TopicPoolStats},
	}
	var msgs []Message
	for _, b := range bad {
		msgs = append(msgs, Message{Topic: topic, Key: key, Value: b.value})
	}
	msgs = append(msgs, Message{Topic: topic, Key: key, Value: goodJSON})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := newTestWriter(t, cfg).WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}

	group := uniqueName(t, "group")
	startGroupAt(t, cfg, group, start)
	dlq := deadLettersTo(t, cfg, group)
	var mu sync.Mutex
	var handled []Record
	rc := startConsumer(t, cfg, ConsumerConfig{Group: group, Topics: []string{topic}, DeadLetters: dlq},
		func(_ context.Context, r Record) error {
			if fresh(start, r.Topic, r.Partition, r.Offset) {
				mu.Lock()
				handled = append(handled, r)
				mu.Unlock()
			}
			return nil
		})
	waitFor(t, 20*time.Second, "the good record after the bad ones", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(handled) > 0
	})
	if err := rc.stop(t); err != nil {
		t.Fatalf("consumer run: %v", err)
	}
	if len(handled) != 1 || !bytes.Equal(handled[0].Value, goodJSON) {
		t.Fatalf("handler got %d records, want only the good one", len(handled))
	}
	goodRec := handled[0]

	letters := readDeadLetters(t, cfg, dlq.Topic(), len(bad), func(dl *schemas.DeadLetter) bool {
		return dl.OriginalTopic == topic && fresh(start, topic, int(dl.Partition), dl.Offset)
	})
	for i, dl := range letters {
		b := bad[i]
		if dl.Stage != b.stage {
			t.Errorf("dead letter %d: stage %q, want %q (reason %q)", i, dl.Stage, b.stage, dl.Reason)
		}
		if !strings.Contains(dl.Reason, b.reason) {
			t.Errorf("dead letter %d: reason %q does not say %q", i, dl.Reason, b.reason)
		}
		if !bytes.Equal(dl.OriginalValue, b.value) || !bytes.Equal(dl.OriginalKey, key) {
			t.Errorf("dead letter %d: original bytes %q / %q, want %q / %q", i, dl.OriginalKey, dl.OriginalValue, key, b.value)
		}
		if int(dl.Partition) != goodRec.Partition || dl.Offset != goodRec.Offset-int64(len(bad)-i) {
			t.Errorf("dead letter %d: at %s/%d/%d, want %s/%d/%d", i, dl.OriginalTopic, dl.Partition, dl.Offset, topic, goodRec.Partition, goodRec.Offset-int64(len(bad)-i))
		}
		if dl.ConsumerGroup != group || dl.FailedAt.IsZero() {
			t.Errorf("dead letter %d: group %q failed_at %v, want group %q and a time", i, dl.ConsumerGroup, dl.FailedAt, group)
		}
	}
	if off := committedOffsets(t, cfg, group, topic)[goodRec.Partition]; off != goodRec.Offset+1 {
		t.Errorf("committed offset %d, want %d (past the bad records and the good one)", off, goodRec.Offset+1)
	}
}

func TestFailedDeadLetterWriteStopsTheConsumerWithoutCommittingPastTheRecord(t *testing.T) {
	cfg := testConfig(t)
	topic := newTestTopic(t, cfg, "in", 1)
	w := newTestWriter(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	good, err := schemas.Encode(sampleMessages(t)[0])
	if err != nil {
		t.Fatal(err)
	}
	// Records of a topic of the test's own are all refused (their schema belongs elsewhere):
	// the first is "undecodable", the second "on the wrong topic".
	if err := w.WriteMessages(ctx, Message{Topic: topic, Key: []byte("a"), Value: []byte("garbage")}, Message{Topic: topic, Key: []byte("b"), Value: good}); err != nil {
		t.Fatal(err)
	}
	group := uniqueName(t, "group")
	missing := uniqueName(t, "missing-dlq") // never created
	cc := ConsumerConfig{Group: group, Topics: []string{topic}, DeadLetters: NewDeadLetters(w, missing, group)}
	rc := startConsumer(t, cfg, cc, func(context.Context, Record) error { return nil })
	err = rc.wait(t, 20*time.Second)
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), topic+"/0/0") {
		t.Fatalf("run returned %v, want a dead-letter write error naming %s and the record %s/0/0", err, missing, topic)
	}
	if off, ok := committedOffsets(t, cfg, group, topic)[0]; ok && off > 0 {
		t.Fatalf("group committed offset %d past the record whose dead letter failed", off)
	}

	// With a working dead-letter topic the same group starts again at that record.
	cc.DeadLetters = deadLettersTo(t, cfg, group)
	rc = startConsumer(t, cfg, cc, func(context.Context, Record) error { return nil })
	letters := readDeadLetters(t, cfg, cc.DeadLetters.Topic(), 2, func(*schemas.DeadLetter) bool { return true })
	if err := rc.stop(t); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if letters[0].Offset != 0 || letters[0].Stage != schemas.StageDecode || letters[1].Offset != 1 || letters[1].Stage != schemas.StageValidate {
		t.Errorf("dead letters at offsets %d (%s), %d (%s), want 0 (decode), 1 (validate)", letters[0].Offset, letters[0].Stage, letters[1].Offset, letters[1].Stage)
	}
	if off := committedOffsets(t, cfg, group, topic)[0]; off != 2 {
		t.Errorf("committed offset %d, want 2", off)
	}
}

func TestPermanentHandlerErrorIsDeadLetteredAndRetryableOneRetried(t *testing.T) {
	cfg := testConfig(t)
	topic := schemas.TopicEstimates
	start := map[string]map[int]int64{topic: endOffsets(t, cfg, topic)}
	est := sampleMessages(t)[4].(*schemas.Estimate)
	est2 := *est
	est2.ModelVersion = "m2"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := newTestWriter(t, cfg).Publish(ctx, est, &est2); err != nil {
		t.Fatal(err)
	}
	group := uniqueName(t, "group")
	startGroupAt(t, cfg, group, start)
	dlq := deadLettersTo(t, cfg, group)
	reg := prometheus.NewRegistry()
	var mu sync.Mutex
	calls := map[string]int{}
	c, err := NewConsumer(cfg, ConsumerConfig{Group: group, Topics: []string{topic}, DeadLetters: dlq, RetryBackoffMin: time.Millisecond, RetryBackoffMax: 5 * time.Millisecond}, testLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- c.Run(runCtx, func(_ context.Context, r Record) error {
			if !fresh(start, r.Topic, r.Partition, r.Offset) {
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			calls[string(r.Key)]++
			switch {
			case string(r.Key) == est.Key():
				return Permanent(errors.New("contradicts state"))
			case calls[string(r.Key)] < 3:
				return errTest // retried
			}
			return nil
		})
	}()
	letters := readDeadLetters(t, cfg, dlq.Topic(), 1, func(dl *schemas.DeadLetter) bool { return dl.OriginalTopic == topic })
	waitFor(t, 20*time.Second, "the retried record to succeed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return calls[est2.Key()] == 3
	})
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if letters[0].Stage != schemas.StageProcess || letters[0].Reason != "contradicts state" || string(letters[0].OriginalKey) != est.Key() {
		t.Errorf("dead letter %+v, want stage process, reason 'contradicts state', key %s", letters[0], est.Key())
	}
	if calls[est.Key()] != 1 {
		t.Errorf("permanently failing record handled %d times, want 1", calls[est.Key()])
	}
	if n := testutil.ToFloat64(c.metrics.retries.WithLabelValues(group, topic)); n != 2 {
		t.Errorf("retries counted %v, want 2", n)
	}
	if n := testutil.ToFloat64(c.metrics.deadLetters.WithLabelValues(group, topic, schemas.StageProcess)); n != 1 {
		t.Errorf("dead letters counted %v, want 1", n)
	}
}

func TestWriterErrorNamesTopicAndCountAndMetricsCount(t *testing.T) {
	cfg := testConfig(t)
	reg := prometheus.NewRegistry()
	w, err := NewWriter(cfg, testLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	topic := newTestTopic(t, cfg, "ok", 3)
	msgs := []Message{{Topic: topic, Key: []byte("k1"), Value: []byte("v1")}, {Topic: topic, Key: []byte("k2"), Value: []byte("value2")}}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("write: %v", err)
	}
	if n := testutil.ToFloat64(w.metrics.messages.WithLabelValues(topic)); n != 2 {
		t.Errorf("messages written %v, want 2", n)
	}
	if n := testutil.ToFloat64(w.metrics.bytes.WithLabelValues(topic)); n != 2+2+2+6 {
		t.Errorf("bytes written %v, want 12", n)
	}

	missing := uniqueName(t, "missing")
	err = w.WriteMessages(ctx, Message{Topic: missing, Value: []byte("x")}, Message{Topic: missing, Value: []byte("y")}, Message{Topic: missing, Value: []byte("z")})
	if err == nil {
		t.Fatal("write to a topic that does not exist succeeded (was it auto-created?)")
	}
	if !strings.Contains(err.Error(), "write 3 messages to "+missing) {
		t.Errorf("error %q does not name the count and topic", err)
	}
	if !errors.Is(err, kafkago.UnknownTopicOrPartition) {
		t.Errorf("error %q does not wrap unknown topic or partition", err)
	}
	if n := testutil.ToFloat64(w.metrics.errors.WithLabelValues(missing)); n != 3 {
		t.Errorf("write errors counted %v, want 3", n)
	}

	if err := w.Publish(ctx, &schemas.Block{Height: -1}); err == nil || !strings.Contains(err.Error(), "encode message 0 (hashatlas.block.v1") {
		t.Errorf("publishing an invalid block: %v, want an encode error naming it", err)
	}
}

func TestSameKeyLandsOnSamePartition(t *testing.T) {
	cfg := testConfig(t)
	topic := newTestTopic(t, cfg, "keys", 6)
	w := newTestWriter(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var msgs []Message
	for i := 0; i < 60; i++ {
		msgs = append(msgs, Message{Topic: topic, Key: []byte(fmt.Sprintf("key-%d", i%6)), Value: []byte{byte(i)}})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	where := map[string]map[int]bool{}
	n := 0
	// Read each partition directly (the values are not schema messages).
	for p := 0; p < 6; p++ {
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: cfg.Brokers, Topic: topic, Partition: p, MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 50 * time.Millisecond})
		end := endOffsets(t, cfg, topic)[p]
		for off := int64(0); off < end; off++ {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if where[string(m.Key)] == nil {
				where[string(m.Key)] = map[int]bool{}
			}
			where[string(m.Key)][m.Partition] = true
			n++
		}
		r.Close()
	}
	if n != 120 {
		t.Errorf("read %d messages, want 120", n)
	}
	for k, ps := range where {
		if len(ps) != 1 {
			t.Errorf("key %s landed on partitions %v, want one", k, ps)
		}
	}
}

func TestEnsureTopicsCreatesDeclaredConfigsAndIsIdempotent(t *testing.T) {
	cfg := testConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	compacted := schemas.TopicSpec{Name: uniqueName(t, "compacted"), Partitions: 4, Compacted: true, Retention: schemas.RetentionForever}
	deleted := schemas.TopicSpec{Name: uniqueName(t, "deleted"), Partitions: 2, Retention: 72 * time.Hour}
	specs := []schemas.TopicSpec{compacted, deleted}
	if err := EnsureTopics(ctx, cfg, specs); err != nil {
		t.Fatalf("first EnsureTopics: %v", err)
	}
	deleteTopicAtEnd(t, cfg, compacted.Name)
	deleteTopicAtEnd(t, cfg, deleted.Name)
	if err := EnsureTopics(ctx, cfg, specs); err != nil {
		t.Fatalf("second EnsureTopics (must be a no-op): %v", err)
	}

	tr := newTransport(cfg)
	defer tr.CloseIdleConnections()
	client := &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Transport: tr}
	parts, err := topicPartitions(ctx, client, []string{compacted.Name, deleted.Name})
	if err != nil {
		t.Fatal(err)
	}
	if parts[compacted.Name] != 4 || parts[deleted.Name] != 2 {
		t.Errorf("partitions %v, want 4 and 2", parts)
	}
	// Read the configs back with a DescribeConfigs request.
	resp, err := client.DescribeConfigs(ctx, &kafkago.DescribeConfigsRequest{Resources: []kafkago.DescribeConfigRequestResource{
		{ResourceType: kafkago.ResourceTypeTopic, ResourceName: compacted.Name},
		{ResourceType: kafkago.ResourceTypeTopic, ResourceName: deleted.Name},
	}})
	if err != nil {
		t.Fatalf("describe configs: %v", err)
	}
	got := map[string]map[string]string{}
	for _, r := range resp.Resources {
		if r.Error != nil {
			t.Fatalf("describe %s: %v", r.ResourceName, r.Error)
		}
		got[r.ResourceName] = map[string]string{}
		for _, e := range r.ConfigEntries {
			got[r.ResourceName][e.ConfigName] = e.ConfigValue
		}
	}
	for _, c := range []struct{ topic, key, want string }{
		{compacted.Name, "cleanup.policy", "compact"},
		{compacted.Name, "retention.ms", "-1"},
		{deleted.Name, "cleanup.policy", "delete"},
		{deleted.Name, "retention.ms", "259200000"},
	} {
		if v := got[c.topic][c.key]; v != c.want {
			t.Errorf("%s: %s=%q, want %q", c.topic, c.key, v, c.want)
		}
	}

	// A declared partition count that differs from the topic's is reported, not applied.
	wrong := compacted
	wrong.Partitions = 8
	err = EnsureTopics(ctx, cfg, []schemas.TopicSpec{wrong, deleted})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("topic %s has 4 partitions, declared 8", compacted.Name)) {
		t.Errorf("EnsureTopics with 8 declared partitions: %v, want a mismatch error", err)
	}
	// So is a different cleanup policy.
	wrong = deleted
	wrong.Compacted = true
	err = EnsureTopics(ctx, cfg, []schemas.TopicSpec{wrong})
	if err == nil || !strings.Contains(err.Error(), "cleanup.policy=delete, declared compact") {
		t.Errorf("EnsureTopics with a compacted spec for a delete topic: %v, want a policy mismatch error", err)
	}
}

func TestTopicConfigsSetMinInsyncReplicasOnlyWhenReplicated(t *testing.T) {
	spec := schemas.TopicSpec{Name: "x", Partitions: 1, Compacted: true, Retention: schemas.RetentionForever}
	for _, c := range []struct {
		replication int
		want        string
	}{{1, ""}, {2, "1"}, {3, "2"}, {5, "2"}} {
		got := TopicConfigs(spec, c.replication)["min.insync.replicas"]
		if got != c.want {
			t.Errorf("replication %d: min.insync.replicas=%q, want %q", c.replication, got, c.want)
		}
	}
}

func TestPing(t *testing.T) {
	cfg := testConfig(t)
	ctx := context.Background()
	if err := Ping(ctx, cfg); err != nil {
		t.Fatalf("ping the test broker: %v", err)
	}

	// A closed loopback port: nothing listens there.
	e, err := StartEmbedded(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	dead := e.Addr()
	e.Close()
	bad := cfg
	bad.Brokers = []string{dead}
	err = Ping(ctx, bad)
	if err == nil {
		t.Fatal("ping of a closed port succeeded")
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, dead) || !strings.Contains(msg, "--kafka.brokers / HASHATLAS_KAFKA_BROKERS") {
		t.Errorf("ping error %q: want one line naming %s and the flag", msg, dead)
	}

	// One dead broker among live ones is fine: clients bootstrap from any.
	bad.Brokers = []string{dead, cfg.Brokers[0]}
	if err := Ping(ctx, bad); err != nil {
		t.Errorf("ping with one reachable broker: %v", err)
	}
}

func TestEmbeddedBrokerDoesNotAutoCreateTopics(t *testing.T) {
	e, err := StartEmbedded(0, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cfg := DefaultConfig()
	cfg.Brokers = []string{e.Addr()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w := newTestWriter(t, cfg)
	err = w.Publish(ctx, sampleMessages(t)[0])
	if !errors.Is(err, kafkago.UnknownTopicOrPartition) {
		t.Fatalf("publish before EnsureTopics: %v, want unknown topic or partition", err)
	}
	if err := EnsureTopics(ctx, cfg, schemas.Topics()); err != nil {
		t.Fatal(err)
	}
	w = newTestWriter(t, cfg) // a new writer: the first cached "unknown topic"
	if err := w.Publish(ctx, sampleMessages(t)[0]); err != nil {
		t.Fatalf("publish after EnsureTopics: %v", err)
	}
	e.Close()
	e.Close() // idempotent
}

func TestHandledRecordsAreCommittedByTimeWhileRunning(t *testing.T) {
	cfg := testConfig(t)
	topic := schemas.TopicDifficulty
	start := map[string]map[int]int64{topic: endOffsets(t, cfg, topic)}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := newTestWriter(t, cfg).Publish(ctx, sampleMessages(t)[1]); err != nil {
		t.Fatal(err)
	}
	group := uniqueName(t, "group")
	startGroupAt(t, cfg, group, start)
	var mu sync.Mutex
	var last *Record
	rc := startConsumer(t, cfg, ConsumerConfig{Group: group, Topics: []string{topic}, DeadLetters: deadLettersTo(t, cfg, group), CommitEvery: 1000, CommitInterval: 50 * time.Millisecond},
		func(_ context.Context, r Record) error {
			if fresh(start, r.Topic, r.Partition, r.Offset) {
				mu.Lock()
				last = &r
				mu.Unlock()
			}
			return nil
		})
	waitFor(t, 20*time.Second, "the record", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return last != nil
	})
	mu.Lock()
	rec := *last
	mu.Unlock()
	waitFor(t, 5*time.Second, "a commit by time, with the consumer still running", func() bool {
		return committedOffsets(t, cfg, group, topic)[rec.Partition] == rec.Offset+1
	})
	if err := rc.stop(t); err != nil {
		t.Fatal(err)
	}
}

func TestBeforeCommitFailureKeepsOffsetsUncommittedUntilItSucceeds(t *testing.T) {
	cfg := testConfig(t)
	topic := schemas.TopicDifficulty
	start := map[string]map[int]int64{topic: endOffsets(t, cfg, topic)}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := newTestWriter(t, cfg).Publish(ctx, sampleMessages(t)[1]); err != nil {
		t.Fatal(err)
	}
	group := uniqueName(t, "group")
	startGroupAt(t, cfg, group, start)
	var mu sync.Mutex
	var last *Record
	durable := false // what BeforeCommit would flush: fails until the test allows it
	calls := 0
	rc := startConsumer(t, cfg, ConsumerConfig{
		Group: group, Topics: []string{topic}, DeadLetters: deadLettersTo(t, cfg, group), CommitInterval: 50 * time.Millisecond,
		BeforeCommit: func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if !durable {
				return errors.New("store unavailable")
			}
			return nil
		},
	}, func(_ context.Context, r Record) error {
		if fresh(start, r.Topic, r.Partition, r.Offset) {
			mu.Lock()
			last = &r
			mu.Unlock()
		}
		return nil
	})
	waitFor(t, 20*time.Second, "the record and two refused commits", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return last != nil && calls >= 2
	})
	mu.Lock()
	rec := *last
	mu.Unlock()
	if got := committedOffsets(t, cfg, group, topic)[rec.Partition]; got == rec.Offset+1 {
		t.Fatal("the offset was committed although BeforeCommit failed")
	}
	mu.Lock()
	durable = true
	mu.Unlock()
	waitFor(t, 5*time.Second, "the commit once BeforeCommit succeeds", func() bool {
		return committedOffsets(t, cfg, group, topic)[rec.Partition] == rec.Offset+1
	})
	if err := rc.stop(t); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentPublishersEachDeliverTheBytesTheyEncoded proves that Publish's reuse of its value
// buffers is safe: four goroutines publish ten rounds of distinct blocks each through one Writer
// (so every round after the first encodes into a buffer an earlier write used), and every record
// read back carries exactly the encoding of the block its key names.
func TestConcurrentPublishersEachDeliverTheBytesTheyEncoded(t *testing.T) {
	cfg := testConfig(t)
	start := map[string]map[int]int64{schemas.TopicBlocks: endOffsets(t, cfg, schemas.TopicBlocks)}
	w := newTestWriter(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const publishers, rounds, perRound = 4, 10, 200
	// Heights no other test uses, and whose header times (sampleBlock: ten minutes a block from
	// height 840,000 in April 2024) lie before now, which validation requires: at most 8,000
	// heights from 860,000 to 948,000, up to early 2026.
	base := 860_000 + time.Now().UnixNano()%10*8_000
	want := map[string][]byte{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				batch := make([]schemas.Message, perRound)
				for i := range batch {
					blk := sampleBlock(t, base+int64((p*rounds+r)*perRound+i))
					v, err := schemas.Encode(blk)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					want[blk.Key()] = v
					mu.Unlock()
					batch[i] = blk
				}
				if err := w.Publish(ctx, batch...); err != nil {
					t.Errorf("publisher %d round %d: %v", p, r, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	got := map[string][]byte{}
	group := uniqueName(t, "group")
	startGroupAt(t, cfg, group, start)
	rc := startConsumer(t, cfg, ConsumerConfig{Group: group, Topics: []string{schemas.TopicBlocks}},
		func(_ context.Context, r Record) error {
			if fresh(start, r.Topic, r.Partition, r.Offset) {
				mu.Lock()
				got[string(r.Key)] = r.Value
				mu.Unlock()
			}
			return nil
		})
	waitFor(t, 30*time.Second, "every published block to come back", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= len(want)
	})
	if err := rc.stop(t); err != nil {
		t.Fatalf("consumer run: %v", err)
	}
	if len(got) != publishers*rounds*perRound {
		t.Fatalf("read back %d distinct keys, published %d", len(got), publishers*rounds*perRound)
	}
	for k, v := range want {
		if !bytes.Equal(got[k], v) {
			t.Fatalf("key %s came back as\n%s\nwant\n%s", k, got[k], v)
		}
	}
}
