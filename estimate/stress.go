package estimate

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// StressDay is one day of a pool under a grid region: the pool's blocks, the blocks expected of
// it (its trailing-baseline share × the network's expected blocks), and the region's stress
// s ∈ [0, 1].
type StressDay struct {
	Blocks   int
	Expected float64
	Stress   float64
}

// BetaFit is the maximum-likelihood curtailment fraction β of a pool under a grid region, with
// its 95 % profile-likelihood interval and the p-value of the likelihood-ratio test against
// β = 0 (METHOD.md §8.4).
type BetaFit struct {
	Beta   Interval
	PValue float64
	Events int // days with stress > 0
}

// FitBeta fits b(t) ~ Poisson(μ(t) · (1 − β·s(t))) for β ∈ [0, 1] by maximum likelihood. The
// log-likelihood is concave in β, so the maximum is found by bisection on its derivative; the
// interval is {β : 2(ℓ(β̂) − ℓ(β)) ≤ χ²(0.95; 1)} within [0, 1]; the p-value of H0: β = 0 uses
// the boundary-corrected null ½χ²(0) + ½χ²(1).
func FitBeta(days []StressDay) (BetaFit, error) {
	events := 0
	for i, d := range days {
		if d.Expected <= 0 || d.Blocks < 0 || d.Stress < 0 || d.Stress > 1 || math.IsNaN(d.Stress) {
			return BetaFit{}, fmt.Errorf("day %d: blocks %d, expected %g, stress %g: need expected > 0, blocks >= 0, stress in [0, 1]", i, d.Blocks, d.Expected, d.Stress)
		}
		if d.Stress > 0 {
			events++
		}
	}
	if events == 0 {
		return BetaFit{}, fmt.Errorf("no day with grid stress: β is not identifiable")
	}
	ll := func(beta float64) float64 {
		var l float64
		for _, d := range days {
			rate := d.Expected * (1 - beta*d.Stress)
			if rate <= 0 {
				if d.Blocks > 0 {
					return math.Inf(-1)
				}
				continue
			}
			l += float64(d.Blocks)*math.Log(rate) - rate
		}
		return l
	}
	// dℓ/dβ = Σ s·(μ − b/(1 − β s)) for s > 0: decreasing in β.
	deriv := func(beta float64) float64 {
		var g float64
		for _, d := range days {
			if d.Stress == 0 {
				continue
			}
			g += d.Stress*d.Expected - float64(d.Blocks)*d.Stress/(1-beta*d.Stress)
		}
		return g
	}
	const hi = 1 - 1e-12
	var beta float64
	switch {
	case deriv(0) <= 0:
		beta = 0
	case deriv(hi) >= 0:
		beta = hi
	default:
		lo, up := 0.0, hi
		for i := 0; i < 200 && up-lo > 1e-12; i++ {
			mid := (lo + up) / 2
			if deriv(mid) > 0 {
				lo = mid
			} else {
				up = mid
			}
		}
		beta = (lo + up) / 2
	}
	lmax := ll(beta)
	crit := distuv.ChiSquared{K: 1}.Quantile(Level)
	inside := func(b float64) bool { return 2*(lmax-ll(b)) <= crit }
	// The profile bounds: bisect between β̂ and each end of [0, 1].
	bound := func(end float64) float64 {
		if inside(end) {
			return end
		}
		in, out := beta, end
		for i := 0; i < 200 && math.Abs(out-in) > 1e-10; i++ {
			mid := (in + out) / 2
			if inside(mid) {
				in = mid
			} else {
				out = mid
			}
		}
		return in
	}
	stat := 2 * (lmax - ll(0))
	p := 1.0
	if stat > 0 {
		p = 0.5 * (1 - distuv.ChiSquared{K: 1}.CDF(stat))
	}
	return BetaFit{Beta: Interval{Value: beta, Lower: bound(0), Upper: bound(hi)}, PValue: p, Events: events}, nil
}
