package kafka

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
)

// TestReadAllUntilReadsWhatIsWrittenMeanwhileExactlyOnce: blocks published in batches while
// ReadAllUntil runs are each read once — all of them, on every partition — and the reader
// stops once the writer is done, although the difficulty topic got nothing (its partitions
// never reach a record); the ends it returns are the topics' ends.
func TestReadAllUntilReadsWhatIsWrittenMeanwhileExactlyOnce(t *testing.T) {
	ctx, w, tr := ownBroker(t)
	const batches, per = 20, 250
	done := make(chan struct{})
	pubErr := make(chan error, 1)
	go func() {
		defer close(done)
		for b := range batches {
			msgs := make([]schemas.Message, per)
			for i := range msgs {
				msgs[i] = sampleBlock(t, int64(900000+b*per+i))
			}
			if err := w.Publish(ctx, msgs...); err != nil {
				pubErr <- err
				return
			}
			time.Sleep(5 * time.Millisecond) // the reader catches up and waits between batches
		}
		pubErr <- nil
	}()
	var mu sync.Mutex
	seen := map[int64]int{}
	n, ends, err := tr.ReadAllUntil(ctx, []string{schemas.TopicBlocks, schemas.TopicDifficulty}, done, func(r Record) error {
		mu.Lock()
		defer mu.Unlock()
		seen[r.Message.(*schemas.Block).Height]++
		return nil
	}, func(r Record, err error) {
		t.Errorf("record %s/%d@%d refused: %v", r.Topic, r.Partition, r.Offset, err)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-pubErr; err != nil {
		t.Fatal(err)
	}
	if n != batches*per || len(seen) != batches*per {
		t.Fatalf("read %d records of %d heights, want %d", n, len(seen), batches*per)
	}
	for h, k := range seen {
		if k != 1 {
			t.Errorf("height %d read %d times", h, k)
		}
	}
	want, err := tr.Ends(ctx, []string{schemas.TopicBlocks, schemas.TopicDifficulty})
	if err != nil {
		t.Fatal(err)
	}
	for topic, parts := range want {
		for p, end := range parts {
			if ends[topic][p] != end {
				t.Errorf("%s/%d: end %d returned, the topic's is %d", topic, p, ends[topic][p], end)
			}
		}
	}
}

// TestReadAllUntilStopsOnTheCallersError: fn's error ends the read at once, although the
// writer has not finished (done is never closed), and is returned.
func TestReadAllUntilStopsOnTheCallersError(t *testing.T) {
	ctx, w, tr := ownBroker(t)
	if err := w.Publish(ctx, sampleBlock(t, 900001), sampleBlock(t, 900002)); err != nil {
		t.Fatal(err)
	}
	refused := errors.New("refused")
	res := make(chan error, 1)
	go func() {
		_, _, err := tr.ReadAllUntil(ctx, []string{schemas.TopicBlocks}, make(chan struct{}), func(Record) error { return refused }, nil)
		res <- err
	}()
	select {
	case err := <-res:
		if !errors.Is(err, refused) {
			t.Fatalf("ReadAllUntil = %v, want fn's error", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("ReadAllUntil went on after fn's error")
	}
}

// ownBroker starts an embedded broker of the test's own with the standard topics, and returns
// a context, a writer and a topic reader for it.
func ownBroker(t *testing.T) (context.Context, *Writer, *TopicReader) {
	t.Helper()
	broker, err := StartEmbedded(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	cfg := DefaultConfig()
	cfg.Brokers, cfg.BatchTimeout = []string{broker.Addr()}, 2*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	if err := EnsureTopics(ctx, cfg, schemas.Topics()); err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	tr, err := NewTopicReader(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, w, tr
}
