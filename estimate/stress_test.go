package estimate

import (
	"math/rand/v2"
	"testing"
)

// TestFitBetaRecoversPlantedCurtailment simulates a pool with 30 expected blocks a day under a
// region stressed on some days, curtailing a planted fraction β; the fit's interval must cover
// the planted β in at least 90 % of 200 simulations, and the test must find β = 0.4 and not
// find β = 0.
func TestFitBetaRecoversPlantedCurtailment(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	simulate := func(beta float64) []StressDay {
		days := make([]StressDay, 365)
		for i := range days {
			s := 0.0
			if rng.Float64() < 0.1 {
				s = 0.5 + 0.5*rng.Float64()
			}
			mu := 30.0
			days[i] = StressDay{Blocks: poisson(rng, mu*(1-beta*s)), Expected: mu, Stress: s}
		}
		return days
	}
	for _, planted := range []float64{0, 0.4} {
		covered, significant := 0, 0
		for trial := 0; trial < 200; trial++ {
			fit, err := FitBeta(simulate(planted))
			if err != nil {
				t.Fatal(err)
			}
			if fit.Beta.Lower <= planted && planted <= fit.Beta.Upper {
				covered++
			}
			if fit.PValue < 0.05 {
				significant++
			}
			if !(fit.Beta.Lower <= fit.Beta.Value && fit.Beta.Value <= fit.Beta.Upper) {
				t.Fatalf("interval %+v does not hold its estimate", fit.Beta)
			}
		}
		if covered < 180 {
			t.Errorf("β=%g: covered in %d of 200 simulations, want at least 180", planted, covered)
		}
		switch {
		case planted == 0 && significant > 10:
			t.Errorf("β=0: significant in %d of 200 simulations, want at most 10 (5 %% level, one-sided)", significant)
		case planted > 0 && significant < 190:
			t.Errorf("β=%g: significant in only %d of 200 simulations", planted, significant)
		}
	}
	if _, err := FitBeta([]StressDay{{Blocks: 3, Expected: 3}}); err == nil {
		t.Fatal("a series without stress was fitted")
	}
}
