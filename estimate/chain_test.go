package estimate

import (
	"fmt"
	"testing"
	"time"
	"unsafe"

	"github.com/hashatlas/hashatlas/schemas"
)

// within reports whether s's bytes lie in buf's memory.
func within(s string, buf []byte) bool {
	if len(s) == 0 || len(buf) == 0 {
		return false
	}
	p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	return p >= lo && p < lo+uintptr(len(buf))
}

// TestChainDoesNotKeepDecodedRecordsAlive: the strings of a message decoded from Kafka share
// the memory of its whole record (schemas.DecodeShared), so a chain that kept a block's pool or
// hash as decoded would keep every record of the history alive (about 120 MB in the replay of
// 2021–2026). The chain keeps its own hash and one interned copy of each pool slug.
func TestChainDoesNotKeepDecodedRecordsAlive(t *testing.T) {
	s := newTestService(&recordingStore{}, nil)
	var records [][]byte
	for h := int64(1); h <= 3; h++ {
		b := block(t, h, int(h)*10, "foundryusa")
		b.Hash = fmt.Sprintf("%064x", h)
		data, err := schemas.Encode(b)
		if err != nil {
			t.Fatal(err)
		}
		m, err := schemas.DecodeShared(data)
		if err != nil {
			t.Fatal(err)
		}
		if d := m.(*schemas.Block); !within(d.Pool, data) || !within(d.Hash, data) {
			t.Fatal("the decoded block does not share its record: this test no longer tests anything")
		}
		if err := s.Apply(m); err != nil {
			t.Fatal(err)
		}
		records = append(records, data)
	}
	first, _ := s.Chain().Block(1)
	for i := range records {
		h := int64(i + 1)
		b, ok := s.Chain().Block(h)
		if !ok || b.Pool != "foundryusa" || b.Hash != fmt.Sprintf("%064x", h) {
			t.Fatalf("block %d held as %+v", h, b)
		}
		for _, rec := range records {
			if within(b.Pool, rec) || within(b.Hash, rec) {
				t.Errorf("block %d: the chain keeps strings of a decoded record", h)
				break
			}
		}
		if unsafe.StringData(b.Pool) != unsafe.StringData(first.Pool) {
			t.Errorf("block %d: the pool slug is a copy of its own, not the interned one", h)
		}
	}
	// The windows aggregate the interned slugs as before.
	st := s.Chain().Stats(WindowOf(Day, t0))
	if st.Blocks != 3 || len(st.Pools) != 1 || st.Pools[0] != (PoolCount{Pool: "foundryusa", Blocks: 3}) {
		t.Fatalf("day stats: %+v", st)
	}
}

// TestGridStateDoesNotKeepDecodedRecordsAlive: the same for the regions of grid observations.
func TestGridStateDoesNotKeepDecodedRecordsAlive(t *testing.T) {
	g := NewGridState()
	o := schemas.GridObservation{Region: "ERCO", Country: "US", Time: t0, IntervalSeconds: 3600,
		Metric: schemas.GridEmergency, Value: 1, Unit: schemas.UnitFlag, Source: "test"}
	data, err := schemas.Encode(o)
	if err != nil {
		t.Fatal(err)
	}
	m, err := schemas.DecodeShared(data)
	if err != nil {
		t.Fatal(err)
	}
	d := m.(*schemas.GridObservation)
	if !within(d.Region, data) || !within(d.Country, data) {
		t.Fatal("the decoded observation does not share its record: this test no longer tests anything")
	}
	if !g.Add(*d) {
		t.Fatal("the observation was not used")
	}
	for region, r := range g.regions {
		if region != "ERCO" || r.country != "US" || within(region, data) || within(r.country, data) {
			t.Fatalf("region %q (country %q) held from the decoded record", region, r.country)
		}
	}
}

// TestChainHoldsBlocksExactlyAndAStrayHeightAlone: the chain's compact store (blockstore.go)
// gives back every block as it was added — sub-second header time, work, pool, hash — at heights
// far apart (0, the history's, the schema's maximum) without holding the range between them; a
// replaced block leaves its old windows, and a re-delivered one changes nothing.
func TestChainHoldsBlocksExactlyAndAStrayHeightAlone(t *testing.T) {
	c := NewChain()
	in := []BlockObs{
		{Height: 0, Time: t0.Add(1500 * time.Millisecond), Work: 1, Pool: "unknown"},
		{Height: 946236, Time: t0.Add(time.Hour), Work: 1.25e23, Pool: "foundryusa", Hash: fmt.Sprintf("%064x", 7)},
		{Height: 946237, Time: t0.Add(2 * time.Hour), Work: 1.5e23, Pool: "antpool"},
		{Height: schemas.MaxHeight, Time: t0.Add(3 * time.Hour), Work: 2, Pool: "foundryusa"},
	}
	for _, b := range in {
		if changed, err := c.Add(b); err != nil || !changed {
			t.Fatalf("Add(%d) = %v, %v", b.Height, changed, err)
		}
	}
	if c.Len() != len(in) || len(c.blocks.pages) != 3 {
		t.Fatalf("%d blocks in %d pages; want %d in 3", c.Len(), len(c.blocks.pages), len(in))
	}
	for _, b := range in {
		got, ok := c.Block(b.Height)
		if !ok || got != b {
			t.Errorf("Block(%d) = %+v, %v; want %+v", b.Height, got, ok, b)
		}
	}
	if _, ok := c.Block(946238); ok {
		t.Error("a height never added is held")
	}
	if changed, _ := c.Add(in[1]); changed {
		t.Error("re-delivering a block changed the chain")
	}
	c.Changed()
	moved := in[2]
	moved.Time = t0.Add(26 * time.Hour) // the next day
	if changed, _ := c.Add(moved); !changed {
		t.Fatal("replacing a block changed nothing")
	}
	if st := c.Stats(WindowOf(Day, t0)); st.Blocks != 3 {
		t.Errorf("the old day holds %d blocks, want 3 (the replaced one left)", st.Blocks)
	}
	if st := c.Stats(WindowOf(Day, moved.Time)); st.Blocks != 1 || st.Pools[0].Pool != "antpool" {
		t.Errorf("the new day: %+v", st)
	}
	if c.Len() != len(in) {
		t.Errorf("%d blocks after a replacement, want %d", c.Len(), len(in))
	}
}

// TestChainMarksAWindowAgainAfterItWasComputed: Add finds the window of a block from the last
// block's (recentWindow) without marking it again while it is marked; once Changed or Settle
// has taken the marks, the next block of the same window marks it again. (The blocks stay
// within hours of each other: no window becomes final on the way.)
func TestChainMarksAWindowAgainAfterItWasComputed(t *testing.T) {
	c := NewChain()
	add := func(h int64) {
		t.Helper()
		if _, err := c.Add(BlockObs{Height: h, Time: t0.Add(time.Duration(h) * time.Hour), Work: 1, Pool: "antpool"}); err != nil {
			t.Fatal(err)
		}
	}
	dayBlocks := func(stats []WindowStats) []int {
		var n []int
		for _, st := range stats {
			if st.Window.Kind == Day {
				n = append(n, st.Blocks)
			}
		}
		return n
	}
	add(1)
	add(2)
	if got := dayBlocks(c.Changed()); len(got) != 1 || got[0] != 2 {
		t.Fatalf("first compute: day windows with %v blocks, want [2]", got)
	}
	add(3) // the same day: its window was computed since the last block
	got := c.Changed()
	if d := dayBlocks(got); len(d) != 1 || d[0] != 3 {
		t.Fatalf("after one more block: day windows with %v blocks, want [3]", d)
	}
	if len(got) != 3 {
		t.Errorf("%d windows to recompute, want its day, week and month", len(got))
	}
	add(4)
	if stale := c.Settle(map[Window]StoredWindow{}, time.Time{}); len(stale) != 3 {
		t.Fatalf("Settle left %d windows marked, want 3 (nothing is stored)", len(stale))
	}
	stored := map[Window]StoredWindow{}
	for _, st := range c.Changed() {
		stored[st.Window] = StoredWindow{Digest: st.Digest, Final: st.Final}
	}
	add(5)
	c.Settle(stored, time.Time{}) // the window holds block 5 now: its digest differs, it stays marked
	add(6)                        // after Settle took marks: must mark again
	if d := dayBlocks(c.Changed()); len(d) != 1 || d[0] != 6 {
		t.Errorf("after Settle and one more block: day windows with %v blocks, want [6]", d)
	}
	stored = map[Window]StoredWindow{}
	add(7)
	for w := range c.members {
		st := c.Stats(w)
		stored[w] = StoredWindow{Digest: st.Digest, Final: st.Final}
	}
	c.Settle(stored, time.Time{}) // every window matches the store: Settle takes every mark
	add(8)
	if d := dayBlocks(c.Changed()); len(d) != 1 || d[0] != 8 {
		t.Errorf("after Settle unmarked everything and one more block: day windows with %v blocks, want [8]", d)
	}
}
