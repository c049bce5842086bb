package kafka

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
)

// handledLog records which member handled which record, for the rebalance tests.
type handledLog struct {
	mu     sync.Mutex
	by     map[string][]string // record key -> members that handled it, in order
	counts map[string]int      // member -> records handled
}

func newHandledLog() *handledLog {
	return &handledLog{by: map[string][]string{}, counts: map[string]int{}}
}

func (h *handledLog) add(member, key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.by[key] = append(h.by[key], member)
	h.counts[member]++
}

func (h *handledLog) count(member string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[member]
}

func (h *handledLog) distinct() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.by)
}

// streamPoolStats publishes pool-stats records with keys "<prefix>-<seq>" in small batches, one
// batch every few milliseconds, until stop is closed; it returns the keys it published.
// The keys repeat from run to run (the topic is compacted, so old runs' records go away); the
// tests tell their own records by offset.
func streamPoolStats(ctx context.Context, t *testing.T, w *Writer, prefix string, stop <-chan struct{}) <-chan []string {
	out := make(chan []string, 1)
	go func() {
		var keys []string
		defer func() { out <- keys }()
		day := sampleTime.Truncate(24 * time.Hour)
		for seq := 0; ; {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-time.After(3 * time.Millisecond):
			}
			var batch []schemas.Message
			for range 10 {
				hr := float64(seq+1) * 1e15
				batch = append(batch, &schemas.PoolStats{Pool: fmt.Sprintf("%s-%05d", prefix, seq), Time: day, IntervalSeconds: 86400, HashrateHS: &hr, Source: "test"})
				seq++
			}
			if err := w.Publish(ctx, batch...); err != nil {
				t.Errorf("publish the stream: %v", err)
				return
			}
			for _, m := range batch {
				keys = append(keys, m.Key())
			}
		}
	}()
	return out
}

// TestMembersJoiningAndLeavingMidStreamHandleEveryRecordExactlyOnce runs a second member of a
// group beside a first one while records stream in, then stops it: the partitions move to the
// newcomer and back. Every record must be handled once — none lost, none handled by both
// members. A member that hands a partition over without committing what it handled (or that
// goes on handling records it fetched before the hand-over) makes the new owner handle those
// records again, which this test reports with their keys.
func TestMembersJoiningAndLeavingMidStreamHandleEveryRecordExactlyOnce(t *testing.T) {
	cfg := testConfig(t)
	topic := schemas.TopicPoolStats
	group := uniqueName(t, "group")
	startGroupAtEnd(t, cfg, group, topic)
	start := map[string]map[int]int64{topic: endOffsets(t, cfg, topic)}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	log := newHandledLog()
	handler := func(member string) Handler {
		return func(_ context.Context, r Record) error {
			if fresh(start, r.Topic, r.Partition, r.Offset) {
				log.add(member, string(r.Key))
			}
			return nil
		}
	}
	cc := ConsumerConfig{Group: group, Topics: []string{topic}, DeadLetters: deadLettersTo(t, cfg, group),
		CommitInterval: 100 * time.Millisecond, HeartbeatInterval: 100 * time.Millisecond}
	a := startConsumer(t, cfg, cc, handler("a"))

	stop := make(chan struct{})
	published := streamPoolStats(ctx, t, newTestWriter(t, cfg), "rebalance", stop)
	waitFor(t, 20*time.Second, "the first member to handle records", func() bool { return log.count("a") >= 100 })

	b := startConsumer(t, cfg, cc, handler("b"))
	waitFor(t, 30*time.Second, "the second member to get partitions and handle records", func() bool { return log.count("b") >= 100 })
	if err := b.stop(t); err != nil {
		t.Fatalf("second member: %v", err)
	}
	atLeave := log.count("a")
	waitFor(t, 30*time.Second, "the first member to take the partitions back", func() bool { return log.count("a") >= atLeave+300 })
	close(stop)
	keys := <-published
	waitFor(t, 20*time.Second, fmt.Sprintf("all %d records published to be handled", len(keys)), func() bool { return log.distinct() >= len(keys) })
	if err := a.stop(t); err != nil {
		t.Fatalf("first member: %v", err)
	}

	log.mu.Lock()
	defer log.mu.Unlock()
	var twice []string
	for _, k := range keys {
		switch by := log.by[k]; len(by) {
		case 0:
			t.Errorf("record %s was never handled", k)
		case 1:
		default:
			twice = append(twice, fmt.Sprintf("%s by %v", k, by))
		}
	}
	if len(log.by) != len(keys) {
		t.Errorf("handled %d distinct records, published %d", len(log.by), len(keys))
	}
	sort.Strings(twice)
	if len(twice) > 0 {
		t.Errorf("%d of %d records were handled more than once, e.g. %v", len(twice), len(keys), twice[:min(5, len(twice))])
	}
	t.Logf("published %d records; member a handled %d, member b %d", len(keys), log.counts["a"], log.counts["b"])
}
