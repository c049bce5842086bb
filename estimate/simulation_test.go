package estimate_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/estimate"
	"github.com/hashatlas/hashatlas/estimate/modeldata"
	"github.com/hashatlas/hashatlas/ingest/simulate"
	"github.com/hashatlas/hashatlas/schemas"
)

type discardStore struct{}

func (discardStore) WriteResults(context.Context, estimate.Results) error { return nil }

type truthKey struct {
	window string
	start  time.Time
	entity string
	metric string
}

// simulatedWorld makes a simulated world and the model on its own model data: its allocation
// and HQ tables, its published maps (references.csv, the prior for hashrate no row places) and
// its empty sites table, as `hashatlas simulate --sim.out` writes them for --model.data-dir.
func simulatedWorld(t *testing.T, cfg simulate.Config) (*simulate.World, estimate.Model) {
	t.Helper()
	w, err := simulate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, _, hw := modeldata.EmbeddedFiles()
	d, err := modeldata.ParseAll(w.AllocationCSV(), w.PoolHQCSV(), hw, w.ReferencesCSV(), w.SitesCSV())
	if err != nil {
		t.Fatal(err)
	}
	return w, estimate.NewModelWithData(d)
}

// simulatedRun estimates one simulated world end to end through the estimator service (as
// the pipeline does after Kafka), on the world's own model data.
func simulatedRun(t *testing.T, cfg simulate.Config) (*simulate.World, estimate.Results) {
	t.Helper()
	w, m := simulatedWorld(t, cfg)
	m.Draws = 1000
	svc := estimate.NewService(estimate.ServiceConfig{Model: m}, discardStore{}, nil, nil)
	for msg := range w.Messages() {
		if err := svc.Apply(msg); err != nil {
			t.Fatal(err)
		}
	}
	r, err := svc.Flush(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return w, r
}

// simulatedDefaultRuns are the default world's estimates for seeds 1 to 3, made once for the
// tests that score them.
var simulatedDefaultRuns = struct {
	sync.Mutex
	worlds  []*simulate.World
	results []estimate.Results
}{}

func defaultRuns(t *testing.T) ([]*simulate.World, []estimate.Results) {
	t.Helper()
	r := &simulatedDefaultRuns
	r.Lock()
	defer r.Unlock()
	if r.worlds == nil {
		for seed := uint64(1); seed <= 3; seed++ {
			cfg := simulate.DefaultConfig()
			cfg.Seed = seed
			w, res := simulatedRun(t, cfg)
			r.worlds, r.results = append(r.worlds, w), append(r.results, res)
		}
	}
	return r.worlds, r.results
}

type coverage struct{ in, n int }

func (c *coverage) add(truth float64, iv estimate.Interval) {
	c.n++
	if iv.Lower <= truth && truth <= iv.Upper {
		c.in++
	}
}

func (c coverage) rate() float64 { return float64(c.in) / float64(c.n) }

// TestIntervalsCoverTheSimulatedTruth is METHOD.md §10.3 on simulated worlds (3 seeds × 2 years):
// the 95 % intervals of network and pool hashrate (day, week and month windows) cover the
// time-averaged truth in 90–99 % of windows; every planted curtailment β is significant with
// an interval holding it in every yearly fit; and no pool gets a significant β under the
// region where nothing was planted (KZ), nor under any region it was not planted in. Country
// coverage, against where the hashrate really is, is scored by
// TestSimulatedCountryIntervalsCoverTheTrueLocations.
func TestIntervalsCoverTheSimulatedTruth(t *testing.T) {
	cov := map[string]*coverage{"network": {}, "pool": {}}
	worlds, results := defaultRuns(t)
	for i, w := range worlds {
		seed, r := w.Config().Seed, results[i]
		truth := map[truthKey]float64{}
		planted := map[string]float64{}
		for _, tr := range w.Truth() {
			truth[truthKey{tr.Window, tr.WindowStart, tr.Entity, tr.Metric}] = tr.Value
			if tr.Metric == schemas.MetricEnergyBeta && tr.Value > 0 {
				planted[tr.Entity] = tr.Value
			}
		}
		if len(planted) == 0 {
			t.Fatal("the default world plants no curtailment")
		}
		look := func(kind estimate.WindowKind, start time.Time, entity, metric string) (float64, bool) {
			v, ok := truth[truthKey{string(kind), start, entity, metric}]
			return v, ok
		}
		for _, n := range r.Network {
			if v, ok := look(n.Window.Kind, n.Window.Start, schemas.EntityNetwork, schemas.MetricNetworkHashrate); ok {
				cov["network"].add(v, n.Hashrate)
			}
		}
		for _, p := range r.Pools {
			if v, ok := look(p.Window.Kind, p.Window.Start, p.Pool, schemas.MetricPoolHashrate); ok {
				cov["pool"].add(v, p.Hashrate)
			}
		}
		fits, significant := 0, 0
		for _, s := range r.Signals {
			if s.Signal != estimate.SignalCurtailment || s.Window.Kind != estimate.Year {
				continue
			}
			key := s.Pool + "/" + s.Region
			if beta, ok := planted[key]; ok {
				fits++
				if s.Significant() {
					significant++
				}
				t.Logf("seed %d, %s %s: β %.3f [%.3f, %.3f] adjusted p %.2g (planted %.2f)", seed, s.Window, key, s.Beta.Value, s.Beta.Lower, s.Beta.Upper, s.PValue, beta)
				if !(s.Beta.Lower <= beta && beta <= s.Beta.Upper) {
					t.Errorf("seed %d, %s %s: β %.3f [%.3f, %.3f]; planted %.2f is outside the interval",
						seed, s.Window, key, s.Beta.Value, s.Beta.Lower, s.Beta.Upper, beta)
				}
			} else if s.Significant() {
				t.Errorf("seed %d, %s %s: significant β %.3f (adjusted p %.2g) where none was planted", seed, s.Window, key, s.Beta.Value, s.PValue)
			}
		}
		// Detection needs power: a pool of ~10 % shedding 35 % of its hashrate for ~9 hours on
		// ~35 days a year misses ~2 blocks on each of them, against a Poisson spread of ~4, and
		// must pass a Bonferroni bar over every pool × region. The largest planted response
		// (alphapool, 0.45) must be found every year; the weaker ones need only be covered.
		if significant < 2 {
			t.Errorf("seed %d: %d of %d yearly fits of planted curtailment are significant, want at least the 2 of alphapool/ERCO", seed, significant, fits)
		}
		if fits != 2*len(planted) {
			t.Errorf("seed %d: %d yearly fits of planted pairs, want %d (2 years × %d)", seed, fits, 2*len(planted), len(planted))
		}
	}
	for name, c := range cov {
		t.Logf("%s: %d of %d intervals cover the truth (%.1f %%)", name, c.in, c.n, 100*c.rate())
		if c.n < 1000 || c.rate() < 0.90 || c.rate() > 0.99 {
			t.Errorf("%s: %d of %d intervals (%.1f %%) cover the truth, want 90–99 %% of at least 1000", name, c.in, c.n, 100*c.rate())
		}
	}
}

// countryScore is the coverage of country intervals against a world's truth.
type countryScore struct {
	kind    map[estimate.WindowKind]*coverage // by window kind
	country map[string]*coverage              // month windows, by country
}

func newCountryScore() *countryScore {
	return &countryScore{kind: map[estimate.WindowKind]*coverage{}, country: map[string]*coverage{}}
}

// add scores the pool-allocation country intervals of every day, week and month window the
// truth has. The points of a window are the countries of the truth (the config's, never XX)
// and of the estimate (which always reports XX): a country the truth lacks has truth 0, one
// the estimate lacks the interval [0, 0]. So XX is a hit when the model leaves nothing there
// and a miss when it leaves rowless hashrate there.
func (s *countryScore) add(t *testing.T, w *simulate.World, r estimate.Results) {
	t.Helper()
	type key struct {
		kind  string
		start time.Time
	}
	truth := map[key]map[string]float64{}
	for _, tr := range w.Truth() {
		if tr.Metric != schemas.MetricCountryHashrate {
			continue
		}
		if tr.Entity == estimate.Unallocated {
			t.Fatalf("seed %d: the truth has XX %g in %s %s; every pool's hashrate has a true location", w.Config().Seed, tr.Value, tr.Window, tr.WindowStart)
		}
		k := key{tr.Window, tr.WindowStart}
		if truth[k] == nil {
			truth[k] = map[string]float64{}
		}
		truth[k][tr.Entity] = tr.Value
	}
	est := map[key]map[string]estimate.Interval{}
	for _, c := range r.Countries {
		if c.Method != estimate.MethodPoolAllocation {
			continue
		}
		k := key{string(c.Window.Kind), c.Window.Start}
		if _, ok := truth[k]; !ok {
			continue // a window the span cuts
		}
		if est[k] == nil {
			est[k] = map[string]estimate.Interval{}
		}
		est[k][c.Country] = c.Hashrate
	}
	if len(est) < len(truth)*9/10 {
		t.Fatalf("seed %d: country estimates for %d of the truth's %d windows", w.Config().Seed, len(est), len(truth))
	}
	for k, ivs := range est {
		kind := estimate.WindowKind(k.kind)
		if s.kind[kind] == nil {
			s.kind[kind] = &coverage{}
		}
		for c := range ivs {
			if _, ok := truth[k][c]; !ok {
				truth[k][c] = 0
			}
		}
		for c, v := range truth[k] {
			s.kind[kind].add(v, ivs[c])
			if kind == estimate.Month {
				if s.country[c] == nil {
					s.country[c] = &coverage{}
				}
				s.country[c].add(v, ivs[c])
			}
		}
	}
}

func (s *countryScore) log(t *testing.T, name string) {
	t.Helper()
	var kinds []string
	for _, k := range []estimate.WindowKind{estimate.Day, estimate.Week, estimate.Month} {
		if c := s.kind[k]; c != nil {
			kinds = append(kinds, fmt.Sprintf("%s %d/%d (%.1f %%)", k, c.in, c.n, 100*c.rate()))
		}
	}
	var countries []string
	for c, cov := range s.country {
		countries = append(countries, fmt.Sprintf("%s %.0f %%", c, 100*cov.rate()))
	}
	sort.Strings(countries)
	t.Logf("%s: country intervals holding the truth: %s; month windows by country: %s", name, strings.Join(kinds, ", "), strings.Join(countries, ", "))
}

// TestSimulatedCountryIntervalsCoverTheTrueLocations scores the 95 % country intervals (pool
// allocation, the prior included) against where the simulated hashrate really is: every
// pool's hashrate in its true countries, with or without an allocation row, "unknown" blocks
// too; the truth has no XX (issue 15 item 5). Points are country-month windows, 3 seeds × 24
// months × 7 countries (six and XX, whose truth is 0) = 504 per case. The bars are set from
// these measurements (estimator 2.0.0 with the residual prior of METHOD.md §6.8, December
// 2026), a few points below them:
//
//   - The default world: 15 % of the hashrate is epsilonpool, which publishes no row and mines
//     in CN and KZ, and 2 % "unknown" (US and CN); the model places both by its prior, what the
//     world's nearest map leaves once the rows' placements are taken out. Measured: 491 of 504
//     (97.4 %; weeks 97.1 %, days 97.6 %). Bar: 90 %. Before the prior took the rows out (the
//     map's shares as they are) it was 358 of 504 (71.0 %): the prior spread rowless hashrate
//     like the whole network (US about 42 %), while here it sits in CN and KZ.
//   - The same worlds where epsilonpool publishes its mix (a row, κ 30), leaving 2 % to the
//     prior: 450 of 504 (89.3 %; weeks 90.0 %, days 93.3 %). Bar: 85 %. Its misses are mostly
//     CN, KZ and CA in the second year: their hashrate drifts (−10 % and −15 % a year against
//     the network) away from the rows' fixed mixes.
//
// A truth that put rowless pools in XX again fails here, on the XX check in add and on both
// bars: measured against such a truth the model covers about 63 % and 71 % (XX in no month).
func TestSimulatedCountryIntervalsCoverTheTrueLocations(t *testing.T) {
	bars := []struct {
		name string
		bar  float64
		runs func(*testing.T) ([]*simulate.World, []estimate.Results)
	}{
		{"default world (epsilonpool without a row)", 0.90, defaultRuns},
		{"epsilonpool with a row (only unknown without)", 0.85, func(t *testing.T) ([]*simulate.World, []estimate.Results) {
			var ws []*simulate.World
			var rs []estimate.Results
			for seed := uint64(1); seed <= 3; seed++ {
				cfg := simulate.DefaultConfig()
				cfg.Seed = seed
				cfg.Pools = slices.Clone(cfg.Pools)
				for i := range cfg.Pools {
					if cfg.Pools[i].Slug == "epsilonpool" {
						cfg.Pools[i].Kappa = 30
					}
				}
				w, r := simulatedRun(t, cfg)
				ws, rs = append(ws, w), append(rs, r)
			}
			return ws, rs
		}},
	}
	for _, b := range bars {
		t.Run(b.name, func(t *testing.T) {
			s := newCountryScore()
			ws, rs := b.runs(t)
			for i, w := range ws {
				s.add(t, w, rs[i])
			}
			s.log(t, b.name)
			m := s.kind[estimate.Month]
			if m == nil || m.n < 500 {
				t.Fatalf("%s: too few country-month points (%v), want 500 or more", b.name, m)
			}
			if m.rate() < b.bar {
				t.Fatalf("%s: %d of %d country-month intervals (%.1f %%) hold the truth, want at least %.0f %%", b.name, m.in, m.n, 100*m.rate(), 100*b.bar)
			}
		})
	}
}
