package estimate

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"
)

// CountryWindowResult is one country's hashrate, share of the network and power in a window
// (METHOD.md §6–7), under one method: the allocation table as published (MethodPoolAllocation)
// or raised by significant curtailment fits (MethodEnergyAdjusted).
type CountryWindowResult struct {
	Window  Window
	Final   bool
	Country string
	// Blocks are the blocks of the pools whose allocation places hashrate in the country (for
	// Unallocated: the blocks of pools without a row, unknown ones included).
	Blocks       int
	Hashrate     Interval // H/s
	Share        Interval // of the network hashrate
	Power        Power
	Method       string
	ModelVersion string
	InputsDigest string
}

// RegionResult is the block share of the pools run from one region in a window.
type RegionResult struct {
	Window       Window
	Final        bool
	Region       string
	Blocks       int
	TotalBlocks  int
	Share        Interval // Clopper–Pearson
	Method       string
	ModelVersion string
	InputsDigest string
}

// midpoint is the instant the window's tables (allocation rows, fleet) are read at.
func midpoint(w Window) time.Time { return w.Start.Add(w.End.Sub(w.Start) / 2) }

// AllocationRows returns the allocation row valid at t of every pool in counts that has one.
func (m Model) AllocationRows(counts []PoolCount, t time.Time) map[string]AllocationRow {
	rows := make(map[string]AllocationRow, len(counts))
	for _, c := range counts {
		if shares, kappa, ok := m.Data.AllocationAt(c.Pool, t); ok {
			rows[c.Pool] = AllocationRow{Pool: c.Pool, Shares: shares, Kappa: kappa}
		}
	}
	return rows
}

// Fleet is the fleet efficiency the model uses on day t: the hardware table without the
// profitability filter (hashatlas has no revenue or electricity-price input yet, so every model
// released 60 days to 5 years before t counts). On a day no model of the table counts (before
// mid-2016 with the built-in table: the history from the genesis block replays through it) it
// is UnknownFleet: every other estimate of the window is made, its power is unknown.
func (m Model) Fleet(t time.Time) Fleet {
	f, err := m.fleetOn(t)
	if err != nil {
		return UnknownFleet
	}
	return f
}

func (m Model) fleetOn(t time.Time) (Fleet, error) {
	hw := m.Data.Hardware()
	models := make([]MinerModel, len(hw))
	for i, h := range hw {
		models[i] = MinerModel{Model: h.Model, Released: h.Released, JPerTH: h.JPerTH}
	}
	return FleetOn(t, models, 0, 0)
}

// ComputeCountries runs the country Monte Carlo of one window with the given allocation rows
// (AllocationRows, possibly energy-adjusted) and adds each country's power. digest identifies
// the inputs (the window's blocks and, for adjusted rows, the adjustments); the seed derives
// from the window, the model version, the method and digest.
func (m Model) ComputeCountries(st WindowStats, rows map[string]AllocationRow, method, digest string) ([]CountryWindowResult, error) {
	seed := Seed(string(st.Window.Kind), st.Window.Start.Format(time.RFC3339), m.Version, method, digest)
	bank := m.rows
	if bank == nil { // a Model not made by NewModel
		bank = NewRowBank(Seed(m.Version))
	}
	wp := m.PriorFor(st, rows)
	priorRow, floors := wp.Row, wp.Floors
	cr, err := countryHashrates(st.Work, st.Seconds, st.Pools, rows, wp, m.Draws, seed, bank)
	if err != nil {
		return nil, fmt.Errorf("countries of window %s: %w", st.Window, err)
	}
	fleet := m.Fleet(midpoint(st.Window))
	// Blocks: a country's count is the blocks of every pool that can place hashrate there.
	blocks := map[string]int{}
	for _, c := range st.Pools {
		row, ok := rows[c.Pool]
		if !ok {
			row = AllocationRow{Shares: map[string]float64{Unallocated: 1}}
		}
		named := map[string]bool{}
		for cc, s := range row.Shares {
			if s > 0 {
				named[cc] = true
			}
		}
		if priorRow != nil && named[Unallocated] {
			for cc, s := range priorRow.Shares {
				if s > 0 {
					named[cc] = true
				}
			}
			for cc := range floors {
				named[cc] = true
			}
		}
		for cc := range named {
			blocks[cc] += c.Blocks
		}
	}
	out := make([]CountryWindowResult, len(cr))
	for i, c := range cr {
		out[i] = CountryWindowResult{
			Window: st.Window, Final: st.Final, Country: c.Country, Blocks: blocks[c.Country],
			Hashrate: c.Hashrate, Share: c.Share, Power: PowerOf(c.Hashrate, fleet),
			Method: method, ModelVersion: m.Version, InputsDigest: digest,
		}
	}
	return out, nil
}

// ComputeRegions is the block share of the pools run from each region (the pool HQ table).
func (m Model) ComputeRegions(st WindowStats) ([]RegionResult, error) {
	hq := make(map[string]string, len(st.Pools))
	for _, c := range st.Pools {
		if _, region, ok := m.Data.HQ(c.Pool); ok {
			hq[c.Pool] = RegionSlug(region)
		}
	}
	rs, err := RegionBlockShares(st.Pools, hq)
	if err != nil {
		return nil, fmt.Errorf("regions of window %s: %w", st.Window, err)
	}
	out := make([]RegionResult, len(rs))
	for i, r := range rs {
		out[i] = RegionResult{
			Window: st.Window, Final: st.Final, Region: r.Region, Blocks: r.Blocks, TotalBlocks: st.Blocks,
			Share: r.Share, Method: MethodPoolHQ, ModelVersion: m.Version, InputsDigest: st.Digest,
		}
	}
	return out, nil
}

// RegionSlug is the form regions are stored and published in: lower case, words joined by
// '-' ("North America" → "north-america").
func RegionSlug(name string) string {
	return strings.Join(strings.Fields(strings.ToLower(name)), "-")
}

// AdjustedRowKappa is the concentration κ of the row an adjustment gives a pool that has no
// allocation row (METHOD.md §8.9): the evidence places part of its hashrate, loosely.
const AdjustedRowKappa = 5.0

// Adjustment raises one pool's allocation to a country to a significant curtailment fit's β
// (METHOD.md §8.9, the energy-adjusted variant).
type Adjustment struct {
	Pool, Region, Country string
	Beta                  float64
}

// adjustRows applies the adjustments to rows (a pool without a row gets none: there is no
// row to raise, and its hashrate stays unallocated) and returns the adjusted rows and a digest
// of what changed ("" when nothing did).
func adjustRows(rows map[string]AllocationRow, adj []Adjustment) (map[string]AllocationRow, string, error) {
	sorted := append([]Adjustment(nil), adj...)
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].Pool != sorted[j].Pool {
			return sorted[i].Pool < sorted[j].Pool
		}
		if sorted[i].Beta != sorted[j].Beta {
			return sorted[i].Beta < sorted[j].Beta // the largest β of a pool and country wins
		}
		return sorted[i].Region < sorted[j].Region
	})
	var out map[string]AllocationRow
	h := sha256.New()
	changed := false
	for _, a := range sorted {
		row, ok := rows[a.Pool]
		if out != nil {
			row, ok = out[a.Pool]
		}
		if !ok {
			// A pool without an allocation row has all its hashrate unallocated; the evidence
			// places part of it, with the low concentration of an indirect estimate.
			row = AllocationRow{Pool: a.Pool, Shares: map[string]float64{Unallocated: 1}, Kappa: AdjustedRowKappa}
		}
		nr, err := EnergyAdjusted(row, a.Country, a.Beta)
		if err != nil {
			return nil, "", err
		}
		if nr.Shares[a.Country] == row.Shares[a.Country] {
			continue
		}
		if out == nil {
			out = make(map[string]AllocationRow, len(rows))
			for k, v := range rows {
				out[k] = v
			}
		}
		out[a.Pool] = nr
		changed = true
		fmt.Fprintf(h, "%s|%s|%s|%.17g\n", a.Pool, a.Region, a.Country, a.Beta)
	}
	if !changed {
		return rows, "", nil
	}
	return out, hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// computeEnergyAdjusted is the energy-adjusted variant of a window: the pool-allocation
// results relabelled when no adjustment changes a row (same numbers, nothing to draw again),
// else a Monte Carlo on the adjusted rows.
func (m Model) computeEnergyAdjusted(st WindowStats, rows map[string]AllocationRow, base []CountryWindowResult, adj []Adjustment) ([]CountryWindowResult, error) {
	adjusted, adjDigest, err := adjustRows(rows, adj)
	if err != nil {
		return nil, fmt.Errorf("window %s: %w", st.Window, err)
	}
	if adjDigest == "" {
		out := make([]CountryWindowResult, len(base))
		for i, r := range base {
			r.Method = MethodEnergyAdjusted
			out[i] = r
		}
		return out, nil
	}
	sum := sha256.Sum256([]byte(st.Digest + "+" + adjDigest))
	return m.ComputeCountries(st, adjusted, MethodEnergyAdjusted, hex.EncodeToString(sum[:16]))
}
