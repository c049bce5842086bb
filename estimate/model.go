package estimate

import (
	"crypto/sha256"
	"sync"

	"encoding/binary"
	"encoding/hex"
	"fmt"
	"github.com/hashatlas/hashatlas/estimate/modeldata"
	"math"
	"sort"
	"strings"
	"time"
)

// ModelVersion names the method and data that produce every estimate. Bump it whenever a
// result could change for the same inputs (METHOD.md §9.1: change the model only on purpose).
//
// 1.1.0 added country hashrate and power (METHOD.md §6–7), region block shares and the energy
// signals on top of 1.0.0's network and pool estimates, whose numbers it left unchanged. 2.0.0
// places the hashrate no allocation row places by the published maps (the prior, §6.8);
// 2.0.1 completes a map's partial table from the nearest other map (§6.8) and gives pool
// hashrates the exact quantiles of their Jeffreys posterior (§4.3).
// The model data built into the binary (estimate/modeldata) is part of this version: a test
// pins its digest, so that a change to the tables cannot ship without a new version.
const ModelVersion = "2.0.1"

// Methods, as stored with every result.
const (
	MethodFixedWindow     = "fixed-window"    // network: W/T with the Garwood interval
	MethodLastN           = "last-n"          // network "now": (n−1)/Σα with the χ²(2n) interval
	MethodBlockShare      = "block-share"     // pools: Clopper–Pearson share, Monte Carlo hashrate
	MethodPoolAllocation  = "pool-allocation" // countries: Monte Carlo over the allocation table
	MethodEnergyAdjusted  = "energy-adjusted" // countries: allocation raised by significant curtailment fits
	MethodPoolHQ          = "pool-hq"         // regions: block share of the pools run from a region
	MethodCurtailmentMLE  = "curtailment-mle" // energy signals: Poisson ML fit of β with a LR test
	MethodNetworkDipCount = "network-dip"     // energy signals: a day's blocks against difficulty
)

// BlockSeconds is the target block interval; expected blocks = T / BlockSeconds.
const BlockSeconds = 600

// Model computes results from window aggregates. The zero value is not usable: use NewModel.
type Model struct {
	Version string
	Draws   int
	// Data holds the allocation, pool HQ and hardware tables.
	Data *modeldata.Data
	// rows holds the allocation rows' draws, shared by every window (see RowBank).
	rows *RowBank
}

var (
	embeddedOnce sync.Once
	embeddedData *modeldata.Data
	embeddedErr  error
)

// NewModel returns the model of this version on the model data built into the binary, with
// the default number of Monte Carlo draws. The built-in data is validated by the tests, so a
// failure here is a build defect and panics.
func NewModel() Model {
	embeddedOnce.Do(func() { embeddedData, embeddedErr = modeldata.Load() })
	if embeddedErr != nil {
		panic(fmt.Sprintf("built-in model data: %v", embeddedErr))
	}
	return Model{Version: ModelVersion, Draws: DefaultDraws, Data: embeddedData, rows: NewRowBank(Seed(ModelVersion))}
}

// NewModelWithData returns the model on other model data (an operator's own allocation table,
// or a simulated world's). Its version is ModelVersion+"+data."+the data's digest, so that its
// results never mix with the built-in data's under one version.
func NewModelWithData(d *modeldata.Data) Model {
	m := NewModel()
	if d.Version() != m.Data.Version() {
		m.Version = ModelVersion + "+data." + strings.TrimPrefix(d.Version(), "modeldata-")
	}
	m.Data = d
	m.rows = NewRowBank(Seed(m.Version))
	return m
}

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
	pools, err := PoolHashrates(st.Work, st.Seconds, st.Pools)
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

// WindowResults are one window's results: network, pools, countries (both methods) and
// regions.
type WindowResults struct {
	Network   NetworkResult
	Pools     []PoolResult
	Countries []CountryWindowResult
	Regions   []RegionResult
}

// ComputeAll computes many windows on every CPU, returning results in the order of stats.
// Windows without blocks yield a zero NetworkResult (Blocks 0) and nothing else. adjust (nil:
// none) gives the energy adjustments that apply to a window.
func (m Model) ComputeAll(stats []WindowStats, adjust func(Window) []Adjustment) ([]WindowResults, error) {
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
		var adj []Adjustment
		if adjust != nil {
			adj = adjust(stats[i].Window)
		}
		out[i], errs[i] = m.computeWindow(stats[i], adj)
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// computeWindow is every result of one window.
func (m Model) computeWindow(st WindowStats, adj []Adjustment) (WindowResults, error) {
	n, p, err := m.Compute(st)
	if err != nil {
		return WindowResults{}, err
	}
	rows := m.AllocationRows(st.Pools, midpoint(st.Window))
	countries, err := m.ComputeCountries(st, rows, MethodPoolAllocation, st.Digest)
	if err != nil {
		return WindowResults{}, err
	}
	adjusted, err := m.computeEnergyAdjusted(st, rows, countries, adj)
	if err != nil {
		return WindowResults{}, err
	}
	regions, err := m.ComputeRegions(st)
	if err != nil {
		return WindowResults{}, err
	}
	return WindowResults{Network: n, Pools: p, Countries: append(countries, adjusted...), Regions: regions}, nil
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
