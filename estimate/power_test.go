package estimate

import (
	"math"
	"testing"
	"time"
)

func day(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestFleetCountsModelsByAgeAndWeighsThem(t *testing.T) {
	models := []MinerModel{
		{"new", day("2025-12-01"), 15},   // younger than 60 days on 2026-01-10: not counted
		{"young", day("2025-06-01"), 17}, // 0 full years: weight 1.0
		{"mid", day("2023-06-01"), 21},   // 2 full years: weight 0.6
		{"old", day("2020-06-01"), 34},   // 5 years: not counted
	}
	f, err := FleetOn(day("2026-01-10"), models, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantBest := (1.0*17 + 0.6*21) / 1.6
	if f.Models != 2 || f.Low != 17 || f.High != 21 || math.Abs(f.Best-wantBest) > 1e-12 {
		t.Fatalf("fleet %+v, want 2 models, low 17, high 21, best %g", f, wantBest)
	}
	// A model is profitable when J/TH < revenue per TH / price per J: here below 20 J/TH.
	f, err = FleetOn(day("2026-01-10"), models, 20*1e-9, 1e-9) // threshold 20 J/TH
	if err != nil || f.Models != 1 || f.High != 17 {
		t.Fatalf("with a profitability threshold of 20 J/TH: %+v, %v", f, err)
	}
	if _, err := FleetOn(day("2010-01-01"), models, 0, 0); err == nil {
		t.Fatal("a day without any counted model gave a fleet")
	}
}

func TestPowerOfOneZettahash(t *testing.T) {
	// 1 ZH/s = 1e9 TH/s; at 20 J/TH and PUE 1.10 that is 22 GW, 192.85 TWh a year.
	p := PowerOf(Interval{Value: 1e21, Lower: 0.9e21, Upper: 1.1e21}, Fleet{Low: 15, Best: 20, High: 30, Models: 3})
	if math.Abs(p.GWBest-22) > 1e-9 || math.Abs(p.TWhBest-22*8.766) > 1e-9 {
		t.Fatalf("best %g GW, %g TWh/yr", p.GWBest, p.TWhBest)
	}
	if math.Abs(p.GWLow-0.9e9*15*1.01/1e9) > 1e-9 || math.Abs(p.GWHigh-1.1e9*30*1.2/1e9) > 1e-9 {
		t.Fatalf("low %g, high %g", p.GWLow, p.GWHigh)
	}
	if !(p.GWLow < p.GWBest && p.GWBest < p.GWHigh) {
		t.Fatalf("bounds out of order: %+v", p)
	}
}
