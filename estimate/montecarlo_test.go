package estimate

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

func TestDirichletSampleMomentsMatchTheDistribution(t *testing.T) {
	alpha := []float64{30.5, 10.5, 2.5, 0.5}
	var a0 float64
	for _, a := range alpha {
		a0 += a
	}
	rng := rand.New(rand.NewPCG(7, 7))
	const n = 40000
	mean := make([]float64, len(alpha))
	sq := make([]float64, len(alpha))
	p := make([]float64, len(alpha))
	for d := 0; d < n; d++ {
		dirichlet(p, alpha, rng)
		for i := range p {
			mean[i] += p[i] / n
			sq[i] += p[i] * p[i] / n
		}
	}
	for i, a := range alpha {
		wantMean := a / a0
		wantVar := a * (a0 - a) / (a0 * a0 * (a0 + 1))
		gotVar := sq[i] - mean[i]*mean[i]
		if math.Abs(mean[i]-wantMean) > 4*math.Sqrt(wantVar/n) {
			t.Errorf("component %d: mean %.5f, want %.5f", i, mean[i], wantMean)
		}
		if math.Abs(gotVar-wantVar)/wantVar > 0.05 {
			t.Errorf("component %d: variance %.6f, want %.6f", i, gotVar, wantVar)
		}
	}
}

// TestGammaRandMatchesGonum compares the sampler's quantiles with gonum's Gamma quantile
// function for small, unit and large shapes.
func TestGammaRandMatchesGonum(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, shape := range []float64{0.5, 1, 2.5, 144.5, 4400.5} {
		xs := make([]float64, 40000)
		for i := range xs {
			xs[i] = gammaRand(shape, rng)
		}
		ref := distuv.Gamma{Alpha: shape, Beta: 1}
		for _, q := range []float64{0.025, 0.5, 0.975} {
			got, want := Quantile(xs, q), ref.Quantile(q)
			if math.Abs(got-want) > 0.03*want+0.002 {
				t.Errorf("shape %g: %g-quantile %g, gonum says %g", shape, q, got, want)
			}
		}
	}
}

func TestNetworkDrawsFollowTheGammaPosterior(t *testing.T) {
	// (W/b)·Gamma(b+0.5, T): mean (W/b)(b+0.5)/T.
	const work, blocks, seconds = 1.44e23, 144, 86400.0
	h := make([]float64, 50000)
	NetworkDraws(h, work, blocks, seconds, rand.New(rand.NewPCG(1, 1)))
	var m float64
	for _, x := range h {
		m += x / float64(len(h))
	}
	want := work / blocks * (blocks + 0.5) / seconds
	if math.Abs(m-want)/want > 0.003 {
		t.Fatalf("mean draw %g, want %g", m, want)
	}
}

// TestPoolHashratesAreTheJeffreysGammaQuantiles: a pool's interval is (W/b)/T times the 2.5 and
// 97.5 % quantiles of Gamma(b_k + 0.5), checked against 200,000 draws of that Gamma (METHOD.md
// §4.3), and its value p̂·Ĥ; the intervals cover the true rates of simulated days.
func TestPoolHashratesAreTheJeffreysGammaQuantiles(t *testing.T) {
	counts := []PoolCount{{"a", 40}, {"b", 30}, {"c", 2}, {"d", 0}}
	const work, seconds = 1e23, 86400.0
	r1, err := PoolHashrates(work, seconds, counts)
	if err != nil {
		t.Fatal(err)
	}
	perBlock := work / 72 / seconds
	rng := rand.New(rand.NewPCG(1, 2))
	xs := make([]float64, 200000)
	for i, c := range counts {
		if got := r1[i].Hashrate.Value; math.Abs(got-perBlock*float64(c.Blocks)) > 1e-9*perBlock {
			t.Errorf("%s: value %g, want (W/b)·b_k/T %g", c.Pool, got, perBlock*float64(c.Blocks))
		}
		g := newGammaSampler(float64(c.Blocks) + 0.5)
		for j := range xs {
			xs[j] = perBlock * g.draw(rng)
		}
		lo, hi := Quantiles2(xs, 0.025, 0.975)
		if c.Blocks == 0 {
			lo = 0 // the value 0 is below the rate's lower quantile: the interval holds it
		}
		if math.Abs(r1[i].Hashrate.Lower-lo) > 0.02*perBlock+0.01*lo || math.Abs(r1[i].Hashrate.Upper-hi) > 0.01*hi {
			t.Errorf("%s (%d blocks): [%g, %g], the draws' quantiles [%g, %g]", c.Pool, c.Blocks, r1[i].Hashrate.Lower, r1[i].Hashrate.Upper, lo, hi)
		}
	}

	// Simulate days with known pool rates; the pool hashrate intervals must cover the truth
	// in 90–99 % of windows (METHOD.md §10.3).
	rng = rand.New(rand.NewPCG(3, 4))
	truth := []float64{0.4, 0.3, 0.2, 0.1}
	const rate, workPerBlock, day = 7e20, 6e23, 86400.0
	lambda := rate / workPerBlock * day // expected blocks a day (~100.8)
	hits, total := 0, 0
	for trial := 0; trial < 300; trial++ {
		cs := make([]PoolCount, len(truth))
		b := 0
		for i, s := range truth {
			cs[i] = PoolCount{Pool: string(rune('a' + i)), Blocks: poisson(rng, lambda*s)}
			b += cs[i].Blocks
		}
		res, err := PoolHashrates(workPerBlock*float64(b), day, cs)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			total++
			if r.Hashrate.Lower <= rate*truth[i] && rate*truth[i] <= r.Hashrate.Upper {
				hits++
			}
		}
	}
	if cov := float64(hits) / float64(total); cov < 0.90 || cov > 0.99 {
		t.Fatalf("pool hashrate coverage %.3f, want within [0.90, 0.99]", cov)
	}
}

// poisson draws from Poisson(mean) by counting exponential gaps.
func poisson(rng *rand.Rand, mean float64) int {
	n, t := 0, rng.ExpFloat64()
	for t < mean {
		n++
		t += rng.ExpFloat64()
	}
	return n
}

func TestQuantileAgreesWithSortingOnRandomData(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := 0; trial < 200; trial++ {
		n := 1 + rng.IntN(300)
		if trial%4 == 0 {
			n = 512 + rng.IntN(3000) // the guessing path of Quantiles2
		}
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = math.Round(rng.NormFloat64() * 5) // ties included
		}
		if trial%8 == 4 {
			// most draws at one value at either end (a share 0 in most draws, or capped at 1):
			// the tied ranks of Quantiles2's shortcut
			for i := range xs {
				switch u := rng.Float64(); {
				case u < 0.4:
					xs[i] = 0
				case u > 0.97:
					xs[i] = 1
				default:
					xs[i] = rng.Float64()
				}
			}
		}
		sorted := append([]float64(nil), xs...)
		sort.Float64s(sorted)
		for _, q := range []float64{0, 0.025, 0.5, 0.975, 1} {
			pos := q * float64(n-1)
			i := int(pos)
			want := sorted[i]
			if i < n-1 {
				want += (pos - float64(i)) * (sorted[i+1] - sorted[i])
			}
			if got := Quantile(append([]float64(nil), xs...), q); math.Abs(got-want) > 1e-9 {
				t.Fatalf("n=%d q=%v: got %v, want %v", n, q, got, want)
			}
		}
		for _, qs := range [][2]float64{{0.025, 0.975}, {0, 1}, {0.5, 0.5}, {0.3, 0.31}} {
			a, b := Quantiles2(append([]float64(nil), xs...), qs[0], qs[1])
			wa, wb := Quantile(append([]float64(nil), xs...), qs[0]), Quantile(append([]float64(nil), xs...), qs[1])
			if math.Abs(a-wa) > 1e-9 || math.Abs(b-wb) > 1e-9 {
				t.Fatalf("n=%d Quantiles2%v = %v, %v; want %v, %v", n, qs, a, b, wa, wb)
			}
		}
	}
}

func TestQuantileInterpolatesOrderStatistics(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	for q, want := range map[float64]float64{0: 1, 0.5: 3, 1: 5, 0.25: 2, 0.1: 1.4} {
		if got := Quantile(append([]float64(nil), xs...), q); math.Abs(got-want) > 1e-12 {
			t.Errorf("Quantile(%v) = %v, want %v", q, got, want)
		}
	}
}
