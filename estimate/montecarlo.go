package estimate

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
)

// DefaultDraws is the number of Monte Carlo draws behind an interval (MODEL.md §3).
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

// NetworkDraws samples the network rate H ~ (W/b) · Gamma(shape = b + 0.5, rate = T) (MODEL.md §3,
// step 1) into dst, which must have the length of the number of draws.
func NetworkDraws(dst []float64, work float64, blocks int, seconds float64, rng *rand.Rand) {
	perBlock := work / float64(blocks) / seconds
	shape := float64(blocks) + 0.5
	for i := range dst {
		dst[i] = perBlock * gammaRand(shape, rng)
	}
}

// gammaRand draws from Gamma(shape, rate 1) by Marsaglia and Tsang's method ("A simple method
// for generating gamma variables", ACM TOMS 26(3), 2000), boosting shapes below 1 with
// U^(1/shape). It allocates nothing, unlike distuv.Gamma.Rand, which matters at millions of
// draws per rebuild; TestGammaRandMatchesGonum checks it against gonum's distribution.
func gammaRand(shape float64, rng *rand.Rand) float64 {
	if shape < 1 {
		return gammaRand(shape+1, rng) * math.Pow(rng.Float64(), 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

// dirichlet draws p ~ Dirichlet(alpha) into dst by normalised Gamma variates.
func dirichlet(dst, alpha []float64, rng *rand.Rand) {
	var sum float64
	for i, a := range alpha {
		dst[i] = gammaRand(a, rng)
		sum += dst[i]
	}
	for i := range dst {
		dst[i] /= sum
	}
}

// PoolHashrates computes every pool's share and hashrate in a window of the given length
// holding blocks of total work (hashes): shares by Clopper–Pearson, hashrates as p̂_k · Ĥ with
// the interval of p_k · H over `draws` Monte Carlo draws of H ~ (W/b)·Gamma(b+0.5, T) and
// p ~ Dirichlet(b_k + 0.5). counts must hold every block of the window once (unknown included).
// The result is in the order of counts and deterministic for a given seed.
func PoolHashrates(work, seconds float64, counts []PoolCount, draws int, seed uint64) ([]PoolHashrateResult, error) {
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
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	h := make([]float64, draws)
	NetworkDraws(h, work, b, seconds, rng)
	alpha := make([]float64, len(counts))
	for i, c := range counts {
		alpha[i] = float64(c.Blocks) + 0.5
	}
	flat := make([]float64, len(counts)*draws)
	samples := make([][]float64, len(counts))
	for i := range samples {
		samples[i] = flat[i*draws : (i+1)*draws]
	}
	p := make([]float64, len(counts))
	for d := 0; d < draws; d++ {
		dirichlet(p, alpha, rng)
		for i := range counts {
			samples[i][d] = p[i] * h[d]
		}
	}
	netHat := work / seconds
	out := make([]PoolHashrateResult, len(counts))
	for i, c := range counts {
		share, err := Share(c.Blocks, b)
		if err != nil {
			return nil, err
		}
		lo, hi := Quantiles2(samples[i], 0.025, 0.975)
		val := share.Value * netHat
		// The point estimate is p̂·Ĥ; keep it inside its interval when a pool has very few blocks
		// and the draws' quantiles sit on one side of it.
		lo, hi = min(lo, val), max(hi, val)
		out[i] = PoolHashrateResult{Pool: c.Pool, Blocks: c.Blocks, Share: share, Hashrate: Interval{Value: val, Lower: lo, Upper: hi}}
	}
	return out, nil
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

// Quantiles2 returns the q1- and q2-quantiles (q1 <= q2) of xs as Quantile would, selecting
// the second only among the elements above the first. It reorders xs in place.
func Quantiles2(xs []float64, q1, q2 float64) (float64, float64) {
	n := len(xs)
	if n == 0 {
		return 0, 0
	}
	a := Quantile(xs, q1)
	// Quantile left every element right of int(q1·(n−1)) no smaller than that order statistic,
	// so the second quantile's order statistics lie in that tail.
	i := int(q1 * float64(n-1))
	if i >= n-1 {
		return a, xs[n-1]
	}
	pos := q2*float64(n-1) - float64(i)
	tail := xs[i:]
	j := int(pos)
	if j >= len(tail)-1 {
		return a, maxOf(tail)
	}
	lo := selectKth(tail, j)
	frac := pos - float64(j)
	if frac == 0 {
		return a, lo
	}
	next := minOf(tail[j+1:])
	return a, lo + frac*(next-lo)
}

func maxOf(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs[1:] {
		if x > m {
			m = x
		}
	}
	return m
}

func minOf(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs[1:] {
		if x < m {
			m = x
		}
	}
	return m
}

// selectKth reorders xs so that xs[k] is the k-th smallest, smaller ones before it and larger
// ones after (Hoare's selection with a median-of-three pivot), and returns xs[k].
func selectKth(xs []float64, k int) float64 {
	lo, hi := 0, len(xs)-1
	for lo < hi {
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
		i, j := lo, hi
		for i <= j {
			for xs[i] < pivot {
				i++
			}
			for xs[j] > pivot {
				j--
			}
			if i <= j {
				xs[i], xs[j] = xs[j], xs[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return xs[k]
		}
	}
	return xs[k]
}
