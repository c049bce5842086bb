package estimate

import (
	"math"
	"math/rand/v2"
	"testing"
)

func near(got, want, relTol float64) bool {
	if want == 0 {
		return math.Abs(got) < relTol
	}
	return math.Abs(got-want)/math.Abs(want) < relTol
}

func TestTargetDifficultyAndWorkMatchConsensusValues(t *testing.T) {
	d, err := Difficulty(MaxTargetBits)
	if err != nil || d != 1 {
		t.Fatalf("difficulty of 0x1d00ffff = %v, %v; want 1", d, err)
	}
	// Chainwork of one difficulty-1 block, as Bitcoin Core reports it: 0x100010001.
	w, err := Work(MaxTargetBits)
	if err != nil || w.Uint64() != 0x100010001 {
		t.Fatalf("work of 0x1d00ffff = %v, %v; want 4295032833", w, err)
	}
	// Epoch 840,672 (shared/data/DATA.md): 0x170331db = 88,104,191,118,793.16.
	d, err = Difficulty(0x170331db)
	if err != nil || !near(d, 88104191118793.16, 1e-12) {
		t.Fatalf("difficulty of 0x170331db = %v, %v", d, err)
	}
	wf, _ := WorkFloat(0x170331db)
	if !near(wf, d*math.Pow(2, 32), 1e-4) {
		t.Fatalf("work %g is not about difficulty × 2^32 = %g", wf, d*math.Pow(2, 32))
	}
	for _, bad := range []uint32{0x1d800000, 0x1d000000, 0x22ffffff} {
		if _, err := Target(bad); err == nil {
			t.Errorf("Target(%08x) accepted an invalid encoding", bad)
		}
	}
}

func TestChiSquareQuantilesMatchReferenceTables(t *testing.T) {
	// Reference values from standard χ² tables (NIST/SEMATECH e-Handbook, table 1.3.6.7.4).
	for _, tc := range []struct{ p, k, want float64 }{
		{0.025, 2, 0.0506356},
		{0.975, 2, 7.3777589},
		{0.975, 4, 11.1432868},
		{0.025, 10, 3.2469727},
		{0.975, 10, 20.4831774},
		{0.025, 100, 74.2219},
		{0.975, 100, 129.5612},
	} {
		if got := chi2Quantile(tc.p, tc.k); !near(got, tc.want, 1e-5) {
			t.Errorf("χ²(%v; %v) = %v, want %v", tc.p, tc.k, got, tc.want)
		}
	}
}

func TestClopperPearsonBoundsMatchReferenceValues(t *testing.T) {
	// Reference bounds: R binom.test(k, n)$conf.int.
	for _, tc := range []struct {
		k, n         int
		lower, upper float64
	}{
		{0, 10, 0, 0.3084971},
		{10, 10, 0.6915029, 1},
		{5, 10, 0.1870860, 0.8129140},
		{1, 100, 0.0002531460, 0.0544593854},
	} {
		iv, err := Share(tc.k, tc.n)
		if err != nil {
			t.Fatal(err)
		}
		if !near(iv.Lower, tc.lower, 1e-5) || !near(iv.Upper, tc.upper, 1e-5) {
			t.Errorf("Share(%d, %d) = [%v, %v], want [%v, %v]", tc.k, tc.n, iv.Lower, iv.Upper, tc.lower, tc.upper)
		}
	}
	// The defining property: at the lower bound P(X >= k) = 2.5 %, at the upper P(X <= k) = 2.5 %.
	for _, tc := range []struct{ k, n int }{{30, 144}, {1, 4400}, {1700, 4400}, {143, 144}} {
		iv, _ := Share(tc.k, tc.n)
		if got := binomTail(tc.k, tc.n, iv.Lower, true); !near(got, 0.025, 1e-6) {
			t.Errorf("Share(%d, %d): P(X >= k | p=%g) = %g, want 0.025", tc.k, tc.n, iv.Lower, got)
		}
		if got := binomTail(tc.k, tc.n, iv.Upper, false); !near(got, 0.025, 1e-6) {
			t.Errorf("Share(%d, %d): P(X <= k | p=%g) = %g, want 0.025", tc.k, tc.n, iv.Upper, got)
		}
	}
	if _, err := Share(3, 2); err == nil {
		t.Error("Share(3, 2) accepted k > n")
	}
}

func TestNetworkHashrateGarwoodInterval(t *testing.T) {
	// 144 blocks of work 1e21 in a day.
	const w, b, day = 1e21, 144, 86400.0
	iv, err := NetworkHashrate(w*b, b, day, w)
	if err != nil {
		t.Fatal(err)
	}
	if !near(iv.Value, w*b/day, 1e-12) {
		t.Fatalf("value %g, want W/T", iv.Value)
	}
	// The defining property of the Garwood bounds on the block count: at the lower mean
	// P(X >= 144) = 2.5 %, at the upper mean P(X <= 144) = 2.5 %.
	lo, hi := iv.Lower/(w/day), iv.Upper/(w/day)
	if got := 1 - poissonCDF(b-1, lo); !near(got, 0.025, 1e-6) {
		t.Errorf("P(X >= %d | mean %g) = %g, want 0.025", b, lo, got)
	}
	if got := poissonCDF(b, hi); !near(got, 0.025, 1e-6) {
		t.Errorf("P(X <= %d | mean %g) = %g, want 0.025", b, hi, got)
	}
	empty, err := NetworkHashrate(0, 0, day, w)
	if err != nil || empty.Lower != 0 || empty.Value != 0 || !near(empty.Upper, w/day*3.6888794, 1e-6) {
		t.Fatalf("empty window: %+v, %v", empty, err)
	}
}

// TestIntervalsCoverTheTruth simulates Poisson block arrivals at a known rate and checks that
// both estimators' 95 % intervals cover it in 93–97 % of 4,000 windows.
func TestIntervalsCoverTheTruth(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const rate, work, day = 7e20, 1e23, 86400.0 // hashes/s; hashes per block
	blockRate := rate / work                    // blocks per second
	var fixedHits, recentHits int
	const trials = 4000
	for i := 0; i < trials; i++ {
		var t0 float64
		var intervals, works []float64
		for {
			dt := rng.ExpFloat64() / blockRate
			if t0+dt > day {
				break
			}
			t0 += dt
			intervals = append(intervals, dt)
			works = append(works, work)
		}
		iv, err := NetworkHashrate(work*float64(len(intervals)), len(intervals), day, work)
		if err != nil {
			t.Fatal(err)
		}
		if iv.Lower <= rate && rate <= iv.Upper {
			fixedHits++
		}
		rv, err := RecentHashrate(intervals, works)
		if err != nil {
			t.Fatal(err)
		}
		if rv.Lower <= rate && rate <= rv.Upper {
			recentHits++
		}
	}
	for name, hits := range map[string]int{"fixed-window": fixedHits, "last-n": recentHits} {
		cov := float64(hits) / trials
		if cov < 0.93 || cov > 0.985 {
			t.Errorf("%s coverage %.3f, want within [0.93, 0.985]", name, cov)
		}
	}
}

// binomTail is P(X >= k) (upper) or P(X <= k) for X ~ Binomial(n, p), summed exactly in logs.
func binomTail(k, n int, p float64, upper bool) float64 {
	var sum float64
	for x := 0; x <= n; x++ {
		if (upper && x < k) || (!upper && x > k) {
			continue
		}
		lg1, _ := math.Lgamma(float64(n + 1))
		lg2, _ := math.Lgamma(float64(x + 1))
		lg3, _ := math.Lgamma(float64(n - x + 1))
		sum += math.Exp(lg1 - lg2 - lg3 + float64(x)*math.Log(p) + float64(n-x)*math.Log1p(-p))
	}
	return sum
}

// poissonCDF is P(X <= k) for X ~ Poisson(mean), summed in logs.
func poissonCDF(k int, mean float64) float64 {
	var sum float64
	for x := 0; x <= k; x++ {
		lg, _ := math.Lgamma(float64(x + 1))
		sum += math.Exp(float64(x)*math.Log(mean) - mean - lg)
	}
	return sum
}
