package estimate

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Watermark is how long after a window's end late blocks may still arrive: header times are
// miner-set (up to 2 h in the future, not monotonic), so a window is final only once a block
// with a header time past window end + Watermark has been seen (METHOD.md §2.4).
const Watermark = 2 * time.Hour

// BlockObs is what the model needs of a block.
type BlockObs struct {
	Height int64
	Time   time.Time // header time
	Work   float64   // hashes: 2^256/(target+1)
	Pool   string    // slug or "unknown"
	Hash   string    // empty for blocks from file replays and simulations
}

// Chain is the estimator's windowed state: every block by height, which windows each falls
// in, and which windows changed since the last Compute. It is not safe for concurrent use.
//
// It holds every block of the history (282,174 for 2021–2026) once by height and once per
// window kind, so it keeps that small: a block is a pointer-free 24-byte record (blockstore.go)
// with its pool slug interned and its hash, if any, its own string (a decoded message's strings
// may share the memory of its whole record, which would stay alive with them), and a window
// lists its blocks by height, 8 bytes each; the garbage collector scans neither.
type Chain struct {
	blocks    blockStore
	members   map[Window]*[]int64 // the heights of each window's blocks, in no particular order
	poolIDs   map[string]int32    // interned pool slugs: index in poolNames
	poolNames []string
	dirty     map[Window]struct{}
	final     map[Window]bool // finality at the last Compute
	first     time.Time       // earliest header time seen
	maxTime   time.Time       // latest header time seen: the event-time clock
	tip       int64
	recent    [3]recentWindow // per window kind (WindowKinds), the window of the last block added
}

// recentWindow is the window of one kind the last block added fell in: consecutive blocks
// mostly share their day, week and month, so Add finds their windows without computing them or
// looking them up (a replay adds 282,174 blocks).
type recentWindow struct {
	w      Window
	hs     *[]int64 // c.members[w]
	marked bool     // w has been in dirty since it was last cleared
}

// NewChain returns an empty state.
func NewChain() *Chain {
	return &Chain{
		blocks:  newBlockStore(),
		members: map[Window]*[]int64{},
		poolIDs: map[string]int32{},
		dirty:   map[Window]struct{}{},
		final:   map[Window]bool{},
		tip:     -1,
	}
}

// internPool returns the id of a pool slug, and the chain's own copy of the slug.
func (c *Chain) internPool(pool string) (int32, string) {
	if id, ok := c.poolIDs[pool]; ok {
		return id, c.poolNames[id]
	}
	pool = strings.Clone(pool)
	id := int32(len(c.poolNames))
	c.poolIDs[pool] = id
	c.poolNames = append(c.poolNames, pool)
	return id, pool
}

// Block returns the block held at height.
func (c *Chain) Block(height int64) (BlockObs, bool) {
	r, ok := c.blocks.get(height)
	if !ok {
		return BlockObs{}, false
	}
	return BlockObs{Height: height, Time: r.time(), Work: r.work, Pool: c.poolNames[r.pool], Hash: c.blocks.hashes[height]}, true
}

// Len is the number of blocks held.
func (c *Chain) Len() int { return c.blocks.n }

// Tip is the highest height held (-1 when empty).
func (c *Chain) Tip() int64 { return c.tip }

// Add records a block. A block at a height already held replaces it (a reorg, or a re-delivery,
// or a re-attribution); the windows of both the old and the new block are marked for recompute.
// A re-delivery of an identical block changes nothing. It reports whether anything changed.
func (c *Chain) Add(b BlockObs) (bool, error) {
	if b.Work <= 0 || math.IsNaN(b.Work) || math.IsInf(b.Work, 0) {
		return false, fmt.Errorf("block %d: work %g must be positive and finite", b.Height, b.Work)
	}
	b.Time = b.Time.UTC()
	pool, _ := c.internPool(b.Pool)
	rec := recOf(b, pool)
	if old, ok := c.blocks.get(b.Height); ok {
		if c.same(old, rec, b) {
			return false, nil
		}
		c.remove(b.Height, old.time())
	}
	c.blocks.put(b.Height, rec, strings.Clone(b.Hash))
	for k, kind := range WindowKinds {
		hs := c.window(k, kind, b.Time)
		*hs = append(*hs, b.Height)
	}
	if c.first.IsZero() || b.Time.Before(c.first) {
		c.first = b.Time
	}
	if b.Time.After(c.maxTime) {
		c.maxTime = b.Time
	}
	if b.Height > c.tip {
		c.tip = b.Height
	}
	return true, nil
}

// recOf is the record of b, its pool interned as pool.
func recOf(b BlockObs, pool int32) blockRec {
	return blockRec{sec: b.Time.Unix(), nsec: int32(b.Time.Nanosecond()), work: b.Work, pool: pool}
}

// same reports whether old, the record held at b's height, is b's record rec with b's hash.
func (c *Chain) same(old, rec blockRec, b BlockObs) bool {
	return old == rec && c.blocks.hashes[b.Height] == b.Hash
}

// Holds reports whether the chain holds b as it is (same height, time, work, pool and hash):
// adding it would change nothing.
func (c *Chain) Holds(b BlockObs) bool {
	pool, ok := c.poolIDs[b.Pool]
	if !ok {
		return false
	}
	old, ok := c.blocks.get(b.Height)
	return ok && c.same(old, recOf(b, pool), b)
}

// window returns the heights of the window of kind (WindowKinds[k]) holding t, marking the
// window for recompute.
func (c *Chain) window(k int, kind WindowKind, t time.Time) *[]int64 {
	r := &c.recent[k]
	if r.hs == nil || t.Before(r.w.Start) || !t.Before(r.w.End) {
		w := WindowOf(kind, t)
		hs := c.members[w]
		if hs == nil {
			hs = new([]int64)
			c.members[w] = hs
		}
		*r = recentWindow{w: w, hs: hs}
	}
	if !r.marked {
		c.dirty[r.w] = struct{}{}
		r.marked = true
	}
	return r.hs
}

// unmark forgets that the recent windows are in dirty (after dirty lost entries).
func (c *Chain) unmark() {
	for k := range c.recent {
		c.recent[k].marked = false
	}
}

// remove takes the block at height, with header time t, out of its windows and the store.
func (c *Chain) remove(height int64, t time.Time) {
	for k, kind := range WindowKinds {
		hs := c.window(k, kind, t)
		m := *hs
		for i := range m {
			if m[i] == height {
				m[i] = m[len(m)-1]
				*hs = m[:len(m)-1]
				break
			}
		}
	}
	c.blocks.del(height)
}

// MarkAll marks every window for recompute, as after a model change.
func (c *Chain) MarkAll() {
	for w := range c.members {
		c.dirty[w] = struct{}{}
	}
}

// Remark marks the windows of stats for recompute again: the compute that Changed returned them
// for failed, and they must not be forgotten.
func (c *Chain) Remark(stats []WindowStats) {
	for _, st := range stats {
		c.dirty[st.Window] = struct{}{}
	}
}

// IsFinal reports whether the window is past the watermark of the event-time clock.
func (c *Chain) IsFinal(w Window) bool {
	return !c.maxTime.Before(w.End.Add(Watermark))
}

// WindowStats is the aggregate of one window's blocks, from which every estimate is computed.
type WindowStats struct {
	Window  Window
	Final   bool
	Blocks  int
	Work    float64 // total work, hashes
	Seconds float64 // the time the blocks were observed over: the window clipped to the data
	Pools   []PoolCount
	Digest  string // sha256 of the window's blocks (height, time, work, pool), in height order
}

// Changed returns the windows to recompute, in kind then start order: those with new, replaced
// or late blocks since the last call, and those that became final since. It clears the marks.
func (c *Chain) Changed() []WindowStats {
	for w, wasFinal := range c.final {
		if !wasFinal && c.IsFinal(w) {
			c.dirty[w] = struct{}{}
		}
	}
	ws := make([]Window, 0, len(c.dirty))
	for w := range c.dirty {
		ws = append(ws, w)
	}
	sort.Slice(ws, func(i, j int) bool {
		if ws[i].Kind != ws[j].Kind {
			return kindOrder(ws[i].Kind) < kindOrder(ws[j].Kind)
		}
		return ws[i].Start.Before(ws[j].Start)
	})
	// Aggregating only reads the state, so the windows are aggregated on every CPU.
	out := make([]WindowStats, len(ws))
	parallelFor(len(ws), func(i int) { out[i] = c.Stats(ws[i]) })
	for _, w := range ws {
		c.final[w] = c.IsFinal(w)
	}
	clear(c.dirty)
	c.unmark()
	return out
}

// parallelFor calls fn(i) for i in [0, n) on GOMAXPROCS goroutines and waits for all.
func parallelFor(n int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}

func kindOrder(k WindowKind) int {
	for i, x := range WindowKinds {
		if x == k {
			return i
		}
	}
	return len(WindowKinds)
}

// Stats aggregates one window. The observed span is the window clipped to the data: it starts
// no earlier than the first block seen and, while the window is open, ends at the latest header
// time seen, so the first and the current window are not under-estimated.
func (c *Chain) Stats(w Window) WindowStats { return c.stats(w, true) }

// stats is Stats, with the inputs digest only when digest is set (the day series of the energy
// signals and the chain-stress test read counts only: hashing every block of the history at
// each of their runs would be most of their cost).
func (c *Chain) stats(w Window, digest bool) WindowStats {
	// Sorting the window's own slice in place keeps later calls cheap (it stays sorted but for
	// blocks added since); windows do not share slices, so Stats of distinct windows may run
	// concurrently, but not concurrently with Add.
	var heights []int64
	if hs := c.members[w]; hs != nil {
		heights = *hs
	}
	if !slices.IsSorted(heights) {
		slices.Sort(heights)
	}
	st := WindowStats{Window: w, Final: c.IsFinal(w), Blocks: len(heights)}
	pools := map[int32]int{}
	hash := sha256.New()
	var buf [24]byte
	var page *blockPage
	pageOf := int64(-1)
	for _, h := range heights {
		if h>>pageBits != pageOf { // consecutive heights share a page
			pageOf, page = h>>pageBits, c.blocks.pages[h>>pageBits]
		}
		b := page.recs[h&(1<<pageBits-1)]
		st.Work += b.work
		pools[b.pool]++
		if !digest {
			continue
		}
		binary.LittleEndian.PutUint64(buf[0:], uint64(h))
		binary.LittleEndian.PutUint64(buf[8:], uint64(b.sec))
		binary.LittleEndian.PutUint64(buf[16:], math.Float64bits(b.work))
		hash.Write(buf[:])
		hash.Write([]byte(c.poolNames[b.pool]))
		hash.Write([]byte{0})
	}
	if digest {
		st.Digest = hex.EncodeToString(hash.Sum(nil)[:16])
	}
	start, end := w.Start, w.End
	if c.first.After(start) {
		start = c.first
	}
	if !st.Final && c.maxTime.Before(end) {
		end = c.maxTime
	}
	st.Seconds = end.Sub(start).Seconds()
	if st.Seconds < 600 {
		// A window seen over less than one block interval says little; keep T at one interval
		// so that the estimate is finite and its interval wide.
		st.Seconds = 600
	}
	for p, n := range pools {
		st.Pools = append(st.Pools, PoolCount{Pool: c.poolNames[p], Blocks: n})
	}
	sort.Slice(st.Pools, func(i, j int) bool {
		if st.Pools[i].Blocks != st.Pools[j].Blocks {
			return st.Pools[i].Blocks > st.Pools[j].Blocks
		}
		return st.Pools[i].Pool < st.Pools[j].Pool
	})
	return st
}

// Recent returns the intervals (seconds) and works of the last n block intervals ending at the
// tip, for RecentHashrate, with the header times of the first and last block used. It needs the
// n+1 blocks below and at the tip to be held without gaps.
func (c *Chain) Recent(n int) (intervals, work []float64, from, to time.Time, err error) {
	if c.tip < 0 || n < 2 {
		return nil, nil, time.Time{}, time.Time{}, fmt.Errorf("need at least 2 intervals and a tip")
	}
	for h := c.tip - int64(n); h <= c.tip; h++ {
		if _, ok := c.blocks.get(h); !ok {
			return nil, nil, time.Time{}, time.Time{}, fmt.Errorf("block %d missing for the last %d intervals", h, n)
		}
	}
	for h := c.tip - int64(n) + 1; h <= c.tip; h++ {
		b, _ := c.blocks.get(h)
		prev, _ := c.blocks.get(h - 1)
		intervals = append(intervals, b.time().Sub(prev.time()).Seconds())
		work = append(work, b.work)
	}
	first, _ := c.blocks.get(c.tip - int64(n))
	last, _ := c.blocks.get(c.tip)
	return intervals, work, first.time(), last.time(), nil
}

// StatsIn aggregates every window (day, week, month) holding blocks whose start falls in
// [from, to), except those in skip, in kind then start order. Not concurrently with Add.
func (c *Chain) StatsIn(from, to time.Time, skip map[Window]bool) []WindowStats {
	var ws []Window
	for w := range c.members {
		if !w.Start.Before(from) && w.Start.Before(to) && !skip[w] && len(*c.members[w]) > 0 {
			ws = append(ws, w)
		}
	}
	sort.Slice(ws, func(i, j int) bool {
		if ws[i].Kind != ws[j].Kind {
			return kindOrder(ws[i].Kind) < kindOrder(ws[j].Kind)
		}
		return ws[i].Start.Before(ws[j].Start)
	})
	out := make([]WindowStats, len(ws))
	parallelFor(len(ws), func(i int) { out[i] = c.Stats(ws[i]) })
	return out
}
