package estimate

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"time"
)

// ModelVersion names the method and data that produce every estimate. Bump it whenever a
// result could change for the same inputs (MODEL.md: change the model only on purpose).
const ModelVersion = "1.0.0"

// Methods, as stored with every result.
const (
	MethodFixedWindow = "fixed-window" // network: W/T with the Garwood interval
	MethodLastN       = "last-n"       // network "now": (n−1)/Σα with the χ²(2n) interval
	MethodBlockShare  = "block-share"  // pools: Clopper–Pearson share, Monte Carlo hashrate
)

// BlockSeconds is the target block interval; expected blocks = T / BlockSeconds.
const BlockSeconds = 600

// Model computes results from window aggregates. The zero value is not usable: use NewModel.
type Model struct {
	Version string
	Draws   int
}

// NewModel returns the model of this version with the default number of Monte Carlo draws.
func NewModel() Model { return Model{Version: ModelVersion, Draws: DefaultDraws} }

// NetworkResult is the network hashrate of one window.
type NetworkResult struct {
	Window         Window
	Final          bool
	Blocks         int
	Seconds        float64  // the observed span T
	Hashrate       Interval // H/s
	ExpectedBlocks float64  // T / 600
	Luck           float64  // Blocks / ExpectedBlocks
	Method         string
	ModelVersion   string
	InputsDigest   string
}

// LuckInterval is the luck with its 95 % interval: the hashrate interval relative to the rate
// the difficulty implies (luck = Ĥ / H_difficulty, so its bounds scale the same way).
func (n NetworkResult) LuckInterval() Interval {
	if n.Hashrate.Value == 0 {
		return Interval{Value: n.Luck}
	}
	scale := n.Luck / n.Hashrate.Value
	return Interval{Value: n.Luck, Lower: n.Hashrate.Lower * scale, Upper: n.Hashrate.Upper * scale}
}

// PoolResult is one pool's share and hashrate in one window.
type PoolResult struct {
	Window       Window
	Final        bool
	Pool         string
	Blocks       int // the pool's blocks
	TotalBlocks  int // all blocks of the window
	Share        Interval
	Hashrate     Interval // H/s
	Method       string
	ModelVersion string
	InputsDigest string
}

// Compute turns one window's aggregate into its network result and its pools' results.
// Results are deterministic: the Monte Carlo seed comes from the window, the model version and
// the inputs digest.
func (m Model) Compute(st WindowStats) (NetworkResult, []PoolResult, error) {
	if st.Blocks == 0 {
		return NetworkResult{}, nil, fmt.Errorf("window %s has no blocks", st.Window)
	}
	net, err := NetworkHashrate(st.Work, st.Blocks, st.Seconds, st.Work/float64(st.Blocks))
	if err != nil {
		return NetworkResult{}, nil, fmt.Errorf("window %s: %w", st.Window, err)
	}
	expected := st.Seconds / BlockSeconds
	luck, err := Luck(st.Blocks, expected)
	if err != nil {
		return NetworkResult{}, nil, fmt.Errorf("window %s: %w", st.Window, err)
	}
	nr := NetworkResult{
		Window: st.Window, Final: st.Final, Blocks: st.Blocks, Seconds: st.Seconds, Hashrate: net,
		ExpectedBlocks: expected, Luck: luck, Method: MethodFixedWindow, ModelVersion: m.Version, InputsDigest: st.Digest,
	}
	seed := Seed(string(st.Window.Kind), st.Window.Start.Format(time.RFC3339), m.Version, st.Digest)
	pools, err := PoolHashrates(st.Work, st.Seconds, st.Pools, m.Draws, seed)
	if err != nil {
		return NetworkResult{}, nil, fmt.Errorf("window %s: %w", st.Window, err)
	}
	prs := make([]PoolResult, len(pools))
	for i, p := range pools {
		prs[i] = PoolResult{
			Window: st.Window, Final: st.Final, Pool: p.Pool, Blocks: p.Blocks, TotalBlocks: st.Blocks,
			Share: p.Share, Hashrate: p.Hashrate, Method: MethodBlockShare, ModelVersion: m.Version, InputsDigest: st.Digest,
		}
	}
	return nr, prs, nil
}

// WindowResults are one window's network result and its pools' results.
type WindowResults struct {
	Network NetworkResult
	Pools   []PoolResult
}

// ComputeAll computes many windows on every CPU, returning results in the order of stats.
// Windows without blocks yield a zero NetworkResult (Blocks 0) and no pools.
func (m Model) ComputeAll(stats []WindowStats) ([]WindowResults, error) {
	out := make([]WindowResults, len(stats))
	errs := make([]error, len(stats))
	// The costliest windows first (a month costs about 30 days), so that no CPU is left with a
	// month at the end while the others idle.
	order := make([]int, len(stats))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		return len(stats[order[a]].Pools)*stats[order[a]].Blocks > len(stats[order[b]].Pools)*stats[order[b]].Blocks
	})
	parallelFor(len(stats), func(k int) {
		i := order[k]
		if stats[i].Blocks == 0 {
			return
		}
		n, p, err := m.Compute(stats[i])
		out[i], errs[i] = WindowResults{Network: n, Pools: p}, err
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// RecentResult is the last-N-blocks estimate of the network hashrate "now".
type RecentResult struct {
	Tip          int64
	N            int
	From, To     time.Time // header times of the first and last block used
	Hashrate     Interval
	Method       string
	ModelVersion string
	InputsDigest string // sha256 of the intervals and works used
}

// ComputeRecent estimates the hashrate over the last n block intervals of the chain.
func (m Model) ComputeRecent(c *Chain, n int) (RecentResult, error) {
	iv, work, from, to, err := c.Recent(n)
	if err != nil {
		return RecentResult{}, err
	}
	h, err := RecentHashrate(iv, work)
	if err != nil {
		return RecentResult{}, fmt.Errorf("last %d blocks to %d: %w", n, c.Tip(), err)
	}
	hash := sha256.New()
	var buf [8]byte
	for i := range iv {
		binary.LittleEndian.PutUint64(buf[:], math.Float64bits(iv[i]))
		hash.Write(buf[:])
		binary.LittleEndian.PutUint64(buf[:], math.Float64bits(work[i]))
		hash.Write(buf[:])
	}
	return RecentResult{Tip: c.Tip(), N: n, From: from, To: to, Hashrate: h, Method: MethodLastN, ModelVersion: m.Version,
		InputsDigest: hex.EncodeToString(hash.Sum(nil)[:16])}, nil
}
