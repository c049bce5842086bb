package simulate

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
)

// BenchmarkNewDefault generates the default two-year world (~107,000 blocks, 3 regions).
func BenchmarkNewDefault(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(DefaultConfig()); err != nil {
			b.Fatal(err)
		}
	}
}

// bigConfig is 50 pools and 20 grid regions over the given years (ten: the speed
// target), ending where the default world ends: a world cannot reach past now (the schemas
// refuse times more than 7 days ahead), so ten years end there rather than in 2034.
func bigConfig(years int) Config {
	cfg := DefaultConfig()
	cfg.Start = cfg.End.AddDate(-years, 0, 0)
	cfg.NetworkGrowth = 0.2
	codes := []string{"US", "CN", "KZ", "RU", "CA", "PY", "ET", "NO", "IS", "SE", "MY", "IR", "AR", "BR", "DE", "BT", "AE", "OM", "FI", "GE"}
	cfg.Countries = nil
	for i, c := range codes {
		cfg.Countries = append(cfg.Countries, Country{Code: c, Drift: float64(i%5-2) * 0.02, SeasonAmplitude: 0.05, SeasonPeakDay: 1 + 17*i})
	}
	cfg.Pools = nil
	for k := 0; k < 50; k++ {
		mix := map[string]float64{codes[k%20]: 0.6, codes[(k+3)%20]: 0.3, codes[(k+7)%20]: 0.1}
		p := Pool{Slug: fmt.Sprintf("pool%02d", k), Size: float64(1 + k%7), Mix: mix, Kappa: 60, HQCountry: codes[k%20], HQRegion: "Asia"}
		if k == 49 {
			p.Slug, p.Kappa, p.HQCountry, p.HQRegion = schemas.PoolUnknown, 0, "", ""
		}
		cfg.Pools = append(cfg.Pools, p)
	}
	cfg.Regions, cfg.Curtailments = nil, nil
	for g := 0; g < 20; g++ {
		cfg.Regions = append(cfg.Regions, Region{Code: fmt.Sprintf("R%02d", g), Country: codes[g], BaseMW: 10000, StressDaysPerYear: 30,
			MinStressHours: 4, MaxStressHours: 12, PeakHourUTC: g, SeasonPeakDay: 1 + 18*g})
		cfg.Curtailments = append(cfg.Curtailments, Curtailment{Pool: fmt.Sprintf("pool%02d", g), Region: fmt.Sprintf("R%02d", g), Beta: 0.2})
	}
	return cfg
}

// BenchmarkNewTenYearsFiftyPoolsTwentyRegions generates ~530,000 blocks and 20 regions' hourly
// grid data (the issue asks for at most 10 s).
func BenchmarkNewTenYearsFiftyPoolsTwentyRegions(b *testing.B) {
	cfg := bigConfig(10)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(cfg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMessagesDefault materialises every message of the default world (what a pass hands
// to the publisher), reporting bytes as the encoded size.
func BenchmarkMessagesDefault(b *testing.B) {
	w, err := New(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	var size int64
	for m := range w.Messages() {
		e, _ := schemas.Encode(m)
		size += int64(len(e))
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for range w.Messages() {
			n++
		}
	}
}

// TestBigWorldIsValid generates a year of the 50-pool, 20-region world of the benchmark and
// checks its shape, so that the benchmark measures a world that works (a year keeps the test
// fast under -race).
func TestBigWorldIsValid(t *testing.T) {
	start := time.Now()
	cfg := bigConfig(1)
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := w.Summary()
	hours := int(cfg.End.Sub(cfg.Start).Hours())
	if s.Blocks < 50000 || s.GridObservations != 2*20*hours || s.PoolStats != 49*hours/24 {
		t.Fatalf("summary %+v", s)
	}
	checkRetargets(t, w)
	t.Logf("one year, 50 pools, 20 regions: %d blocks, %d grid observations, generated in %s", s.Blocks, s.GridObservations, time.Since(start))
}
