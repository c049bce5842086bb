package estimate_test

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/estimate"
	"github.com/hashatlas/hashatlas/ingest/simulate"
)

// TestChainStressOnTheRealHistory runs the chain-stress detector over the real 2021–2026
// blocks, told no date: it must find Winter Storm Elliott's Christmas Eve 2022 in north-america
// (reference pools Foundry USA and MARA Pool losing most of their blocks), and little else at a
// 1 % false-discovery rate. METHOD.md §8.11 quotes this result.
func TestChainStressOnTheRealHistory(t *testing.T) {
	chain := estimate.NewChain()
	for _, hb := range loadHistory(t) {
		if _, err := chain.Add(hb.obs); err != nil {
			t.Fatal(err)
		}
	}
	tests, _ := estimate.NewModel().ComputeChainStress(chain)
	var events []estimate.ChainStressDay
	for _, d := range tests {
		if d.Event() {
			events = append(events, d)
		}
	}
	sort.Slice(events, func(i, j int) bool { return events[i].Window.Start.Before(events[j].Window.Start) })
	var b strings.Builder
	for _, e := range events {
		fmt.Fprintf(&b, "%s %s: %d of %.1f reference blocks, drop %.2f [%.2f, %.2f], q %.2g, network short %.0f EH/s (%.1f GW)\n",
			e.Window.Start.Format("2006-01-02"), e.Region, e.RefBlocks, e.RefExpected, e.Drop.Value, e.Drop.Lower, e.Drop.Upper,
			e.QValue, e.Shortfall.Value/1e18, e.ShortfallGW.Value)
	}
	t.Logf("%d days tested, %d events:\n%s", len(tests), len(events), b.String())
	if len(tests) < 1800 {
		t.Fatalf("%d days tested, want the whole history (reference pools Foundry USA and MARA Pool)", len(tests))
	}
	if len(events) != 1 || events[0].Window.Start.Format("2006-01-02") != "2022-12-24" || events[0].Region != "north-america" ||
		events[0].Drop.Lower < 0.4 || strings.Join(events[0].Reference, ",") != "foundryusa,marapool" {
		t.Fatalf("events %v; want exactly 2022-12-24 in north-america (Winter Storm Elliott), a drop above 0.4", events)
	}
}

// simulatedStress runs the detector on a simulated world (the default's pools: alphapool and
// betapool, about 40 % of the hashrate, are north-america's reference pools).
func simulatedStress(t *testing.T, cfg simulate.Config) []estimate.ChainStressDay {
	t.Helper()
	w, model := simulatedWorld(t, cfg)
	chain := estimate.NewChain()
	for _, b := range w.Blocks() {
		work, err := strconv.ParseFloat(b.Work, 64)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := chain.Add(estimate.BlockObs{Height: b.Height, Time: b.Time, Work: work, Pool: b.Pool}); err != nil {
			t.Fatal(err)
		}
	}
	tests, _ := model.ComputeChainStress(chain)
	return tests
}

// TestChainStressFlagsAtMostOnePercentOfCalmDays: in simulated worlds without any grid
// response (three seeds, two years each), at most 1 % of the days tested are events.
func TestChainStressFlagsAtMostOnePercentOfCalmDays(t *testing.T) {
	tested, flagged := 0, 0
	for seed := uint64(1); seed <= 3; seed++ {
		cfg := simulate.DefaultConfig()
		cfg.Seed, cfg.Curtailments = seed, nil
		for _, d := range simulatedStress(t, cfg) {
			tested++
			if d.Event() {
				flagged++
			}
		}
	}
	t.Logf("%d of %d calm days flagged", flagged, tested)
	if tested < 1500 || float64(flagged) > 0.01*float64(tested) {
		t.Fatalf("%d of %d calm days flagged; want at most 1 %%", flagged, tested)
	}
}

// TestChainStressFindsDaysWhenTheRegionStops: in a simulated world whose north-american
// reference pools curtail 75 % and 90 % of their hashrate in ERCO's stress hours (20 to 24 a day, 35 days
// a year), the detector finds most stress days and flags few others; the detection rate at the
// default world's planted responses (45 % and 35 % for part of a day) is logged, not required.
func TestChainStressFindsDaysWhenTheRegionStops(t *testing.T) {
	rate := func(alpha, beta float64, minHours int) (found, stress, falseDays, calm int) {
		cfg := simulate.DefaultConfig()
		cfg.Seed = 2
		// Stress centred on noon UTC: the test's unit is the UTC day, and an event across
		// midnight is split in two halves (the default world's ERCO peaks at 22:00 UTC).
		cfg.Regions[0].MinStressHours, cfg.Regions[0].MaxStressHours, cfg.Regions[0].PeakHourUTC = minHours, 24, 12
		cfg.Curtailments = []simulate.Curtailment{{Pool: "alphapool", Region: "ERCO", Beta: alpha}, {Pool: "betapool", Region: "ERCO", Beta: beta}}
		w, err := simulate.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		stressDays := map[time.Time]bool{}
		for _, g := range w.GridObservations() {
			if g.Region == "ERCO" && g.Metric == "emergency" && g.Value > 0 {
				stressDays[g.Time.UTC().Truncate(24*time.Hour)] = true
			}
		}
		for _, d := range simulatedStress(t, cfg) {
			switch {
			case stressDays[d.Window.Start] && d.Event():
				found++
				stress++
			case stressDays[d.Window.Start]:
				stress++
			case d.Event():
				falseDays++
				calm++
			default:
				calm++
			}
		}
		return
	}
	found, stress, falseDays, calm := rate(0.75, 0.9, 20)
	t.Logf("75 %% and 90 %% curtailment for 20-24 h: %d of %d stress days found, %d of %d calm days flagged", found, stress, falseDays, calm)
	if stress < 40 || float64(found) < 0.9*float64(stress) || float64(falseDays) > 0.01*float64(calm) {
		t.Fatalf("75 %% and 90 %% curtailment: %d of %d stress days found, %d of %d calm days flagged; want ≥ 90 %% and ≤ 1 %%", found, stress, falseDays, calm)
	}
	found, stress, _, _ = rate(0.45, 0.35, 6)
	t.Logf("the default world's curtailment (45 %% and 35 %%, 6-24 h): %d of %d stress days found", found, stress)
}
