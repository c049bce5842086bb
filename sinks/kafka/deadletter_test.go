package kafka

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
	"github.com/prometheus/client_golang/prometheus/testutil"
	kafkago "github.com/segmentio/kafka-go"
)

// brokerDefaultMaxMessageBytes is Kafka's default message.max.bytes (1 MiB and a record-batch
// overhead of 12 bytes), which kfake takes over; a topic's max.message.bytes defaults to it.
const brokerDefaultMaxMessageBytes = 1048588

// oversizedValues returns the two records of issue 13 (case 2) that stopped a consumer for good:
// 920 KB of random bytes (undecodable, and incompressible, so that a letter carrying them whole
// is over the broker's limit compressed or not), and a 10 MB value that is JSON of a known
// schema with an unknown member (undecodable), which zstd makes small enough for the broker.
func oversizedValues() (v920K, v10M []byte) {
	v920K = make([]byte, 920<<10)
	_, _ = rand.NewChaCha8([32]byte{13}).Read(v920K)
	v10M = []byte(`{"schema":"hashatlas.grid.v1","notes":"`)
	for i := 0; len(v10M) < 10<<20; i++ {
		v10M = strconv.AppendInt(append(v10M, " grid note "...), int64(i%1000), 10)
	}
	return v920K, append(v10M, `"}`...)
}

// topicMaxMessageBytes returns the max.message.bytes the broker applies to topic.
func topicMaxMessageBytes(t *testing.T, cfg Config, topic string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr := newTransport(cfg)
	defer tr.CloseIdleConnections()
	c := &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Transport: tr}
	configs, err := describeTopicConfigs(ctx, c, []string{topic}, "max.message.bytes")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(configs[topic]["max.message.bytes"])
	if err != nil {
		t.Fatalf("max.message.bytes of %s: %q: %v", topic, configs[topic]["max.message.bytes"], err)
	}
	return n
}

// waitWhileRunning polls cond until it holds, failing at once if rc's Run returns first (it
// refused to go on) or after d.
func waitWhileRunning(t *testing.T, rc *runningConsumer, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(d)
	for !cond() {
		select {
		case err := <-rc.done:
			rc.cancel()
			rc.cancel = nil
			_ = rc.c.Close()
			t.Fatalf("consumer stopped while waiting for %s: %v", what, err)
		case <-deadline:
			t.Fatalf("timed out after %v waiting for %s", d, what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestOversizedRecordsAreDeadLetteredBoundedAndTheConsumerGoesOn is issue 13, case 2: a record
// of 920 KB that does not decode, and one of 10 MB produced zstd-compressed, used to make a dead
// letter carrying the whole value in base64 (1,256,409 and 13,981,369 bytes), which the broker
// (or kafka-go's own check, at its 1 MiB batch) refused with "[10] Message Size Too Large":
// the consumer stopped without committing, on every restart. Now each is dead-lettered with the
// first 4 KiB of its value, its size and SHA-256, the consumer commits past them, dead-letters
// the next record of the partition too, and handles a good record produced after all that.
//
// Two groups consume the same records: one with the consumer's own dead-letter writer (the
// defaults, onto schemas.TopicDLQ), one whose dead-letter writer's client admits batches of
// 16 MiB, so that only the broker's limit is in the way. The oversized records go to a topic of
// the test's own, deleted at the end, not to a standard topic that other tests read from its
// start: on a long-lived test broker every run would leave 11 MB there for them to read again.
func TestOversizedRecordsAreDeadLetteredBoundedAndTheConsumerGoesOn(t *testing.T) {
	cfg := testConfig(t)
	in := newTestTopic(t, cfg, "in", 1)
	v920K, v10M := oversizedValues()
	next := []byte(`{"schema":"hashatlas.grid.v1"`) // the record after them: truncated JSON
	values := [][]byte{v920K, v10M, next}

	bigCfg := cfg
	bigCfg.BatchBytes = 16 << 20
	zcfg := bigCfg
	zcfg.Compression = "zstd"
	plain, zstd := newTestWriter(t, cfg), newTestWriter(t, zcfg)
	key := []byte(uniqueName(t, "key"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i, w := range []*Writer{plain, zstd, plain} {
		if err := w.WriteMessages(ctx, Message{Topic: in, Key: key, Value: values[i]}); err != nil {
			t.Fatalf("produce a record of %d bytes: %v", len(values[i]), err)
		}
	}

	ownDLQ := newTestTopic(t, cfg, "dlq", 1)
	outer := t
	for _, run := range []struct {
		name string
		dlqT string
		dlq  func(group string) *DeadLetters // nil: the consumer's own
	}{
		{"the consumer's own dead-letter writer", schemas.TopicDLQ, nil},
		{"a dead-letter writer admitting 16 MiB batches", ownDLQ, func(group string) *DeadLetters {
			return NewDeadLetters(newTestWriter(t, bigCfg), ownDLQ, group)
		}},
	} {
		t.Run(run.name, func(t *testing.T) {
			if n := topicMaxMessageBytes(t, cfg, run.dlqT); n > brokerDefaultMaxMessageBytes {
				t.Fatalf("the broker admits messages of %d bytes on %s, more than the default %d: the test would prove nothing", n, run.dlqT, brokerDefaultMaxMessageBytes)
			}
			group := uniqueName(outer, "group") // the subtest's name is too long for a group
			cc := ConsumerConfig{Group: group, Topics: []string{in, schemas.TopicGrid}}
			if run.dlq != nil {
				cc.DeadLetters = run.dlq(group)
			}
			startGroupAtEnd(t, cfg, group, schemas.TopicGrid) // and at the start of in
			var mu sync.Mutex
			var handled []Record
			rc := startConsumer(t, cfg, cc, func(_ context.Context, rec Record) error {
				mu.Lock()
				handled = append(handled, rec)
				mu.Unlock()
				return nil
			})
			waitWhileRunning(t, rc, 30*time.Second, "the three records to be dead-lettered", func() bool {
				return testutil.ToFloat64(rc.c.metrics.deadLetters.WithLabelValues(group, in, schemas.StageDecode)) == 3
			})
			// Produced only now, so that handling it shows the consumer went on past them.
			good := sampleMessages(t)[3].(*schemas.GridObservation)
			good.Source = "after-oversized"
			if err := plain.Publish(ctx, good); err != nil {
				t.Fatal(err)
			}
			waitWhileRunning(t, rc, 30*time.Second, "the good record produced after them", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(handled) > 0
			})
			if err := rc.stop(t); err != nil {
				t.Fatalf("consumer run: %v", err)
			}
			if len(handled) != 1 || handled[0].Topic != schemas.TopicGrid || handled[0].Message.(*schemas.GridObservation).Source != good.Source {
				t.Fatalf("handler got %d records, want only the good one", len(handled))
			}

			letters := readDeadLetters(t, cfg, run.dlqT, 3, func(dl *schemas.DeadLetter) bool {
				return dl.OriginalTopic == in && dl.ConsumerGroup == group
			})
			for i, dl := range letters {
				value := values[i]
				sum := sha256.Sum256(value)
				if dl.Partition != 0 || dl.Offset != int64(i) || dl.Stage != schemas.StageDecode || dl.Reason == "" {
					t.Errorf("dead letter %d of %s/%d/%d, stage %q, reason %q; want %s/0/%d, a decode failure with its reason",
						i, dl.OriginalTopic, dl.Partition, dl.Offset, dl.Stage, dl.Reason, in, i)
				}
				kept := value[:min(len(value), schemas.MaxDeadLetterValueBytes)]
				if dl.ValueSize != int64(len(value)) || dl.ValueSHA256 != hex.EncodeToString(sum[:]) ||
					dl.ValueTruncated != (len(value) > schemas.MaxDeadLetterValueBytes) || !bytes.Equal(dl.OriginalValue, kept) {
					t.Errorf("dead letter %d: value_size %d, value_sha256 %s, truncated %v, %d bytes kept; want %d, %x, %v and the first %d",
						i, dl.ValueSize, dl.ValueSHA256, dl.ValueTruncated, len(dl.OriginalValue), len(value), sum, len(value) > len(kept), len(kept))
				}
				if dl.KeySize != int64(len(key)) || dl.KeyTruncated || !bytes.Equal(dl.OriginalKey, key) {
					t.Errorf("dead letter %d: key %q (size %d, truncated %v), want %q whole", i, dl.OriginalKey, dl.KeySize, dl.KeyTruncated, key)
				}
				enc, err := schemas.Encode(dl) // the bytes on the topic: Encode is deterministic
				if err != nil {
					t.Fatal(err)
				}
				if len(enc) > schemas.MaxDeadLetterBytes {
					t.Errorf("dead letter %d is %d bytes, more than %d", i, len(enc), schemas.MaxDeadLetterBytes)
				}
				t.Logf("dead letter of the %d-byte value: %d bytes", len(value), len(enc))
			}
			if off := committedOffsets(t, cfg, group, in)[0]; off != 3 {
				t.Errorf("committed offset %d on %s, want 3 (past the oversized records and the next one)", off, in)
			}
			if off := committedOffsets(t, cfg, group, schemas.TopicGrid)[handled[0].Partition]; off != handled[0].Offset+1 {
				t.Errorf("committed offset %d on %s/%d, want %d", off, schemas.TopicGrid, handled[0].Partition, handled[0].Offset+1)
			}
		})
	}
}

// TestSendBoundsALetterHoldingAWholeRecord proves that DeadLetters.Send bounds a letter built by
// hand with a whole record (no ValueSHA256) before writing it, so that no caller can make the
// broker refuse a dead letter for its size.
func TestSendBoundsALetterHoldingAWholeRecord(t *testing.T) {
	cfg := testConfig(t)
	group := uniqueName(t, "group")
	dlq := deadLettersTo(t, cfg, group)
	v920K, _ := oversizedValues()
	reason := string(bytes.Repeat([]byte("r"), 3*schemas.MaxDeadLetterReasonBytes))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := dlq.Send(ctx, schemas.DeadLetter{
		OriginalTopic: schemas.TopicBlocks, Partition: 1, Offset: 7, OriginalKey: []byte("k"), OriginalValue: v920K,
		Reason: reason, Stage: schemas.StageProcess,
	})
	if err != nil {
		t.Fatalf("send a letter holding a 920 KB value: %v", err)
	}
	dl := readDeadLetters(t, cfg, dlq.Topic(), 1, func(*schemas.DeadLetter) bool { return true })[0]
	sum := sha256.Sum256(v920K)
	if dl.ValueSize != int64(len(v920K)) || dl.ValueSHA256 != hex.EncodeToString(sum[:]) || !dl.ValueTruncated ||
		len(dl.OriginalValue) != schemas.MaxDeadLetterValueBytes || len(dl.Reason) > schemas.MaxDeadLetterReasonBytes || dl.ConsumerGroup != group {
		t.Errorf("sent letter: value_size %d, sha %s, truncated %v, %d value bytes, %d reason bytes, group %q",
			dl.ValueSize, dl.ValueSHA256, dl.ValueTruncated, len(dl.OriginalValue), len(dl.Reason), dl.ConsumerGroup)
	}
}
