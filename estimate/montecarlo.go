package estimate

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"gonum.org/v1/gonum/mathext"
)

// DefaultDraws is the number of Monte Carlo draws behind an interval (METHOD.md §4.3, §6.2).
const DefaultDraws = 2000

// Seed derives the Monte Carlo seed from what identifies a computation: the window, the model
// version and a digest of the inputs. The same inputs under the same model give the same seed,
// hence byte-identical outputs on a recompute.
func Seed(parts ...string) uint64 {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return binary.LittleEndian.Uint64(h.Sum(nil))
}

// PoolCount is the number of blocks one pool found in a window.
type PoolCount struct {
	Pool   string
	Blocks int
}

// PoolHashrateResult is a pool's block share and hashrate in a window.
type PoolHashrateResult struct {
	Pool     string
	Blocks   int
	Share    Interval // p̂ = b_k / b with its Clopper–Pearson interval
	Hashrate Interval // p̂ · Ĥ (H/s) with the 2.5 % / 97.5 % quantiles of p_k · H over the draws
}

// NetworkDraws samples the network rate H ~ (W/b) · Gamma(shape = b + 0.5, rate = T)
// (METHOD.md §6.2, step 1) into dst, which must have the length of the number of draws.
func NetworkDraws(dst []float64, work float64, blocks int, seconds float64, rng *rand.Rand) {
	perBlock := work / float64(blocks) / seconds
	g := newGammaSampler(float64(blocks) + 0.5)
	for i := range dst {
		dst[i] = perBlock * g.draw(rng)
	}
}

// gammaRand draws from Gamma(shape, rate 1) by Marsaglia and Tsang's method ("A simple method
// for generating gamma variables", ACM TOMS 26(3), 2000), boosting shapes below 1 with
// U^(1/shape). It allocates nothing, unlike distuv.Gamma.Rand, which matters at millions of
// draws per rebuild; TestGammaRandMatchesGonum checks it against gonum's distribution.
func gammaRand(shape float64, rng *rand.Rand) float64 {
	return newGammaSampler(shape).draw(rng)
}

// gammaSampler holds the constants of Marsaglia and Tsang's method for one shape, so that
// drawing many variates of the same shape computes them once.
type gammaSampler struct {
	d, c     float64
	invShape float64 // > 0 when shape < 1: the draw is boosted by U^(1/shape)
}

func newGammaSampler(shape float64) gammaSampler {
	g := gammaSampler{}
	if shape < 1 {
		g.invShape = 1 / shape
		shape++
	}
	g.d = shape - 1.0/3
	g.c = 1 / math.Sqrt(9*g.d)
	return g
}

func (g gammaSampler) draw(rng *rand.Rand) float64 {
	for {
		x := rng.NormFloat64()
		v := 1 + g.c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+g.d*(1-v+math.Log(v)) {
			if g.invShape > 0 {
				// U^(1/shape) = exp(−E/shape) with E = −ln U ~ Exp(1), drawn by the ziggurat
				// (no logarithm, and one exp instead of a pow: these draws dominate rows of
				// the allocation table, whose κ·M entries are mostly below 1).
				return g.d * v * math.Exp(-rng.ExpFloat64()*g.invShape)
			}
			return g.d * v
		}
	}
}

// dirichlet draws p ~ Dirichlet(alpha) into dst by normalised Gamma variates.
func dirichlet(dst, alpha []float64, rng *rand.Rand) {
	gs := make([]gammaSampler, len(alpha))
	for i, a := range alpha {
		gs[i] = newGammaSampler(a)
	}
	dirichletWith(dst, gs, rng)
}

// dirichletWith is dirichlet with the samplers of alpha prepared.
func dirichletWith(dst []float64, gs []gammaSampler, rng *rand.Rand) {
	var sum float64
	for i, g := range gs {
		dst[i] = g.draw(rng)
		sum += dst[i]
	}
	for i := range dst {
		dst[i] /= sum
	}
}

// PoolHashrates computes every pool's share and hashrate in a window of the given length
// holding blocks of total work (hashes) (METHOD.md §4.3): shares by Clopper–Pearson, hashrates
// as p̂_k · Ĥ = (W/b)·b_k/T with the exact interval of the pool's own Poisson rate under the
// Jeffreys prior, (W/b)/T · Gamma(b_k + 0.5) quantiles — the network's construction (step 1 of
// §6.2) applied to the pool's blocks. counts must hold every block of the window once (unknown
// included). The result is in the order of counts.
func PoolHashrates(work, seconds float64, counts []PoolCount) ([]PoolHashrateResult, error) {
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
	if seconds <= 0 {
		return nil, fmt.Errorf("window of %g s: must be positive", seconds)
	}
	perBlock := work / float64(b) / seconds
	out := make([]PoolHashrateResult, len(counts))
	for i, c := range counts {
		share, err := Share(c.Blocks, b)
		if err != nil {
			return nil, err
		}
		q := jeffreysQuantiles(c.Blocks)
		val := perBlock * float64(c.Blocks)
		// A pool with no block has the point value 0, below the rate's lower quantile.
		lo, hi := min(perBlock*q[0], val), max(perBlock*q[1], val)
		out[i] = PoolHashrateResult{Pool: c.Pool, Blocks: c.Blocks, Share: share, Hashrate: Interval{Value: val, Lower: lo, Upper: hi}}
	}
	return out, nil
}

// jeffreysCache holds jeffreysQuantiles by block count: windows share block counts, and the
// inverse incomplete gamma function costs microseconds.
var jeffreysCache sync.Map // int → [2]float64

// jeffreysQuantiles returns the 2.5 % and 97.5 % quantiles of Gamma(k + 0.5, 1), the Jeffreys
// posterior of a Poisson mean after k events.
func jeffreysQuantiles(k int) [2]float64 {
	if q, ok := jeffreysCache.Load(k); ok {
		return q.([2]float64)
	}
	a := float64(k) + 0.5
	q := [2]float64{mathext.GammaIncRegInv(a, 0.025), mathext.GammaIncRegInv(a, 0.975)}
	jeffreysCache.Store(k, q)
	return q
}

// Quantile is the q-quantile of xs by linear interpolation between order statistics (type 7,
// the default of R and NumPy). It reorders xs in place (selection, O(n): no full sort).
func Quantile(xs []float64, q float64) float64 {
	n := len(xs)
	if n == 0 {
		return 0
	}
	pos := q * float64(n-1)
	i := int(pos)
	if i >= n-1 {
		i = n - 1
	}
	lo := selectKth(xs, i)
	frac := pos - float64(i)
	if frac == 0 || i == n-1 {
		return lo
	}
	// After selection every element right of i is >= xs[i]: the next order statistic is their minimum.
	next := xs[i+1]
	for _, x := range xs[i+2:] {
		if x < next {
			next = x
		}
	}
	return lo + frac*(next-lo)
}

// Quantiles2 returns the q1- and q2-quantiles (q1 < q2, both in the tails) of xs exactly as
// Quantile would. It guesses each quantile from every 8th element (for q1 = 2.5 % the guess
// sits near the 6 % point), gathers the elements beyond the guesses, and selects within those
// few; when a guess leaves out an order statistic it needs, it selects in the whole slice
// instead, so the result never depends on the guess. It may reorder xs.
func Quantiles2(xs []float64, q1, q2 float64) (float64, float64) {
	return quantiles2(xs, q1, q2, &tailScratch{})
}

// tailScratch holds Quantiles2's working slices between calls.
type tailScratch struct{ pilot, low, high []float64 }

func quantiles2(xs []float64, q1, q2 float64, sc *tailScratch) (float64, float64) {
	n := len(xs)
	if n == 0 {
		return 0, 0
	}
	p1, p2 := q1*float64(n-1), q2*float64(n-1)
	i1, i2 := int(p1), int(p2)
	j1, j2 := min(i1+1, n-1), min(i2+1, n-1)
	var low, high []float64
	var loFixed, hiFixed bool
	var loVal, hiVal float64
	if n >= 512 {
		pilot := sc.pilot[:0]
		for i := 0; i < n; i += 8 {
			pilot = append(pilot, xs[i])
		}
		sc.pilot = pilot
		m := len(pilot)
		rlo := int(math.Ceil((q1+0.035)*float64(m))) - 1
		rhi := m - 1 - (int(math.Ceil((1-q2+0.035)*float64(m))) - 1)
		if rlo >= 0 && rhi > rlo {
			multiSelect(pilot, 0, m-1, []int{rlo, rhi})
			lo, hi := pilot[rlo], pilot[rhi]
			low, high = sc.low[:0], sc.high[:0]
			ltLo, gtHi := 0, 0 // draws strictly below lo, strictly above hi
			for _, x := range xs {
				if x <= lo {
					low = append(low, x)
					if x < lo {
						ltLo++
					}
				} else if x >= hi {
					high = append(high, x)
					if x > hi {
						gtHi++
					}
				}
			}
			// When the ranks of a quantile fall among draws equal to lo (or hi) — a share that
			// is exactly 0 in most draws, say — both order statistics are that value: no
			// selection is needed. Ranks ltLo … len(low)−1 hold lo; ranks
			// n−len(high) … n−1−gtHi hold hi (when hi > lo: else the draws equal to hi are in low).
			loFixed = ltLo <= i1 && j1 < len(low)
			hiFixed = hi > lo && n-len(high) <= i2 && j2 <= n-1-gtHi
			loVal, hiVal = lo, hi
		}
	}
	sc.low, sc.high = low, high
	var a1, b1, a2, b2 float64
	if loFixed {
		a1, b1 = loVal, loVal
	} else if len(low) >= j1+1 {
		// low holds the len(low) smallest elements: global ranks are the same ranks in it.
		multiSelect(low, 0, len(low)-1, []int{i1, j1})
		a1, b1 = low[i1], low[j1]
	} else {
		multiSelect(xs, 0, n-1, []int{i1, j1})
		a1, b1 = xs[i1], xs[j1]
	}
	if hiFixed {
		a2, b2 = hiVal, hiVal
	} else if off := n - len(high); len(high) > 0 && i2 >= off {
		// high holds the len(high) largest elements: global rank r is rank r−off in it.
		multiSelect(high, 0, len(high)-1, []int{i2 - off, j2 - off})
		a2, b2 = high[i2-off], high[j2-off]
	} else {
		multiSelect(xs, 0, n-1, []int{i2, j2})
		a2, b2 = xs[i2], xs[j2]
	}
	return a1 + (p1-float64(i1))*(b1-a1), a2 + (p2-float64(i2))*(b2-a2)
}

// multiSelect reorders xs[lo..hi] so that every index in targets (sorted, within [lo, hi])
// holds the order statistic of that rank.
func multiSelect(xs []float64, lo, hi int, targets []int) {
	for lo < hi && len(targets) > 0 {
		// Drop targets outside [lo, hi].
		for len(targets) > 0 && targets[0] < lo {
			targets = targets[1:]
		}
		for len(targets) > 0 && targets[len(targets)-1] > hi {
			targets = targets[:len(targets)-1]
		}
		if len(targets) == 0 {
			return
		}
		p, q := partition(xs, lo, hi)
		// xs[lo..p-1] < pivot, xs[p..q-1] == pivot, xs[q..hi] > pivot; targets is sorted:
		// those below p come first, those at q or beyond last, those between are settled.
		nl, nr := 0, len(targets)
		for nl < len(targets) && targets[nl] < p {
			nl++
		}
		for nr > 0 && targets[nr-1] >= q {
			nr--
		}
		left, right := targets[:nl], targets[nr:]
		if len(left) > 0 && len(right) > 0 {
			multiSelect(xs, lo, p-1, left)
			lo, targets = q, right
			continue
		}
		if len(left) > 0 {
			hi, targets = p-1, left
		} else {
			lo, targets = q, right
		}
	}
}

// partition is a three-way partition of xs[lo..hi] (lo < hi) around a median-of-three pivot:
// it returns p, q with xs[lo..p-1] < pivot, xs[p..q-1] == pivot and xs[q..hi] > pivot. It
// moves elements without branching on their values (Lomuto's scheme with the comparison
// added to the index), so that it does not pay a mispredicted branch on every other element
// of random draws as Hoare's scheme does; the second pass, which gathers the elements equal
// to the pivot, runs only when there are some beside the pivot (shares exactly 0 in many
// draws), so that ties cannot make the selection quadratic.
func partition(xs []float64, lo, hi int) (int, int) {
	mid := lo + (hi-lo)/2
	if xs[mid] < xs[lo] {
		xs[mid], xs[lo] = xs[lo], xs[mid]
	}
	if xs[hi] < xs[lo] {
		xs[hi], xs[lo] = xs[lo], xs[hi]
	}
	if xs[hi] < xs[mid] {
		xs[hi], xs[mid] = xs[mid], xs[hi]
	}
	pivot := xs[mid]
	xs[mid], xs[hi] = xs[hi], pivot
	s := xs[lo:hi]
	p, eq := 0, 0
	for i, x := range s {
		s[i] = s[p]
		s[p] = x
		p += b2i(x < pivot)
		eq += b2i(x == pivot)
	}
	p += lo
	xs[p], xs[hi] = pivot, xs[p]
	if eq == 0 {
		return p, p + 1
	}
	s = xs[p+1 : hi+1]
	q := 0
	for i, x := range s {
		s[i] = s[q]
		s[q] = x
		q += b2i(x == pivot)
	}
	return p, p + 1 + q
}

// b2i is 1 for true and 0 for false; the compiler makes it a flag-to-register move, not a
// branch.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// selectKth reorders xs so that xs[k] is the k-th smallest, smaller ones before it and larger
// ones after, and returns xs[k].
func selectKth(xs []float64, k int) float64 {
	multiSelect(xs, 0, len(xs)-1, []int{k})
	return xs[k]
}
