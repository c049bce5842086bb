package chain

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/ingest/pools"
	"github.com/hashatlas/hashatlas/schemas"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeSource is a chain whose blocks can be replaced (a reorg) and whose reads can fail.
type fakeSource struct {
	mu     sync.Mutex
	blocks []ingest.ChainBlock
	failAt int64 // BlockAt(failAt) fails once when > 0 ...
	skip   int   // ... after succeeding this many times
	calls  int
}

func hashOf(h int64, fork int) string { return fmt.Sprintf("%056x%08x", h, fork) }

func newFakeSource(tip int64) *fakeSource {
	s := &fakeSource{}
	for h := int64(0); h <= tip; h++ {
		s.appendBlock(0)
	}
	return s
}

func (s *fakeSource) appendBlock(fork int) {
	h := int64(len(s.blocks))
	prev := ""
	if h > 0 {
		prev = s.blocks[h-1].Hash
	}
	tag := "/Foundry USA Pool #dropgold/"
	if h%2 == 1 {
		tag = "Mined by AntPool"
	}
	s.blocks = append(s.blocks, ingest.ChainBlock{
		Height: h, Hash: hashOf(h, fork), PrevHash: prev, Time: time.Unix(1_700_000_000+600*h, 0).UTC(),
		Bits: "17034219", TxCount: 1000, CoinbaseScript: append([]byte{0x03, 0x01, 0x02}, tag...),
	})
}

// reorg replaces every block from height on with a new fork and extends the chain by extra.
func (s *fakeSource) reorg(height int64, extra int, fork int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tip := int64(len(s.blocks)) - 1
	s.blocks = s.blocks[:height]
	for h := height; h <= tip+int64(extra); h++ {
		s.appendBlock(fork)
	}
}

func (s *fakeSource) Name() string { return "fake" }
func (s *fakeSource) TipHeight(ctx context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.blocks)) - 1, nil
}
func (s *fakeSource) BlockAt(ctx context.Context, h int64) (ingest.ChainBlock, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.failAt > 0 && h == s.failAt && s.skip > 0 {
		s.skip--
	} else if s.failAt > 0 && h == s.failAt {
		s.failAt = 0
		return ingest.ChainBlock{}, errors.New("fake: GET /block-height/" + fmt.Sprint(h) + ": truncated JSON")
	}
	if h < 0 || h >= int64(len(s.blocks)) {
		return ingest.ChainBlock{}, fmt.Errorf("fake: height %d out of range", h)
	}
	return s.blocks[h], nil
}

// topic is an in-memory blocks+difficulty topic: a publisher and a BlockLog.
type topic struct {
	mu     sync.Mutex
	blocks []schemas.Block
	epochs []schemas.DifficultyEpoch
}

func (t *topic) Publish(ctx context.Context, msgs ...schemas.Message) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range msgs {
		if err := m.Validate(); err != nil {
			return err
		}
		switch v := m.(type) {
		case schemas.Block:
			t.blocks = append(t.blocks, v)
		case schemas.DifficultyEpoch:
			t.epochs = append(t.epochs, v)
		}
	}
	return nil
}

func (t *topic) latest() map[int64]schemas.Block {
	out := map[int64]schemas.Block{}
	for _, b := range t.blocks {
		out[b.Height] = b
	}
	return out
}

func (t *topic) LastBlocks(ctx context.Context, n int) ([]schemas.Block, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var all []schemas.Block
	for _, b := range t.latest() {
		all = append(all, b)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Height < all[j].Height })
	if len(all) > n {
		all = all[len(all)-n:]
	}
	return all, nil
}

func newCollector(t *testing.T, src *fakeSource, tp *topic, cfg Config) *Collector {
	t.Helper()
	c, err := New(cfg, src, pools.Default(), tp, tp, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFirstRunStartsOneEpochBehindTheTipAndResumesAfter(t *testing.T) {
	src, tp := newFakeSource(2100), &topic{}
	c := newCollector(t, src, tp, Config{StartHeight: -1})
	if err := c.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(tp.blocks) != 2017 || tp.blocks[0].Height != 84 || tp.blocks[2016].Height != 2100 {
		t.Fatalf("published %d blocks from %d; want 2017 from 84", len(tp.blocks), tp.blocks[0].Height)
	}
	// Epoch 0 (the one the run starts in) and epoch 1 (started at 2016).
	if len(tp.epochs) != 2 || tp.epochs[0].StartHeight != 0 || tp.epochs[1].StartHeight != 2016 || tp.epochs[1].FirstBlockTime == nil {
		t.Fatalf("epochs %+v", tp.epochs)
	}
	b := tp.blocks[0]
	if b.Pool != "foundryusa" || b.AttributionMethod != pools.MethodTag || !strings.HasPrefix(b.PoolRegistryVersion, "default@") {
		t.Fatalf("block 84 attributed %q by %q (%s)", b.Pool, b.AttributionMethod, b.PoolRegistryVersion)
	}
	if tp.blocks[1].Pool != "antpool" {
		t.Fatalf("block 85 attributed to %q", tp.blocks[1].Pool)
	}

	src.reorg(2101, 5, 0) // five new blocks, no reorg
	if err := c.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(tp.blocks); n != 2022 || tp.blocks[2017].Height != 2101 {
		t.Fatalf("after the resume %d blocks, the first new at %d; want 2022 from 2101", n, tp.blocks[2017].Height)
	}
}

func TestReorgRepublishesReplacedHeightsAndCountsOrphans(t *testing.T) {
	src, tp := newFakeSource(100), &topic{}
	c := newCollector(t, src, tp, Config{StartHeight: 50})
	if err := c.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	src.reorg(98, 1, 7) // 98, 99, 100 replaced; 101 new
	if err := c.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(c.orphaned); got != 3 {
		t.Fatalf("%v orphans counted, want 3", got)
	}
	latest := tp.latest()
	for h := int64(98); h <= 101; h++ {
		if latest[h].Hash != hashOf(h, 7) {
			t.Errorf("height %d is %s, want the new fork's block", h, latest[h].Hash)
		}
	}
	if latest[97].Hash != hashOf(97, 0) {
		t.Errorf("height 97 changed")
	}
}

func TestReorgDeeperThanTheCheckIsRefused(t *testing.T) {
	src, tp := newFakeSource(100), &topic{}
	c := newCollector(t, src, tp, Config{StartHeight: 50, ReorgDepth: 5})
	if err := c.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	src.reorg(90, 0, 3)
	err := c.Collect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "reorg deeper") {
		t.Fatalf("err = %v, want a refusal naming a deep reorg", err)
	}
}

func TestASourceErrorKeepsWhatWasPublishedAndTheNextRunResumes(t *testing.T) {
	src, tp := newFakeSource(300), &topic{}
	c := newCollector(t, src, tp, Config{StartHeight: 100, BatchSize: 10})
	src.failAt = 157
	err := c.Collect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "read block 157") || !strings.Contains(err.Error(), "truncated JSON") {
		t.Fatalf("err = %v, want it to name the height and the fault", err)
	}
	latest := tp.latest()
	if len(latest) != 57 || latest[156].Height != 156 {
		t.Fatalf("%d blocks kept after the error, want 100..156", len(latest))
	}
	if err := c.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(tp.latest()); got != 201 {
		t.Fatalf("%d blocks after the resumed run, want 201 (100..300)", got)
	}
	dups := len(tp.blocks) - len(tp.latest())
	if dups != 0 {
		t.Fatalf("%d blocks published twice", dups)
	}
}

func TestMaxBlocksCapsAPass(t *testing.T) {
	src, tp := newFakeSource(300), &topic{}
	c := newCollector(t, src, tp, Config{StartHeight: 0, MaxBlocks: 100})
	_ = c.Collect(context.Background())
	if len(tp.blocks) != 100 {
		t.Fatalf("%d blocks in a capped pass, want 100", len(tp.blocks))
	}
}

func TestOrphansAreCountedOnceEvenWhenAPassFailsBeforeRepublishing(t *testing.T) {
	src, tp := newFakeSource(100), &topic{}
	c := newCollector(t, src, tp, Config{StartHeight: 50, BatchSize: 1})
	if err := c.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	src.reorg(99, 0, 9)           // 99 and 100 replaced
	src.failAt, src.skip = 100, 1 // the reorg check reads 100; publishing it fails, after 99 was published
	if err := c.Collect(context.Background()); err == nil {
		t.Fatal("the pass did not fail")
	}
	if got := testutil.ToFloat64(c.orphaned); got != 1 {
		t.Fatalf("%v orphans counted after the failed pass re-published only 99, want 1", got)
	}
	if err := c.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(c.orphaned); got != 2 {
		t.Fatalf("%v orphans counted over a failed and a good pass, want 2", got)
	}
}

func TestASourceBehindThePublishedTipIsNotAReorg(t *testing.T) {
	src, tp := newFakeSource(100), &topic{}
	c := newCollector(t, src, tp, Config{StartHeight: 90})
	_ = c.Collect(context.Background())
	lagging := newFakeSource(97) // the same chain, 3 blocks behind
	c2 := newCollector(t, lagging, tp, Config{})
	n := len(tp.blocks)
	if err := c2.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(tp.blocks) != n || testutil.ToFloat64(c2.orphaned) != 0 {
		t.Fatalf("a lagging source published %d blocks and counted %v orphans", len(tp.blocks)-n, testutil.ToFloat64(c2.orphaned))
	}
}
