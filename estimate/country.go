package estimate

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
)

// Unallocated is the country code of hashrate no allocation row places: pools without a row
// and blocks of unknown pools (METHOD.md §6.4). It is always reported.
const Unallocated = "XX"

// AllocationRow says where one pool's hashrate sits: Shares by ISO country code (positive,
// summing to 1) and the confidence Kappa, a pseudo-count of how many blocks' worth of evidence
// the row is.
type AllocationRow struct {
	Pool   string
	Shares map[string]float64
	Kappa  float64
}

// CountryResult is one country's hashrate and share of the network in a window: the mean share
// over the Monte Carlo draws (and that share of the network's W/T), with the 2.5 % / 97.5 %
// quantiles of the draws.
type CountryResult struct {
	Country  string
	Hashrate Interval // H/s
	Share    Interval // of the network hashrate
}

// countryBufs recycles the draw buffers of CountryHashrates: a rebuild runs thousands of
// windows, each with countries × draws × 2 values.
var countryBufs = sync.Pool{New: func() any { return new([]float64) }}

// CountryHashrates is the seeded Monte Carlo of METHOD.md §6.2 for one window of the given length
// holding blocks of total work (hashes), with counts the blocks per pool: in each of draws
// draws, H ~ (W/b)·Gamma(b + 0.5, T), p ~ Dirichlet(b_k + 0.5), each allocation row
// m_k ~ Dirichlet(κ_k · M[k, ·]) over its non-zero entries, and H_c = H · Σ_k p_k · m_kc; pools
// without a row go to Unallocated. Results are sorted by hashrate, largest first, and
// always include Unallocated. The same inputs and seed give the same results.
func CountryHashrates(work, seconds float64, counts []PoolCount, rows map[string]AllocationRow, draws int, seed uint64) ([]CountryResult, error) {
	return countryHashrates(work, seconds, counts, rows, WindowPrior{}, draws, seed, NewRowBank(seed))
}

// countryHashrates is CountryHashrates with the allocation rows' draws taken from bank and,
// when prior is not nil, the hashrate no row places spread by the prior (METHOD.md §6.8):
// pools without a row take a draw of the prior, and the XX part of a row takes the same draw
// restricted to the countries the row does not name. One draw of the prior is shared by every
// pool in a Monte Carlo draw (and, through bank, by every window), never drawn per pool:
// independent draws would average its uncertainty away. Each draw of the prior, taken from
// the bank, is reduced by what the rows place (WindowPrior.Taken) and raised to the site floors
// (METHOD.md §6.9), so the bank holds one entry per map and age, not one per window.
func countryHashrates(work, seconds float64, counts []PoolCount, rows map[string]AllocationRow, wp WindowPrior, draws int, seed uint64, bank *RowBank) ([]CountryResult, error) {
	prior, floors := wp.Row, wp.Floors
	b := 0
	for _, c := range counts {
		if c.Blocks < 0 {
			return nil, fmt.Errorf("pool %s: %d blocks", c.Pool, c.Blocks)
		}
		b += c.Blocks
	}
	if b == 0 {
		return nil, fmt.Errorf("no blocks in the window")
	}
	if draws < 10 {
		return nil, fmt.Errorf("%d draws: need at least 10", draws)
	}
	// Index the countries, and for each pool the countries of its row with their alphas.
	countryIdx := map[string]int{Unallocated: 0}
	countries := []string{Unallocated}
	intern := func(cc string) int { // the index of country cc, added when new
		j, ok := countryIdx[cc]
		if !ok {
			j = len(countries)
			countryIdx[cc] = j
			countries = append(countries, cc)
		}
		return j
	}
	type poolRow struct {
		row   bool      // the pool has an allocation row
		idx   []int     // country indices
		m     []float64 // the row's draws: m[d*len(idx)+k] is draw d's share of country idx[k]
		prior bool      // the component takes the prior's draw
		allow []int     // for a row with an XX part: the prior's countries the row does not name (indices in pidx, ascending)
	}
	// The prior's countries (those of its map, then those only the sites name), their floors
	// and the map's draws.
	var pidx []int
	var pfloor, ptaken []float64
	var pm []float64
	nBase := 0
	if prior != nil {
		names := make([]string, 0, len(prior.Shares))
		for cc, s := range prior.Shares {
			if s > 0 {
				names = append(names, cc)
			}
		}
		sort.Strings(names)
		if len(names) == 0 || prior.Kappa <= 0 {
			return nil, fmt.Errorf("prior %s: needs a positive kappa and a country with a positive share", prior.Pool)
		}
		nBase = len(names)
		for _, cc := range sortedCountries(floors) {
			if prior.Shares[cc] <= 0 {
				names = append(names, cc) // a country only the sites name: 0 in every draw
			}
		}
		for _, cc := range names {
			pidx = append(pidx, intern(cc))
			pfloor = append(pfloor, floors[cc])
			ptaken = append(ptaken, wp.Taken[cc])
		}
		pm = bank.draws(*prior, names[:nBase], draws)
	}
	prow := make([]poolRow, len(counts))
	for i, c := range counts {
		row, ok := rows[c.Pool]
		if !ok {
			prow[i] = poolRow{idx: []int{0}}
			continue
		}
		if row.Kappa <= 0 {
			return nil, fmt.Errorf("allocation of pool %s: kappa %g must be positive", c.Pool, row.Kappa)
		}
		names := make([]string, 0, len(row.Shares))
		for cc, s := range row.Shares {
			if s > 0 {
				names = append(names, cc)
			}
		}
		sort.Strings(names) // map order must not reach the random stream
		if len(names) == 0 {
			return nil, fmt.Errorf("allocation of pool %s: no country with a positive share", c.Pool)
		}
		for _, cc := range names {
			prow[i].idx = append(prow[i].idx, intern(cc))
		}
		prow[i].row, prow[i].m = true, bank.draws(row, names, draws)
		if prior != nil && row.Shares[Unallocated] > 0 {
			other := false
			for k, j := range pidx {
				if j == 0 || row.Shares[countries[j]] <= 0 {
					prow[i].allow = append(prow[i].allow, k)
					other = other || j != 0
				}
			}
			if !other {
				prow[i].allow = nil // the prior names no other country: the XX part stays
			}
		}
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x6a09e667f3bcc909))
	h := make([]float64, draws)
	NetworkDraws(h, work, b, seconds, rng)
	// The pools without a row all go to Unallocated: by the aggregation property of the
	// Dirichlet, their summed share is one component with the summed alpha, so they are drawn
	// as one (the same distribution, at a fraction of the cost: most pools have no row).
	var comps []poolRow
	var poolSamplers []gammaSampler
	unallocAlpha := 0.0
	for i, c := range counts {
		if !prow[i].row {
			unallocAlpha += float64(c.Blocks) + 0.5
			continue
		}
		comps = append(comps, prow[i])
		poolSamplers = append(poolSamplers, newGammaSampler(float64(c.Blocks)+0.5))
	}
	if unallocAlpha > 0 {
		if prior != nil {
			comps = append(comps, poolRow{idx: pidx, prior: true})
		} else {
			comps = append(comps, poolRow{idx: []int{0}})
		}
		poolSamplers = append(poolSamplers, newGammaSampler(unallocAlpha))
	}
	bufp := countryBufs.Get().(*[]float64)
	defer countryBufs.Put(bufp)
	if need := 2 * len(countries) * draws; cap(*bufp) < need {
		*bufp = make([]float64, need)
	}
	buf := (*bufp)[:2*len(countries)*draws]
	hc := make([][]float64, len(countries))
	share := make([][]float64, len(countries))
	for j := range countries {
		hc[j] = buf[2*j*draws : (2*j+1)*draws]
		share[j] = buf[(2*j+1)*draws : (2*j+2)*draws]
	}
	p := make([]float64, len(comps))
	frac := make([]float64, len(countries))
	sum := make([]float64, len(countries)) // of each country's share draws
	one := []float64{1}
	q := make([]float64, len(pidx)) // the prior's draw d, raised to the floors
	hasFloors, hasTaken := len(floors) > 0, len(wp.Taken) > 0
	for d := 0; d < draws; d++ {
		dirichletWith(p, poolSamplers, rng)
		clear(frac)
		if len(pidx) > 0 {
			src := one // a one-country map
			if pm != nil {
				src = pm[d*nBase : (d+1)*nBase]
			}
			if hasTaken {
				residualOf(q, src, ptaken)
			} else {
				copy(q, src)
				clear(q[len(src):])
			}
			if hasFloors {
				raiseToFloors(q, pfloor)
			}
		}
		for i := range comps {
			r := comps[i]
			if r.prior {
				for k, j := range pidx {
					frac[j] += p[i] * q[k]
				}
				continue
			}
			if r.m == nil {
				frac[r.idx[0]] += p[i]
				continue
			}
			n := len(r.idx)
			mk := r.m[d*n : (d+1)*n]
			for k, j := range r.idx {
				v := p[i] * mk[k]
				if j != 0 || r.allow == nil {
					frac[j] += v
					continue
				}
				// the row's XX part: the prior's draw over the countries the row does not name
				s := 0.0
				for _, k2 := range r.allow {
					s += q[k2]
				}
				if s <= 0 {
					frac[0] += v
					continue
				}
				for _, k2 := range r.allow {
					frac[pidx[k2]] += v * q[k2] / s
				}
			}
		}
		for j, f := range frac {
			// Sums of draws may pass 1 by rounding. The share's sum is taken here, in the
			// order of the draws, as the mean below would take it.
			sh := f
			if sh > 1 {
				sh = 1
			}
			share[j][d] = sh
			sum[j] += sh
			hc[j][d] = f * h[d]
		}
	}
	out := make([]CountryResult, len(countries))
	var sc tailScratch
	network := work / seconds
	for j, cc := range countries {
		// The point value is the mean share of the draws (× the network's W/T for hashrate),
		// not the median: means add up, so a window's country shares sum to 100 % and its
		// country hashrates to the network estimate; medians of skewed small shares do not
		// (they summed to ~98 % on real months). The interval is the 2.5/97.5 % quantiles.
		mean := sum[j] / float64(draws)
		hl, hh := quantiles2(hc[j], 0.025, 0.975, &sc)
		sl, sh := quantiles2(share[j], 0.025, 0.975, &sc)
		// A share drawn from a very skewed Dirichlet component (a small share of an old map:
		// α = κ·π ≪ 1) has its mean above its 97.5 % quantile; the interval is widened to
		// hold the value (METHOD.md §6.5), so it covers at least 95 %.
		sl, sh = min(sl, mean), max(sh, mean)
		hl, hh = min(hl, mean*network), max(hh, mean*network)
		out[j] = CountryResult{
			Country:  cc,
			Hashrate: Interval{Value: mean * network, Lower: hl, Upper: hh},
			Share:    Interval{Value: mean, Lower: sl, Upper: sh},
		}
	}
	sort.SliceStable(out, func(a, b int) bool {
		if out[a].Hashrate.Value != out[b].Hashrate.Value {
			return out[a].Hashrate.Value > out[b].Hashrate.Value
		}
		return out[a].Country < out[b].Country
	})
	return out, nil
}

// EnergyAdjusted returns the allocation row with country raised to share beta when beta exceeds
// its current share, the other entries rescaled so the row still sums to 1 (METHOD.md §8.9, the
// energy-adjusted variant, applied for significant curtailment fits only). The row is returned
// unchanged when beta does not exceed the current share. The input is not modified.
func EnergyAdjusted(row AllocationRow, country string, beta float64) (AllocationRow, error) {
	if beta < 0 || beta > 1 {
		return AllocationRow{}, fmt.Errorf("beta %g for pool %s: must be within [0, 1]", beta, row.Pool)
	}
	cur := row.Shares[country]
	if beta <= cur {
		return row, nil
	}
	out := AllocationRow{Pool: row.Pool, Kappa: row.Kappa, Shares: make(map[string]float64, len(row.Shares)+1)}
	rest := 1 - cur
	for cc, s := range row.Shares {
		if cc == country {
			continue
		}
		if rest > 0 {
			out.Shares[cc] = s / rest * (1 - beta)
		}
	}
	out.Shares[country] = beta
	return out, nil
}

// RowBank holds the Monte Carlo draws of allocation rows, m ~ Dirichlet(κ·M), shared by every
// window: draw d of a row is the same in every window's draw d. The allocation's uncertainty
// is one unknown for all windows (where a pool's machines are does not change from one day to
// the next independently), so sharing it keeps a day, its week and its month consistent; and
// a row is drawn once per rebuild instead of once per window. Each row's draws are seeded by
// the bank's seed and the row's content. Safe for concurrent use.
type RowBank struct {
	seed uint64
	mu   sync.Mutex
	rows map[string][]float64
}

// NewRowBank returns an empty bank whose draws derive from seed.
func NewRowBank(seed uint64) *RowBank {
	return &RowBank{seed: seed, rows: map[string][]float64{}}
}

// draws returns n draws of row over names (sorted, the row's positive entries), flattened:
// element d*len(names)+k is draw d's share of names[k]. A one-country row is the constant 1
// (nil: no draws needed). The caller must not modify the slice.
func (b *RowBank) draws(row AllocationRow, names []string, n int) []float64 {
	if len(names) == 1 {
		return nil
	}
	var key strings.Builder
	fmt.Fprintf(&key, "%s|%d|%.17g", row.Pool, n, row.Kappa)
	for _, c := range names {
		fmt.Fprintf(&key, "|%s=%.17g", c, row.Shares[c])
	}
	k := key.String()
	b.mu.Lock()
	defer b.mu.Unlock()
	if v, ok := b.rows[k]; ok {
		return v
	}
	seed := Seed(fmt.Sprint(b.seed), k)
	rng := rand.New(rand.NewPCG(seed, seed^0x3c6ef372fe94f82b))
	gs := make([]gammaSampler, len(names))
	for i, c := range names {
		gs[i] = newGammaSampler(row.Kappa * row.Shares[c])
	}
	v := make([]float64, n*len(names))
	for d := 0; d < n; d++ {
		dirichletWith(v[d*len(names):(d+1)*len(names)], gs, rng)
	}
	b.rows[k] = v
	return v
}
