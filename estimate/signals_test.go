package estimate

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
)

// plantedWorld feeds a service two years of days of 144 expected blocks split between three
// pools, with hourly emergency flags for two grid regions: ERCO (US), where viabtc sheds beta
// of its hashrate during stress hours, and a German region whose stress no pool responds to.
func plantedWorld(t *testing.T, svc *Service, beta float64, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	end := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d, err := schemas.DifficultyFromBits(testBits)
	if err != nil {
		t.Fatal(err)
	}
	work := testWork(t)
	shares := map[string]float64{"foundryusa": 0.3, "viabtc": 0.2, "antpool": 0.5}
	pools := []string{"antpool", "foundryusa", "viabtc"}
	height := int64(800000)
	for day := start; day.Before(end); day = day.AddDate(0, 0, 1) {
		stressed := map[string]int{} // region -> first stressed hour (12 hours from it), -1 none
		for _, region := range []string{"ERCO", "DE-TEST"} {
			stressed[region] = -1
			if rng.Float64() < 0.12 {
				stressed[region] = 6
			}
		}
		for _, region := range []string{"ERCO", "DE-TEST"} {
			country := map[string]string{"ERCO": "US", "DE-TEST": "DE"}[region]
			for h := 0; h < 24; h++ {
				v := 0.0
				if s := stressed[region]; s >= 0 && h >= s && h < s+12 {
					v = 1
				}
				o := schemas.GridObservation{Region: region, Country: country, Time: day.Add(time.Duration(h) * time.Hour),
					IntervalSeconds: 3600, Metric: schemas.GridEmergency, Value: v, Unit: schemas.UnitFlag, Source: "test"}
				if err := svc.Apply(o); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Blocks hour by hour: each pool at its rate, viabtc's cut by beta in ERCO's stress hours.
		for h := 0; h < 24; h++ {
			for _, p := range pools {
				rate := shares[p] * 6 // blocks per hour
				if s := stressed["ERCO"]; p == "viabtc" && s >= 0 && h >= s && h < s+12 {
					rate *= 1 - beta
				}
				n := poissonDraw(rng, rate)
				for i := 0; i < n; i++ {
					tm := day.Add(time.Duration(h)*time.Hour + time.Duration(rng.IntN(3600))*time.Second)
					b := schemas.Block{Height: height, Time: tm, Bits: testBits, Difficulty: d, Work: work, Pool: p,
						AttributionMethod: schemas.AttributionFile, Source: "test", ObservedAt: start}
					height++
					if err := svc.Apply(b); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
}

func poissonDraw(rng *rand.Rand, lambda float64) int {
	// Knuth's method: fine for the small rates here.
	l, k, p := -lambda, 0, 0.0
	for {
		p -= rng.ExpFloat64()
		if p < l {
			return k
		}
		k++
	}
}

// TestCurtailmentIsRecoveredAndAdjustsTheCountryEstimate: a planted β = 0.6 of viabtc under
// ERCO is found significant in both years with an interval holding 0.6; no pool is significant
// under the region nobody responds to, nor foundryusa/antpool under ERCO; and the
// energy-adjusted variant raises viabtc's US share (0.38 in the table) to the fitted β, so the
// US share of those windows rises while the pool-allocation rows stay as they were.
func TestCurtailmentIsRecoveredAndAdjustsTheCountryEstimate(t *testing.T) {
	const beta = 0.6
	store := &recordingStore{}
	pub := &recordingPublisher{}
	svc := newTestService(store, pub)
	plantedWorld(t, svc, beta, 42)
	r, err := svc.Flush(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	years := 0
	for _, s := range r.Signals {
		if s.Signal != SignalCurtailment || s.Window.Kind != Year {
			continue
		}
		planted := s.Pool == "viabtc" && s.Region == "ERCO"
		if planted {
			years++
			if !s.Significant() || !(s.Beta.Lower <= beta && beta <= s.Beta.Upper) {
				t.Errorf("%s viabtc/ERCO: β %.3f [%.3f, %.3f], p %.2g; want significant and covering %.1f", s.Window, s.Beta.Value, s.Beta.Lower, s.Beta.Upper, s.PValue, beta)
			}
			if s.Country != "US" || s.Events < 20 || s.ShedPower.Value <= 0 {
				t.Errorf("%s viabtc/ERCO: country %q, %d events, shed %.3f GW", s.Window, s.Country, s.Events, s.ShedPower.Value)
			}
		} else if s.Significant() {
			t.Errorf("%s %s/%s: significant β %.3f (p %.2g) where none was planted", s.Window, s.Pool, s.Region, s.Beta.Value, s.PValue)
		}
	}
	if years != 2 {
		t.Fatalf("%d yearly viabtc/ERCO fits, want 2", years)
	}
	dips := 0
	for _, s := range r.Signals {
		if s.Signal == SignalNetworkDip {
			dips++
			if s.Events != 12 || !(s.Beta.Lower <= s.Beta.Value && s.Beta.Value <= s.Beta.Upper) {
				t.Fatalf("dip %+v: want 12 stressed hours and an interval holding the estimate", s)
			}
		}
	}
	if dips < 100 {
		t.Fatalf("%d network-dip rows, want one per stressed region-day (~170)", dips)
	}
	// June 2024: the US share under both methods.
	us := map[string]CountryWindowResult{}
	for _, c := range r.Countries {
		if c.Window.Kind == Month && c.Window.Start.Equal(time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)) && c.Country == "US" {
			us[c.Method] = c
		}
	}
	pa, ea := us[MethodPoolAllocation], us[MethodEnergyAdjusted]
	if pa.Share.Value == 0 || ea.Share.Value <= pa.Share.Value+0.01 || ea.InputsDigest == pa.InputsDigest {
		t.Fatalf("June 2024 US share: pool-allocation %.3f, energy-adjusted %.3f (digests %s, %s); want the adjusted one higher by ~0.2×(0.6−0.38)",
			pa.Share.Value, ea.Share.Value, pa.InputsDigest, ea.InputsDigest)
	}
	// Every estimate message of the flush passed the schema (the recording publisher encodes).
	if len(pub.msgs) == 0 {
		t.Fatal("nothing published")
	}
}
