package estimate

import (
	"math"
	"testing"
)

func TestNetworkDipTailAndShedHashrate(t *testing.T) {
	// 100 blocks against 144 expected: P(X <= 100) for Poisson(144), about 6.7e-5.
	d, err := NetworkDip(100, 144, 1e21)
	if err != nil {
		t.Fatal(err)
	}
	if got := poissonCDF(100, 144); math.Abs(d.PValue-got)/got > 1e-6 {
		t.Fatalf("p-value %g, summed %g", d.PValue, got)
	}
	if d.PValue > 1e-4 || math.Abs(d.ShedHashrate/(44.0/144*1e21)-1) > 1e-12 {
		t.Fatalf("dip %+v", d)
	}
	d, _ = NetworkDip(150, 144, 1e21)
	if d.ShedHashrate != 0 || d.PValue < 0.5 {
		t.Fatalf("a lucky day is no dip: %+v", d)
	}
}
