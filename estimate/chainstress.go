package estimate

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"sort"
	"strings"
	"time"

	"gonum.org/v1/gonum/stat/distuv"
)

// Grid stress read from the chain itself (METHOD.md §8.11): no grid data, no calendar of
// storms. A region's reference pools — pools whose allocation rows put nearly all their
// hashrate in the region's countries — lose share together on a day when the region's grid
// makes miners stop; the test asks, day by day, whether their blocks fall short of their
// trailing share beyond chance, with the false-discovery rate controlled over all days. On the
// days found, every other pool's own shortfall against the reference pools' estimates how much
// of it sits on that grid (its exposure).
const (
	// SignalChainStress marks a day's test of a region's reference pools (chain_stress table).
	SignalChainStress = "chain_stress"
	// SignalGridExposure is a pool's exposure to a region's grid in a year (energy_signals).
	SignalGridExposure = "grid_exposure"
	// MethodReferenceShare and MethodExposureMLE name the two estimates.
	MethodReferenceShare = "reference-share-drop"
	MethodExposureMLE    = "exposure-mle"

	// StressRefMinShare and StressRefMinKappa: a pool is a reference pool of a region on a day
	// when its allocation row valid then puts at least this share of its hashrate in the
	// region's countries, with at least this concentration κ (a disclosure, not a guess).
	StressRefMinShare = 0.9
	StressRefMinKappa = 10.0
	// StressBaselineDays and StressBaselineMinDays: the reference pools' expected share on a day
	// is their share over the StressBaselineDays before it (days found as events left out), with
	// at least StressBaselineMinDays of them.
	StressBaselineDays    = 30
	StressBaselineMinDays = 14
	// StressFDR is the Benjamini–Hochberg level over every tested day and region: a day is an
	// event when its q-value is below it.
	StressFDR = 0.01
	// StressOutlierP: days whose first-pass p-value is below it are left out of the baselines of
	// the second pass.
	StressOutlierP = 0.01
	// StressMaxDispersion caps the over-dispersion factor φ of the daily reference counts.
	StressMaxDispersion = 10.0
)

// stressRegionCountries are the grid areas the chain test watches: the US and Canada share
// interconnected grids and storms (one region), every other country is its own.
var stressRegionCountries = map[string][]string{"north-america": {"US", "CA"}}

// StressRegionOf is the chain-stress region of a country: "north-america" for US and CA, the
// code in lower case otherwise.
func StressRegionOf(country string) string {
	for r, cs := range stressRegionCountries {
		for _, c := range cs {
			if c == country {
				return r
			}
		}
	}
	return strings.ToLower(country)
}

// stressRegionCountry is the country an exposure to a region raises in the energy-adjusted
// estimates: the region's first (largest) country.
func stressRegionCountry(region string) string {
	if cs, ok := stressRegionCountries[region]; ok {
		return cs[0]
	}
	return strings.ToUpper(region)
}

// ChainStressDay is one day's test of one region's reference pools.
type ChainStressDay struct {
	Window      Window
	Final       bool
	Region      string
	Reference   []string // the reference pools, sorted
	Blocks      int      // all blocks of the day
	RefBlocks   int      // the reference pools' blocks
	RefExpected float64  // BaselineShare × the day's seconds / 600
	// BaselineShare is the reference pools' blocks per block the difficulty expects over the
	// baseline days (their share of the network's expected rate); Dispersion the
	// over-dispersion φ ≥ 1 of their daily counts there.
	BaselineShare, Dispersion float64
	// Drop is 1 − RefBlocks/RefExpected, the fraction of the reference pools' hashrate gone,
	// with its 95 % interval (Garwood's on RefBlocks).
	Drop Interval
	// PValue is the lower-tail probability of so few reference blocks; QValue its
	// Benjamini–Hochberg adjustment over every tested day and region.
	PValue, QValue float64
	// Shortfall is the network's block shortfall as hashrate (H/s) and ShortfallGW as power
	// (NaN when no hardware model counts on the day).
	Shortfall, ShortfallGW Interval
	Method, ModelVersion   string
	InputsDigest           string
}

// Event reports whether the day passes the false-discovery control.
func (d ChainStressDay) Event() bool { return d.QValue < StressFDR }

// referencePools returns, per region, the pools among pools that are reference pools at t.
func (m Model) referencePools(pools []string, t time.Time) map[string][]string {
	out := map[string][]string{}
	for _, p := range pools {
		shares, kappa, ok := m.Data.AllocationAt(p, t)
		if !ok || kappa < StressRefMinKappa {
			continue
		}
		byRegion := map[string]float64{}
		for c, s := range shares {
			if c != Unallocated {
				byRegion[StressRegionOf(c)] += s
			}
		}
		for r, s := range byRegion {
			if s >= StressRefMinShare {
				out[r] = append(out[r], p)
			}
		}
	}
	for r := range out {
		sort.Strings(out[r])
	}
	return out
}

// ComputeChainStress tests every day of the chain for every region with reference pools, and
// fits every other pool's exposure to each region in each year with enough event days. The
// chain must not change during the call. Results are deterministic.
func (m Model) ComputeChainStress(c *Chain) ([]ChainStressDay, []Signal) {
	if c.Len() == 0 {
		return nil, nil
	}
	first := WindowOf(Day, c.first).Start
	last := WindowOf(Day, c.maxTime).End
	days := daySeries(c, first.AddDate(0, 0, -1), last)
	var order []time.Time
	for d := range days {
		order = append(order, d)
	}
	sort.Slice(order, func(i, j int) bool { return order[i].Before(order[j]) })

	// Two passes: the second leaves out of every baseline the days the first found unusual
	// (p < StressOutlierP), so that a storm of several days does not hide its own later days by
	// lowering their baseline and widening its spread.
	var tests []ChainStressDay
	outliers := map[string]map[time.Time]bool{}
	for pass := 0; pass < 2; pass++ {
		tests = tests[:0]
		for _, d := range order {
			dc := days[d]
			names := make([]string, 0, len(dc.pools))
			for p := range dc.pools {
				names = append(names, p)
			}
			sort.Strings(names)
			refsByRegion := m.referencePools(names, d.Add(12*time.Hour))
			regions := make([]string, 0, len(refsByRegion))
			for r := range refsByRegion {
				regions = append(regions, r)
			}
			sort.Strings(regions)
			for _, region := range regions {
				if t, ok := m.testDay(d, dc, days, region, refsByRegion[region], outliers[region]); ok {
					tests = append(tests, t)
				}
			}
		}
		if pass == 0 {
			for _, t := range tests {
				if t.PValue < StressOutlierP {
					if outliers[t.Region] == nil {
						outliers[t.Region] = map[time.Time]bool{}
					}
					outliers[t.Region][t.Window.Start] = true
				}
			}
		}
	}
	events := map[string]map[time.Time]bool{} // region → event days
	benjaminiHochberg(tests)
	for _, t := range tests {
		if t.Event() {
			if events[t.Region] == nil {
				events[t.Region] = map[time.Time]bool{}
			}
			events[t.Region][t.Window.Start] = true
		}
	}
	return tests, m.exposures(days, order, tests, events)
}

// refCount is the blocks of the pools refs in dc.
func refCount(dc dayCounts, refs []string) int {
	n := 0
	for _, p := range refs {
		n += dc.pools[p]
	}
	return n
}

// testDay tests day d of region against its baseline. The reference pools' blocks are counted
// against the blocks the difficulty expects (the day's seconds / 600), not against the day's
// other blocks: on a day of grid stress every pool with machines on that grid loses blocks and
// the network's rate dips, so their share of the day's blocks hides much of the loss while the
// count shows all of it. Their baseline rate r₀ is their blocks per expected block over the
// baseline days (which absorbs the drift of hashrate against difficulty within an epoch); the
// day's count is over-dispersed Poisson with mean r₀·E and variance φ·r₀·E, φ ≥ 1 the Pearson
// dispersion of the baseline days (the spread that pools' miners moving about and the network's
// own luck add), widened by the baseline's own uncertainty.
func (m Model) testDay(d time.Time, dc dayCounts, days map[time.Time]dayCounts, region string, refs []string, skip map[time.Time]bool) (ChainStressDay, bool) {
	type obs struct {
		o int
		e float64
	}
	var base []obs
	sumO, sumE := 0, 0.0
	for b := d.Add(-StressBaselineDays * oneDay); b.Before(d); b = b.Add(oneDay) {
		bc, ok := days[b]
		if !ok || bc.blocks == 0 || bc.seconds < 6*3600 || skip[b] {
			continue // a day seen for a few hours only says little about a rate
		}
		o := refCount(bc, refs)
		base = append(base, obs{o, bc.seconds / BlockSeconds})
		sumO += o
		sumE += bc.seconds / BlockSeconds
	}
	if len(base) < StressBaselineMinDays || sumO == 0 || dc.blocks == 0 {
		return ChainStressDay{}, false
	}
	r0 := float64(sumO) / sumE
	var chi2 float64
	for _, b := range base {
		mu := r0 * b.e
		chi2 += (float64(b.o) - mu) * (float64(b.o) - mu) / mu
	}
	phi := math.Min(StressMaxDispersion, math.Max(1, chi2/float64(len(base)-1)))
	expected := dc.seconds / BlockSeconds
	lambda := r0 * expected
	o := refCount(dc, refs)
	phiEff := phi * (1 + lambda/float64(sumO))
	p := overdispersedPoissonLowerTail(o, lambda, phiEff)
	lo, hi := poissonMeanInterval(o)
	t := ChainStressDay{
		Window: WindowOf(Day, d), Final: dc.final, Region: region, Reference: refs,
		Blocks: dc.blocks, RefBlocks: o, RefExpected: lambda, BaselineShare: r0, Dispersion: phi,
		Drop:   Interval{Value: 1 - float64(o)/lambda, Lower: 1 - hi/lambda, Upper: 1 - lo/lambda},
		PValue: p, Method: MethodReferenceShare, ModelVersion: m.Version,
	}
	implied := dc.work / float64(dc.blocks) / BlockSeconds
	plo, phi2 := poissonMeanInterval(dc.blocks)
	frac := Interval{
		Value: math.Max(0, 1-float64(dc.blocks)/expected),
		Lower: math.Max(0, 1-phi2/expected),
		Upper: math.Max(0, 1-plo/expected),
	}
	t.Shortfall = scaleInterval(frac, implied)
	t.ShortfallGW = scaleInterval(t.Shortfall, m.Fleet(d.Add(12*time.Hour)).Best*PUEBest/1e21)
	h := sha256.New()
	var buf [40]byte
	binary.LittleEndian.PutUint64(buf[0:], uint64(d.Unix()))
	binary.LittleEndian.PutUint64(buf[8:], uint64(dc.blocks))
	binary.LittleEndian.PutUint64(buf[16:], uint64(o))
	binary.LittleEndian.PutUint64(buf[24:], math.Float64bits(r0))
	binary.LittleEndian.PutUint64(buf[32:], math.Float64bits(phi))
	h.Write(buf[:])
	h.Write([]byte(region + "|" + strings.Join(refs, ",")))
	t.InputsDigest = hex.EncodeToString(h.Sum(nil)[:16])
	return t, true
}

// overdispersedPoissonLowerTail is P(X ≤ k) for X with mean λ and variance φ·λ: Poisson when
// φ = 1, else negative binomial (a gamma mixture of Poissons).
func overdispersedPoissonLowerTail(k int, lambda, phi float64) float64 {
	if phi <= 1+1e-9 {
		return distuv.Poisson{Lambda: lambda}.CDF(float64(k))
	}
	// NB with size r and success probability q: mean r(1−q)/q = λ, variance λ/q = φλ.
	q := 1 / phi
	r := lambda * q / (1 - q)
	lg := func(x float64) float64 { v, _ := math.Lgamma(x); return v }
	var sum float64
	for j := 0; j <= k; j++ {
		sum += math.Exp(lg(float64(j)+r) - lg(r) - lg(float64(j)+1) + r*math.Log(q) + float64(j)*math.Log(1-q))
	}
	return math.Min(1, sum)
}

// benjaminiHochberg sets every test's QValue: p·m/rank, made monotone from the largest p down.
func benjaminiHochberg(tests []ChainStressDay) {
	idx := make([]int, len(tests))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return tests[idx[a]].PValue < tests[idx[b]].PValue })
	m := float64(len(tests))
	q := 1.0
	for k := len(idx) - 1; k >= 0; k-- {
		i := idx[k]
		q = math.Min(q, tests[i].PValue*m/float64(k+1))
		tests[i].QValue = q
	}
}

// exposures fits, for every region with event days in a year, every non-reference pool's
// exposure: b_k(d) ~ Poisson(μ_k(d)·(1 − e·δ(d))), μ_k its trailing share (event days left out)
// of the blocks the difficulty expects, δ(d) the reference pools' loss of blocks measured the
// same way on event days (0 on other days) — FitBeta with δ as the stress. e is 1 for a pool
// wholly on the region's grid and 0 for one wholly elsewhere. p-values are Bonferroni-adjusted
// over the fits of the year.
func (m Model) exposures(days map[time.Time]dayCounts, order []time.Time, tests []ChainStressDay, events map[string]map[time.Time]bool) []Signal {
	drop := map[string]map[time.Time]ChainStressDay{}
	refs := map[string]map[string]bool{}
	for _, t := range tests {
		if !t.Event() {
			continue
		}
		if drop[t.Region] == nil {
			drop[t.Region], refs[t.Region] = map[time.Time]ChainStressDay{}, map[string]bool{}
		}
		drop[t.Region][t.Window.Start] = t
		for _, p := range t.Reference {
			refs[t.Region][p] = true
		}
	}
	years := map[int][]time.Time{}
	for _, d := range order {
		years[d.Year()] = append(years[d.Year()], d)
	}
	var out []Signal
	var regions []string
	for r := range drop {
		regions = append(regions, r)
	}
	sort.Strings(regions)
	yearList := make([]int, 0, len(years))
	for y := range years {
		yearList = append(yearList, y)
	}
	sort.Ints(yearList)
	for _, y := range yearList {
		ds := years[y]
		total := 0
		poolBlocks := map[string]int{}
		final := true
		for _, d := range ds {
			total += days[d].blocks
			final = final && days[d].final
			for p, n := range days[d].pools {
				poolBlocks[p] += n
			}
		}
		var pools []string
		for p, n := range poolBlocks {
			if float64(n) >= FitMinPoolShare*float64(total) && p != "unknown" {
				pools = append(pools, p)
			}
		}
		sort.Strings(pools)
		first := len(out)
		w := WindowOf(Year, ds[0])
		for _, region := range regions {
			ev := 0
			for _, d := range ds {
				if events[region][d] {
					ev++
				}
			}
			if ev < FitMinEvents {
				continue
			}
			for _, pool := range pools {
				if refs[region][pool] {
					continue
				}
				obs, used, digest := exposureDays(ds, days, pool, drop[region], events[region])
				fit, err := FitBeta(obs)
				if err != nil {
					continue // fewer than one usable event day for this pool
				}
				out = append(out, Signal{
					Window: w, Final: final, Signal: SignalGridExposure, Pool: pool, Region: region,
					Country: stressRegionCountry(region), Beta: fit.Beta, PValue: fit.PValue, Events: fit.Events,
					Blocks: used, Shed: Interval{}, ShedPower: Interval{}, Method: MethodExposureMLE,
					ModelVersion: m.Version, InputsDigest: digest,
				})
			}
		}
		for i := first; i < len(out); i++ {
			out[i].PValue = math.Min(1, out[i].PValue*float64(len(out)-first))
		}
	}
	return out
}

// exposureDays are the days of a year usable for pool's exposure fit: those with a trailing
// baseline of the pool's share (event days left out of it), stress = the reference drop on
// event days (clipped to [0, 1]) and 0 on the others.
func exposureDays(ds []time.Time, days map[time.Time]dayCounts, pool string, drop map[time.Time]ChainStressDay, events map[time.Time]bool) ([]StressDay, int, string) {
	var obs []StressDay
	used := 0
	h := sha256.New()
	var buf [24]byte
	for _, d := range ds {
		dc := days[d]
		bp, bt, bd := 0, 0, 0
		for b := d.Add(-StressBaselineDays * oneDay); b.Before(d); b = b.Add(oneDay) {
			bc, ok := days[b]
			if !ok || events[b] {
				continue
			}
			bp += bc.pools[pool]
			bt += bc.blocks
			bd++
		}
		if bd < BaselineMinDays || bp == 0 || dc.blocks == 0 {
			continue
		}
		// Both sides absolute: the pool's blocks against its baseline share of the blocks the
		// difficulty expects, and the stress the reference pools' own loss measured the same way
		// (a pool far from the region gains share on an event day but loses no blocks).
		expected := dc.seconds / BlockSeconds
		s := 0.0
		if t, ok := drop[d]; ok && events[d] {
			s = math.Max(0, math.Min(1, t.Drop.Value))
		}
		mu := float64(bp) / float64(bt) * expected
		n := dc.pools[pool]
		obs = append(obs, StressDay{Blocks: n, Expected: mu, Stress: s})
		used += n
		binary.LittleEndian.PutUint64(buf[0:], uint64(n))
		binary.LittleEndian.PutUint64(buf[8:], math.Float64bits(mu))
		binary.LittleEndian.PutUint64(buf[16:], math.Float64bits(s))
		h.Write(buf[:])
	}
	return obs, used, hex.EncodeToString(h.Sum(nil)[:16])
}
