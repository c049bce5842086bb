package simulate

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/schemas"
)

var _ ingest.Collector = (*Collector)(nil)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// recorder is a Publisher that encodes (validating) and records what it gets, keyed by topic
// and key as a compacted topic would keep it, and fails when told to.
type recorder struct {
	batches []int
	log     []string          // topic|key|json, in order
	latest  map[string][]byte // topic|key → json
	failAt  int               // fail the failAt-th publish (1-based); 0: never
}

func (r *recorder) Publish(ctx context.Context, msgs ...schemas.Message) error {
	if r.failAt > 0 && len(r.batches)+1 == r.failAt {
		return errors.New("broker unavailable")
	}
	r.batches = append(r.batches, len(msgs))
	for _, m := range msgs {
		b, err := schemas.Encode(m)
		if err != nil {
			return err
		}
		k := m.Topic() + "|" + m.Key()
		r.log = append(r.log, k+"|"+string(b))
		if r.latest == nil {
			r.latest = map[string][]byte{}
		}
		r.latest[k] = b
	}
	return nil
}

func smallWorld(t *testing.T) *World {
	cfg := DefaultConfig()
	cfg.End = cfg.Start.AddDate(0, 0, 20)
	return mustNew(t, cfg)
}

func TestCollectorPublishesEveryMessageAndASecondPassIsIdentical(t *testing.T) {
	w := smallWorld(t)
	s := w.Summary()
	total := s.Blocks + s.Epochs + s.GridObservations + s.PoolStats
	r := &recorder{}
	c := NewCollector(w, r, 1000, nil)
	if c.Name() != "simulate" {
		t.Fatalf("name %q", c.Name())
	}
	if err := c.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(r.log) != total || len(r.latest) != total {
		t.Fatalf("published %d messages under %d keys, want %d of each (keys are unique)", len(r.log), len(r.latest), total)
	}
	for i, n := range r.batches {
		if n > 1000 || (n < 1000 && i != len(r.batches)-1) {
			t.Fatalf("batch %d has %d messages (batch size 1000)", i, n)
		}
	}
	first := append([]string(nil), r.log...)
	before := map[string][]byte{}
	for k, v := range r.latest {
		before[k] = v
	}
	if err := c.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	second := r.log[len(first):]
	if len(second) != len(first) {
		t.Fatalf("second pass published %d messages, first %d", len(second), len(first))
	}
	for i := range first {
		if first[i] != second[i] {
			t.Fatalf("message %d differs between passes:\n%s\n%s", i, first[i], second[i])
		}
	}
	for k, v := range r.latest {
		if !bytes.Equal(before[k], v) {
			t.Fatalf("key %s changed content", k)
		}
	}
	for _, want := range []string{schemas.TopicBlocks + "|0|", schemas.TopicDifficulty + "|0|", schemas.TopicGrid + "|ERCO|emergency|simulator|3600|2024-01-01T22:00:00Z|",
		schemas.TopicPoolStats + "|alphapool|simulator|86400|2024-01-20T00:00:00Z|"} {
		found := false
		for _, l := range first {
			found = found || strings.HasPrefix(l, want)
		}
		if !found {
			t.Errorf("nothing published under %q", want)
		}
	}
}

func TestCollectorStopsAtAFailedPublishOrACancelledContext(t *testing.T) {
	w := smallWorld(t)
	r := &recorder{failAt: 3}
	err := NewCollector(w, r, 500, nil).Collect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "publish simulated messages 1000 to 1499") || !strings.Contains(err.Error(), "broker unavailable") {
		t.Fatalf("Collect: %v", err)
	}
	if len(r.log) != 1000 {
		t.Fatalf("%d messages published before the failure, want 1000", len(r.log))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r = &recorder{}
	if err := NewCollector(w, r, 500, nil).Collect(ctx); !errors.Is(err, context.Canceled) || len(r.log) != 0 {
		t.Fatalf("with a cancelled context: %v after %d messages", err, len(r.log))
	}
}
