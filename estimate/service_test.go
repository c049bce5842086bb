package estimate

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
)

// recordingStore keeps what was written; fail makes the next writes fail.
type recordingStore struct {
	writes []Results
	fail   error
}

func (s *recordingStore) WriteResults(ctx context.Context, r Results) error {
	if s.fail != nil {
		return s.fail
	}
	s.writes = append(s.writes, r)
	return nil
}

type recordingPublisher struct{ msgs []schemas.Message }

func (p *recordingPublisher) Publish(ctx context.Context, msgs ...schemas.Message) error {
	for _, m := range msgs {
		if _, err := schemas.Encode(m); err != nil {
			return err
		}
	}
	p.msgs = append(p.msgs, msgs...)
	return nil
}

var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC) // a Monday

const testBits = "17034219"

func testWork(t testing.TB) string {
	w, err := schemas.WorkFromBits(testBits)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// block makes a file-replay block at height h, minutes after t0.
func block(t testing.TB, h int64, minutes int, pool string) schemas.Block {
	d, err := schemas.DifficultyFromBits(testBits)
	if err != nil {
		t.Fatal(err)
	}
	return schemas.Block{Height: h, Time: t0.Add(time.Duration(minutes) * time.Minute), Bits: testBits, Difficulty: d,
		Work: testWork(t), Pool: pool, AttributionMethod: schemas.AttributionFile, Source: "test", ObservedAt: t0}
}

func newTestService(store Store, pub Publisher) *Service {
	m := NewModel()
	m.Draws = 200
	return NewService(ServiceConfig{Model: m, RecentBlocks: 10, Now: func() time.Time { return t0 }}, store, pub, nil)
}

func windowsOf(rs []NetworkResult) map[string]NetworkResult {
	out := map[string]NetworkResult{}
	for _, r := range rs {
		out[r.Window.String()] = r
	}
	return out
}

func TestServiceRecomputesOnlyTouchedWindowsAndHonoursTheWatermark(t *testing.T) {
	store, pub := &recordingStore{}, &recordingPublisher{}
	s := newTestService(store, pub)
	// Two days of blocks every 10 minutes, alternating pools.
	h := int64(1000)
	for m := 0; m < 2*24*60; m += 10 {
		pool := "alpha"
		if h%3 == 0 {
			pool = "beta"
		}
		if err := s.Apply(block(t, h, m, pool)); err != nil {
			t.Fatal(err)
		}
		h++
	}
	r, err := s.Flush(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ws := windowsOf(r.Network)
	day1, day2 := ws["day 2026-03-02"], ws["day 2026-03-03"]
	if day1.Blocks != 144 || day2.Blocks != 144 || len(ws) != 4 { // 2 days, 1 week, 1 month
		t.Fatalf("windows %v", ws)
	}
	// The last block is at 23:50 on day 2: day 1 ended 23 h 50 min earlier (> 2 h watermark).
	if !day1.Final || day2.Final {
		t.Fatalf("finality: day1 %v (want true), day2 %v (want false)", day1.Final, day2.Final)
	}
	if len(pub.msgs) != len(EstimateMessages(r)) || len(store.writes) != 1 || len(store.writes[0].Raw) != 288 {
		t.Fatalf("published %d, stored %d writes", len(pub.msgs), len(store.writes))
	}
	if r.Recent == nil || r.Recent.N != 10 {
		t.Fatalf("no last-n estimate: %+v", r.Recent)
	}

	// A late block for day 1 reopens day 1, its week and month — not day 2.
	if err := s.Apply(block(t, h, 5, "gamma")); err != nil {
		t.Fatal(err)
	}
	r, err = s.Flush(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ws = windowsOf(r.Network)
	if _, ok := ws["day 2026-03-03"]; ok || ws["day 2026-03-02"].Blocks != 145 || len(ws) != 3 {
		t.Fatalf("after a late block: %v", ws)
	}

	// A block 2 h past day 2's end makes day 2 final: it is recomputed though none of its blocks changed.
	if err := s.Apply(block(t, h+1, 2*24*60+121, "alpha")); err != nil {
		t.Fatal(err)
	}
	r, _ = s.Flush(context.Background())
	if d2, ok := windowsOf(r.Network)["day 2026-03-03"]; !ok || !d2.Final || d2.Blocks != 144 {
		t.Fatalf("day 2 not re-emitted as final: %v", windowsOf(r.Network))
	}
}

func TestServiceReplacesABlockAtTheSameHeight(t *testing.T) {
	store := &recordingStore{}
	s := newTestService(store, nil)
	_ = s.Apply(block(t, 5, 0, "alpha"))
	_ = s.Apply(block(t, 6, 10, "alpha"))
	_, _ = s.Flush(context.Background())
	_ = s.Apply(block(t, 6, 12, "beta")) // a reorg replaced block 6
	r, err := s.Flush(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, p := range r.Pools {
		if p.Window.Kind == Day {
			counts[p.Pool] = p.Blocks
		}
	}
	if !reflect.DeepEqual(counts, map[string]int{"alpha": 1, "beta": 1}) {
		t.Fatalf("pool counts after the reorg: %v", counts)
	}
	if len(r.Orphans) != 0 {
		t.Fatalf("file blocks without hashes produced orphans: %+v", r.Orphans)
	}
	// Observed blocks carry hashes: a replaced hash is recorded as an orphan.
	b7 := block(t, 7, 20, "alpha")
	b7.Hash = "00000000000000000000000000000000000000000000000000000000000000aa"
	_ = s.Apply(b7)
	_, _ = s.Flush(context.Background())
	b7.Hash, b7.Pool = "00000000000000000000000000000000000000000000000000000000000000bb", "beta"
	_ = s.Apply(b7)
	r, _ = s.Flush(context.Background())
	if len(r.Orphans) != 1 || r.Orphans[0].Hash[62:] != "aa" || r.Orphans[0].ReplacedBy[62:] != "bb" || r.Orphans[0].Height != 7 {
		t.Fatalf("orphans %+v", r.Orphans)
	}
	// Re-delivering an identical block changes nothing.
	_ = s.Apply(block(t, 6, 12, "beta"))
	if r, _ := s.Flush(context.Background()); !r.Empty() {
		t.Fatalf("a duplicate block produced results: %+v", r)
	}
}

func TestServiceKeepsResultsWhenTheStoreFails(t *testing.T) {
	store := &recordingStore{fail: errors.New("connection refused")}
	s := newTestService(store, nil)
	_ = s.Apply(block(t, 1, 0, "alpha"))
	if _, err := s.Flush(context.Background()); err == nil {
		t.Fatal("Flush succeeded with a failing store")
	}
	_ = s.Apply(block(t, 2, 10, "beta"))
	store.fail = nil
	r, err := s.Flush(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Raw) != 2 {
		t.Fatalf("after recovery %d raw blocks stored, want both", len(r.Raw))
	}
	last := map[string]NetworkResult{}
	for _, n := range r.Network {
		last[n.Window.String()] = n
	}
	if last["day 2026-03-02"].Blocks != 2 {
		t.Fatalf("the newest day result has %d blocks, want 2", last["day 2026-03-02"].Blocks)
	}
}

func TestServiceIsDeterministic(t *testing.T) {
	run := func() []schemas.Message {
		pub := &recordingPublisher{}
		s := newTestService(&recordingStore{}, pub)
		for i := 0; i < 300; i++ {
			pool := []string{"a", "b", "c"}[i%3]
			_ = s.Apply(block(t, int64(i), i*9, pool))
		}
		if _, err := s.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		return pub.msgs
	}
	a, b := run(), run()
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same inputs gave different estimates")
	}
}

func TestServiceSendsUnusableBlocksBack(t *testing.T) {
	s := newTestService(&recordingStore{}, nil)
	b := block(t, 1, 0, "a")
	b.Work = "zero"
	var inv *InvalidInput
	if err := s.Apply(b); !errors.As(err, &inv) {
		t.Fatalf("err = %v, want InvalidInput", err)
	}
}

func TestFlushRawWritesInputsWithoutComputing(t *testing.T) {
	store := &recordingStore{}
	s := newTestService(store, nil)
	_ = s.Apply(block(t, 1, 0, "alpha"))
	_ = s.Apply(block(t, 2, 10, "alpha"))
	if err := s.FlushRaw(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.waitRaw(); err != nil {
		t.Fatal(err)
	}
	if len(store.writes) != 1 || len(store.writes[0].Raw) != 2 || len(store.writes[0].Network) != 0 || s.RawPending() != 0 {
		t.Fatalf("FlushRaw wrote %+v", store.writes)
	}
	r, err := s.Flush(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Raw) != 0 || len(r.Network) == 0 {
		t.Fatalf("the next Flush wrote raw %d (want 0) and %d windows (want some)", len(r.Raw), len(r.Network))
	}
}

func TestAFailedBackgroundRawWriteLosesNothing(t *testing.T) {
	store := &recordingStore{fail: errors.New("connection refused")}
	s := newTestService(store, nil)
	_ = s.Apply(block(t, 1, 0, "alpha"))
	if err := s.FlushRaw(context.Background()); err != nil {
		t.Fatal(err) // the write runs in the background: its failure shows at the next call
	}
	_ = s.Apply(block(t, 2, 10, "alpha"))
	if _, err := s.Flush(context.Background()); err == nil {
		t.Fatal("Flush did not report the failed background write")
	}
	if s.RawPending() != 2 {
		t.Fatalf("%d raw inputs pending after the failed write, want both", s.RawPending())
	}
	store.fail = nil
	r, err := s.Flush(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Raw) != 2 || r.Raw[0].(schemas.Block).Height != 1 {
		t.Fatalf("after recovery %d raw inputs written (first %v), want 2 in order", len(r.Raw), r.Raw)
	}
}

// chunkPublisher records every Publish call; the call numbered failAt (from 1) fails.
type chunkPublisher struct {
	calls  []int
	msgs   []schemas.Message
	failAt int
}

func (p *chunkPublisher) Publish(ctx context.Context, msgs ...schemas.Message) error {
	p.calls = append(p.calls, len(msgs))
	if len(p.calls) == p.failAt {
		return errors.New("broker down")
	}
	p.msgs = append(p.msgs, msgs...)
	return nil
}

// TestEstimatesArePublishedInChunks: the estimates of a flush go out publishChunk at a time
// (a whole history's would otherwise all be held at once), in the order of EstimateMessages;
// a failed chunk stops the publish and is reported with the estimates it held.
func TestEstimatesArePublishedInChunks(t *testing.T) {
	r := Results{ComputedAt: t0}
	for i := range publishChunk + publishChunk/4 { // two messages each: 2.5 chunks
		r.Network = append(r.Network, NetworkResult{Window: WindowOf(Day, t0.AddDate(0, 0, -i)), Blocks: 144,
			Hashrate: Interval{Value: 1e20, Lower: 9e19, Upper: 1.1e20}, Luck: 1, Method: "m", ModelVersion: "v", InputsDigest: "d"})
	}
	pub := &chunkPublisher{}
	if err := newTestService(&recordingStore{}, pub).publish(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if want := []int{publishChunk, publishChunk, publishChunk / 2}; !reflect.DeepEqual(pub.calls, want) {
		t.Fatalf("Publish calls of %v messages, want %v", pub.calls, want)
	}
	if !reflect.DeepEqual(pub.msgs, EstimateMessages(r)) {
		t.Fatal("the chunks are not the estimate messages in order")
	}

	pub = &chunkPublisher{failAt: 2}
	err := newTestService(&recordingStore{}, pub).publish(context.Background(), r)
	if want := fmt.Sprintf("publish estimates %d to %d: broker down", publishChunk+1, 2*publishChunk); err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if len(pub.calls) != 2 {
		t.Fatalf("publishing went on after a failed chunk: calls %v", pub.calls)
	}
}
