package estimate_test

import (
	"context"
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

// simulatedWorld makes a simulated world and the model on its own allocation and HQ tables.
func simulatedWorld(t *testing.T, cfg simulate.Config) (*simulate.World, estimate.Model) {
	t.Helper()
	w, err := simulate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, _, hw := modeldata.EmbeddedFiles()
	d, err := modeldata.Parse(w.AllocationCSV(), w.PoolHQCSV(), hw)
	if err != nil {
		t.Fatal(err)
	}
	return w, estimate.NewModelWithData(d)
}

// simulatedRun estimates one simulated world end to end through the estimator service (as
// the pipeline does after Kafka), on the world's own allocation and HQ tables.
func simulatedRun(t *testing.T, seed uint64) (*simulate.World, estimate.Results) {
	t.Helper()
	cfg := simulate.DefaultConfig()
	cfg.Seed = seed
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

type coverage struct{ in, n int }

func (c *coverage) add(truth float64, iv estimate.Interval) {
	c.n++
	if iv.Lower <= truth && truth <= iv.Upper {
		c.in++
	}
}

func (c coverage) rate() float64 { return float64(c.in) / float64(c.n) }

// TestIntervalsCoverTheSimulatedTruth is METHOD.md §10.3 on simulated worlds (3 seeds × 2 years):
// the 95 % intervals of network, pool and country hashrate (day, week and month windows) cover
// the time-averaged truth in 90–99 % of windows; every planted curtailment β is significant
// with an interval holding it in every yearly fit; and no pool gets a significant β under the
// region where nothing was planted (KZ), nor under any region it was not planted in.
func TestIntervalsCoverTheSimulatedTruth(t *testing.T) {
	cov := map[string]*coverage{"network": {}, "pool": {}, "country": {}}
	for seed := uint64(1); seed <= 3; seed++ {
		w, r := simulatedRun(t, seed)
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
		for _, c := range r.Countries {
			if c.Method != estimate.MethodPoolAllocation {
				continue
			}
			if v, ok := look(c.Window.Kind, c.Window.Start, c.Country, schemas.MetricCountryHashrate); ok {
				cov["country"].add(v, c.Hashrate)
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
