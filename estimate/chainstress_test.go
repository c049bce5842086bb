package estimate

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/hashatlas/hashatlas/schemas"
)

// TestChainStressEventsAndExposuresAreOnTheTopic: an event day becomes one stress_drop estimate
// (a day that is no event none), an exposure one grid_exposure estimate, and both encode.
func TestChainStressEventsAndExposuresAreOnTheTopic(t *testing.T) {
	day := WindowOf(Day, t0)
	r := Results{ComputedAt: t0, ChainStress: []ChainStressDay{
		{Window: day, Region: "north-america", RefBlocks: 11, RefExpected: 39.6, Drop: Interval{Value: 0.72, Lower: 0.5, Upper: 0.86},
			PValue: 1e-6, QValue: 0.002, ShortfallGW: Interval{Value: math.NaN()}, Method: MethodReferenceShare, ModelVersion: ModelVersion, InputsDigest: "00112233445566778899aabbccddeeff"},
		{Window: WindowOf(Day, t0.AddDate(0, 0, 1)), Region: "north-america", Drop: Interval{Value: -0.1, Lower: -0.4, Upper: 0.2},
			PValue: 0.6, QValue: 1, Method: MethodReferenceShare, ModelVersion: ModelVersion, InputsDigest: "00112233445566778899aabbccddeeff"},
	}, Signals: []Signal{{Window: WindowOf(Year, t0), Signal: SignalGridExposure, Pool: "antpool", Region: "north-america", Country: "US",
		Beta: Interval{Value: 0.3, Lower: 0.1, Upper: 0.5}, PValue: 0.01, Events: 4, Method: MethodExposureMLE, ModelVersion: ModelVersion,
		InputsDigest: "00112233445566778899aabbccddeeff"}}}
	got := map[string]string{}
	for _, m := range EstimateMessages(r) {
		if _, err := schemas.Encode(m); err != nil {
			t.Fatalf("%+v: %v", m, err)
		}
		e := m.(schemas.Estimate)
		got[e.Metric] = e.Entity
	}
	if len(got) != 2 || got[schemas.MetricStressDrop] != "north-america" || got[schemas.MetricGridExposure] != "antpool/north-america" {
		t.Fatalf("estimates %v; want one stress_drop of north-america and one grid_exposure of antpool/north-america", got)
	}
}

// TestBenjaminiHochbergQValues checks the adjustment on a textbook case: p = 0.01, 0.02, 0.03,
// 0.04, 0.5 give q = 0.05, 0.05, 0.05, 0.05, 0.5.
func TestBenjaminiHochbergQValues(t *testing.T) {
	ps := []float64{0.04, 0.5, 0.01, 0.03, 0.02}
	tests := make([]ChainStressDay, len(ps))
	for i, p := range ps {
		tests[i].PValue = p
	}
	benjaminiHochberg(tests)
	want := []float64{0.05, 0.5, 0.05, 0.05, 0.05}
	for i := range tests {
		if math.Abs(tests[i].QValue-want[i]) > 1e-12 {
			t.Fatalf("q of p=%g is %g, want %g", ps[i], tests[i].QValue, want[i])
		}
	}
}

// TestOverdispersedPoissonTail: with φ = 1 it is the Poisson tail; with φ > 1 a low count is
// less surprising (a larger tail), and the tail sums to 1 far above the mean.
func TestOverdispersedPoissonTail(t *testing.T) {
	p1 := overdispersedPoissonLowerTail(11, 39.6, 1)
	p2 := overdispersedPoissonLowerTail(11, 39.6, 1.5)
	if !(p1 > 0 && p1 < 1e-5) || !(p2 > p1) {
		t.Fatalf("P(X ≤ 11 | λ 39.6): %g at φ 1, %g at φ 1.5", p1, p2)
	}
	if p := overdispersedPoissonLowerTail(400, 39.6, 2); math.Abs(p-1) > 1e-9 {
		t.Fatalf("the tail far above the mean is %g, want 1", p)
	}
}

// TestOnlyChangedChainStressRowsAreWrittenAgain: 40 days of blocks with a reference pool
// (foundryusa) give a chain-stress row per tested day; one more block on the last day writes
// again only the rows it changed (that day's, and those whose q-value it moved), not every day —
// in a service that computed them itself and in one restored from the store. (A new day changes
// the number of tests, and so nearly every q-value: then every row is written again.)
func TestOnlyChangedChainStressRowsAreWrittenAgain(t *testing.T) {
	s := newTestService(&recordingStore{}, nil)
	n := 40 * 144
	rng := rand.New(rand.NewPCG(7, 7)) // pools drawn per block: days differ as real days do
	for h := range n {
		_ = s.Apply(block(t, int64(h), h*10-n*10, []string{"foundryusa", "antpool", "viabtc"}[rng.IntN(3)]))
	}
	r, err := s.Flush(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.ChainStress) < 20 {
		t.Fatalf("%d chain-stress rows for 40 days", len(r.ChainStress))
	}
	cp := checkpointOf(s, r.Network)
	restored := newTestService(&recordingStore{}, nil)
	if _, err := restored.Restore(cp); err != nil {
		t.Fatal(err)
	}
	for name, svc := range map[string]*Service{"computed": s, "restored": restored} {
		_ = svc.Apply(block(t, int64(n), -5, "foundryusa")) // on the last day: no new day, m unchanged
		r2, err := svc.Flush(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(r2.ChainStress) == 0 || len(r2.ChainStress) >= len(r.ChainStress)/2 {
			t.Fatalf("%s: one new block wrote %d chain-stress rows of %d", name, len(r2.ChainStress), len(r.ChainStress))
		}
	}
}
