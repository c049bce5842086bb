package estimate

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestCountryHashratesCoverTheTruthInSimulatedWindows(t *testing.T) {
	// Three pools with known country mixes (the allocation is the truth, with high confidence).
	poolShare := []float64{0.5, 0.3, 0.2}
	rows := map[string]AllocationRow{
		"a": {Pool: "a", Shares: map[string]float64{"US": 0.8, "CA": 0.2}, Kappa: 1e6},
		"b": {Pool: "b", Shares: map[string]float64{"CN": 0.6, "US": 0.4}, Kappa: 1e6},
		// pool c has no row: its hashrate is unallocated (XX)
	}
	truthShare := map[string]float64{"US": 0.5*0.8 + 0.3*0.4, "CA": 0.5 * 0.2, "CN": 0.3 * 0.6, Unallocated: 0.2}
	rng := rand.New(rand.NewPCG(9, 9))
	const rate, workPerBlock, week = 7e20, 6e23, 7 * 86400.0
	lambda := rate / workPerBlock * week
	hits, total := map[string]int{}, 0
	for trial := 0; trial < 200; trial++ {
		var counts []PoolCount
		b := 0
		for i, s := range poolShare {
			n := poisson(rng, lambda*s)
			counts = append(counts, PoolCount{Pool: string(rune('a' + i)), Blocks: n})
			b += n
		}
		res, err := CountryHashrates(workPerBlock*float64(b), week, counts, rows, 400, uint64(trial))
		if err != nil {
			t.Fatal(err)
		}
		total++
		for _, r := range res {
			truth := rate * truthShare[r.Country]
			if r.Hashrate.Lower <= truth && truth <= r.Hashrate.Upper {
				hits[r.Country]++
			}
		}
	}
	for cc := range truthShare {
		if cov := float64(hits[cc]) / float64(total); cov < 0.90 || cov > 0.995 {
			t.Errorf("%s: interval coverage %.3f, want within [0.90, 0.995]", cc, cov)
		}
	}
}

func TestCountryHashratesAreDeterministicAndReportUnallocated(t *testing.T) {
	counts := []PoolCount{{"a", 70}, {"unknown", 5}, {"b", 25}}
	rows := map[string]AllocationRow{
		"a": {Pool: "a", Shares: map[string]float64{"US": 0.7, "KZ": 0.3}, Kappa: 50},
		"b": {Pool: "b", Shares: map[string]float64{"RU": 1}, Kappa: 20},
	}
	r1, err := CountryHashrates(1e23, 86400, counts, rows, 500, 42)
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := CountryHashrates(1e23, 86400, counts, rows, 500, 42)
	if !reflect.DeepEqual(r1, r2) {
		t.Fatal("same inputs and seed, different results")
	}
	byCountry := map[string]CountryResult{}
	var medianShares float64
	for _, r := range r1 {
		byCountry[r.Country] = r
		medianShares += r.Share.Value
		if !(r.Hashrate.Lower <= r.Hashrate.Value && r.Hashrate.Value <= r.Hashrate.Upper) {
			t.Errorf("%s: %+v is not ordered", r.Country, r.Hashrate)
		}
	}
	xx, ok := byCountry[Unallocated]
	if !ok || xx.Share.Value < 0.02 || xx.Share.Value > 0.1 {
		t.Fatalf("XX (5 of 100 blocks unknown) is %+v", xx)
	}
	if r1[0].Country != "US" || math.Abs(medianShares-1) > 0.05 {
		t.Fatalf("largest %s, median shares sum to %g", r1[0].Country, medianShares)
	}
	if _, err := CountryHashrates(1e23, 86400, counts, map[string]AllocationRow{"a": {Pool: "a", Shares: map[string]float64{"US": 1}}}, 100, 1); err == nil {
		t.Fatal("a row without kappa was accepted")
	}
}

func TestEnergyAdjustedRaisesTheCountryAndRescalesTheRest(t *testing.T) {
	row := AllocationRow{Pool: "p", Kappa: 10, Shares: map[string]float64{"US": 0.2, "CN": 0.6, "KZ": 0.2}}
	adj, err := EnergyAdjusted(row, "US", 0.5)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"US": 0.5, "CN": 0.6 / 0.8 * 0.5, "KZ": 0.2 / 0.8 * 0.5}
	var sum float64
	for cc, s := range adj.Shares {
		sum += s
		if math.Abs(s-want[cc]) > 1e-12 {
			t.Errorf("%s: %g, want %g", cc, s, want[cc])
		}
	}
	if math.Abs(sum-1) > 1e-12 || row.Shares["US"] != 0.2 {
		t.Fatalf("sum %g (want 1); input changed: %v", sum, row.Shares)
	}
	if same, _ := EnergyAdjusted(row, "CN", 0.3); !reflect.DeepEqual(same, row) {
		t.Fatal("a β below the current share changed the row")
	}
	if adj, _ := EnergyAdjusted(row, "CA", 0.1); adj.Shares["CA"] != 0.1 || math.Abs(adj.Shares["CN"]-0.54) > 1e-12 {
		t.Fatalf("a new country: %v", adj.Shares)
	}
}
