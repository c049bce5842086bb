package estimate

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/hashatlas/hashatlas/estimate/modeldata"
)

// BacktestAlpha is the miss probability of the intervals a backtest scores (95 % intervals).
const BacktestAlpha = 0.05

// BacktestPoint is one reference figure against the model run as of the end of the figure's
// period, with only the evidence published by then and none of the figure's own source
// (METHOD.md §10.4).
type BacktestPoint struct {
	Source    string
	Kind      string
	Period    modeldata.Period
	Published time.Time
	Country   string
	Reference float64 // the published share
	Caveat    string  // the source's own caveat on the figure (modeldata.CaveatProxy, …)
	// Skipped says why the point has no estimate ("" when it has one): e.g. no blocks in the
	// period.
	Skipped  string
	Estimate Interval // the model's share with its 95 % interval
	Error    float64  // Estimate.Value − Reference
	Inside   bool     // Reference within [Estimate.Lower, Estimate.Upper]
	// Score is the interval score at BacktestAlpha: width plus 2/α times the miss.
	Score float64
	// AsOf is the day whose evidence the model used, DataVersion that evidence's version and
	// Prior the source of the prior it used ("" when none was published by then).
	AsOf        time.Time
	DataVersion string
	Prior       string
	PriorAge    int // months
	Blocks      int
}

// BacktestSummary totals the scored points of one source (or "all").
type BacktestSummary struct {
	Source   string
	Points   int     // scored points
	Skipped  int     // points without an estimate
	MAE      float64 // mean |Error|
	Coverage float64 // fraction of points inside their interval
	Score    float64 // mean interval score
}

// Backtest scores the model on data against every reference of kinds map, survey and model
// (the XX "other" figures are not scored: a source's "other countries" is not the model's
// unplaced hashrate). For each source and period it runs the model on data.AsOf(period end)
// without that source (Data.Without), over chain's day windows of the period merged into one,
// with the given Monte Carlo draws. A period with no blocks in chain is reported skipped.
func Backtest(chain *Chain, data *modeldata.Data, draws int) ([]BacktestPoint, error) {
	type group struct {
		source string
		period modeldata.Period
		refs   []modeldata.Reference
	}
	var groups []*group
	idx := map[string]*group{}
	for _, r := range data.References() {
		if r.Country == Unallocated {
			continue
		}
		k := r.Source + "|" + r.Period.String()
		g := idx[k]
		if g == nil {
			g = &group{source: r.Source, period: r.Period}
			idx[k] = g
			groups = append(groups, g)
		}
		g.refs = append(g.refs, r)
	}
	days := map[time.Time]WindowStats{}
	for _, st := range chain.StatsIn(time.Time{}, time.Unix(1<<40, 0), nil) {
		if st.Window.Kind == Day {
			days[st.Window.Start] = st
		}
	}
	var out []BacktestPoint
	for _, g := range groups {
		asOf := g.period.To
		d := data.AsOf(asOf).Without(g.source)
		m := NewModelWithData(d)
		if draws > 0 {
			m.Draws = draws
		}
		st, ok := mergeDays(days, g.period)
		point := func(r modeldata.Reference) BacktestPoint {
			return BacktestPoint{Source: r.Source, Kind: r.Kind, Period: r.Period, Published: r.Published, Country: r.Country,
				Reference: r.Share, Caveat: r.Caveat, AsOf: asOf, DataVersion: d.Version(), Blocks: st.Blocks}
		}
		if !ok {
			for _, r := range g.refs {
				p := point(r)
				p.Skipped = "no blocks in the period"
				out = append(out, p)
			}
			continue
		}
		rows := m.AllocationRows(st.Pools, midpoint(st.Window))
		wp := m.PriorFor(st, rows)
		prior, hasPrior := wp.Prior, wp.OK
		cr, err := m.ComputeCountries(st, rows, MethodPoolAllocation, st.Digest)
		if err != nil {
			return nil, fmt.Errorf("backtest %s %s: %w", g.source, g.period, err)
		}
		named := map[string]bool{}
		if hasPrior {
			for c, v := range prior.Row.Shares {
				// a country present only through the completion of the map's table (§6.8)
				// is an extrapolation: it may hold any part of XX, like an unnamed one
				named[c] = v > 0 && c != Unallocated && !slices.Contains(prior.Completed, c)
			}
		}
		for _, row := range rows {
			for c, v := range row.Shares {
				if v > 0 && c != Unallocated {
					named[c] = true
				}
			}
		}
		est := map[string]Interval{}
		for _, c := range cr {
			est[c.Country] = c.Share
		}
		for _, r := range g.refs {
			p := point(r)
			if hasPrior {
				p.Prior, p.PriorAge = prior.Source, prior.AgeMonths
			}
			e := est[r.Country]
			if !named[r.Country] {
				// a country no map or row names may hold any part of XX: from none of it
				// to all of it (it may still have a share of its own from a site bound)
				e.Upper += est[Unallocated].Upper
			}
			p.Estimate = e
			p.Error = p.Estimate.Value - r.Share
			p.Inside = r.Share >= p.Estimate.Lower && r.Share <= p.Estimate.Upper
			p.Score = IntervalScore(p.Estimate.Lower, p.Estimate.Upper, r.Share, BacktestAlpha)
			out = append(out, p)
		}
	}
	return out, nil
}

// IntervalScore is the interval score of [lo, hi] for the value x at level 1−alpha (lower is
// better): the width, plus 2/alpha times how far x falls outside.
func IntervalScore(lo, hi, x, alpha float64) float64 {
	s := hi - lo
	if x < lo {
		s += 2 / alpha * (lo - x)
	}
	if x > hi {
		s += 2 / alpha * (x - hi)
	}
	return s
}

// SummarizeBacktest totals points per source, in order of first appearance, then "all".
func SummarizeBacktest(points []BacktestPoint) []BacktestSummary {
	var order []string
	by := map[string]*BacktestSummary{}
	all := &BacktestSummary{Source: "all"}
	for _, p := range points {
		s := by[p.Source]
		if s == nil {
			s = &BacktestSummary{Source: p.Source}
			by[p.Source] = s
			order = append(order, p.Source)
		}
		for _, t := range []*BacktestSummary{s, all} {
			if p.Skipped != "" {
				t.Skipped++
				continue
			}
			t.Points++
			t.MAE += math.Abs(p.Error)
			t.Score += p.Score
			if p.Inside {
				t.Coverage++
			}
		}
	}
	out := make([]BacktestSummary, 0, len(order)+1)
	for _, src := range append(order, "all") {
		s := all
		if src != "all" {
			s = by[src]
		}
		if s.Points > 0 {
			n := float64(s.Points)
			s.MAE /= n
			s.Score /= n
			s.Coverage /= n
		}
		out = append(out, *s)
	}
	return out
}

// mergeDays merges the day windows of period (inclusive days) into one window's aggregate:
// works, seconds and pool counts add. ok is false when no day of the period holds a block.
func mergeDays(days map[time.Time]WindowStats, p modeldata.Period) (WindowStats, bool) {
	end := p.To.AddDate(0, 0, 1)
	st := WindowStats{Window: Window{Kind: "period", Start: p.From, End: end}, Final: true}
	counts := map[string]int{}
	digest := ""
	for d := p.From; d.Before(end); d = d.AddDate(0, 0, 1) {
		ds, ok := days[d]
		if !ok {
			continue
		}
		st.Blocks += ds.Blocks
		st.Work += ds.Work
		st.Seconds += ds.Seconds
		for _, c := range ds.Pools {
			counts[c.Pool] += c.Blocks
		}
		digest += ds.Digest
	}
	if st.Blocks == 0 {
		return WindowStats{}, false
	}
	for p, n := range counts {
		st.Pools = append(st.Pools, PoolCount{Pool: p, Blocks: n})
	}
	sort.Slice(st.Pools, func(i, j int) bool {
		if st.Pools[i].Blocks != st.Pools[j].Blocks {
			return st.Pools[i].Blocks > st.Pools[j].Blocks
		}
		return st.Pools[i].Pool < st.Pools[j].Pool
	})
	st.Digest = fmt.Sprintf("%016x", Seed(digest)) // a short stable digest of the days' digests
	return st, true
}
