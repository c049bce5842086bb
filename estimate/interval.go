package estimate

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// Level is the coverage of every interval hashatlas reports (95 %).
const Level = 0.95

// Interval is a point estimate with its 95 % interval; Lower <= Value <= Upper.
type Interval struct {
	Value, Lower, Upper float64
}

// chi2Quantile is the p-quantile of the χ² distribution with k degrees of freedom (k > 0).
func chi2Quantile(p float64, k float64) float64 {
	return distuv.ChiSquared{K: k}.Quantile(p)
}

// NetworkHashrate is the fixed-window estimator of METHOD.md §3.1: b blocks of total work W
// (hashes) whose header times fall in a window of T seconds give Ĥ = W/T hashes per second,
// with the exact Poisson (Garwood) interval
//
//	[ (W/b)/T · χ²(0.025; 2b)/2 , (W/b)/T · χ²(0.975; 2b+2)/2 ].
//
// With b = 0 the estimate and lower bound are 0 and the upper bound uses workPerBlock, the work
// of one block at the window's difficulty.
func NetworkHashrate(work float64, blocks int, seconds float64, workPerBlock float64) (Interval, error) {
	if seconds <= 0 {
		return Interval{}, fmt.Errorf("window of %g s: must be positive", seconds)
	}
	if blocks < 0 || work < 0 {
		return Interval{}, fmt.Errorf("%d blocks of work %g: must not be negative", blocks, work)
	}
	alpha := 1 - Level
	if blocks == 0 {
		if workPerBlock <= 0 {
			return Interval{}, fmt.Errorf("an empty window needs the work per block, got %g", workPerBlock)
		}
		return Interval{Upper: workPerBlock / seconds * chi2Quantile(1-alpha/2, 2) / 2}, nil
	}
	b := float64(blocks)
	perBlock := work / b / seconds
	return Interval{
		Value: work / seconds,
		Lower: perBlock * chi2Quantile(alpha/2, 2*b) / 2,
		Upper: perBlock * chi2Quantile(1-alpha/2, 2*b+2) / 2,
	}, nil
}

// RecentHashrate is the last-N-blocks estimator of METHOD.md §3.3 for "now". intervals[i] is the
// time in seconds between block i and the one before it, and work[i] the work of block i. With
// α_i = Δt_i / W_i and n intervals, the unbiased rate is (n−1)/Σα and 2·r·Σα ~ χ²(2n) gives the
// interval. (Bitcoin Core's getnetworkhashps is biased high by n/(n−1).) Miner-set times can make
// a Δt negative; the sum of α must still be positive.
func RecentHashrate(intervals, work []float64) (Interval, error) {
	n := len(intervals)
	if n != len(work) {
		return Interval{}, fmt.Errorf("%d intervals but %d work values", n, len(work))
	}
	if n < 2 {
		return Interval{}, fmt.Errorf("%d block intervals: need at least 2", n)
	}
	var sum float64
	for i := range intervals {
		if work[i] <= 0 {
			return Interval{}, fmt.Errorf("work of block %d is %g: must be positive", i, work[i])
		}
		sum += intervals[i] / work[i]
	}
	if sum <= 0 || math.IsNaN(sum) {
		return Interval{}, fmt.Errorf("block intervals sum to %g per unit of work: must be positive", sum)
	}
	alpha := 1 - Level
	k := 2 * float64(n)
	return Interval{
		Value: float64(n-1) / sum,
		Lower: chi2Quantile(alpha/2, k) / (2 * sum),
		Upper: chi2Quantile(1-alpha/2, k) / (2 * sum),
	}, nil
}

// Share is the share k/n with its 95 % Clopper–Pearson (exact binomial) interval:
// lower = Beta(α/2; k, n−k+1), upper = Beta(1−α/2; k+1, n−k), with 0 and 1 at the edges.
func Share(k, n int) (Interval, error) {
	if n <= 0 || k < 0 || k > n {
		return Interval{}, fmt.Errorf("share %d of %d: need 0 <= k <= n and n > 0", k, n)
	}
	alpha := 1 - Level
	iv := Interval{Value: float64(k) / float64(n), Upper: 1}
	if k > 0 {
		iv.Lower = distuv.Beta{Alpha: float64(k), Beta: float64(n - k + 1)}.Quantile(alpha / 2)
	}
	if k < n {
		iv.Upper = distuv.Beta{Alpha: float64(k + 1), Beta: float64(n - k)}.Quantile(1 - alpha/2)
	}
	return iv, nil
}

// Luck is observed blocks over the blocks expected at the window's difficulty: expected =
// T · H_d / W_block, where H_d is the hashrate that difficulty implies (one block per 600 s).
// Over a window whose difficulty is constant, expected = T / 600.
func Luck(blocks int, expected float64) (float64, error) {
	if expected <= 0 {
		return 0, fmt.Errorf("expected %g blocks: must be positive", expected)
	}
	return float64(blocks) / expected, nil
}
