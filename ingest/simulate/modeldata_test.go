package simulate

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/estimate/modeldata"
	"github.com/hashatlas/hashatlas/schemas"
)

// TestModelDataParsesWithTheEstimatorsLoader proves that the world's allocation and HQ tables
// are valid model data (modeldata.Parse with the embedded hardware table), and that they say
// what the world's config says: every pool with a row has exactly its published mix and κ over
// the span, pools without a row have none, and every pool but "unknown" has its HQ.
func TestModelDataParsesWithTheEstimatorsLoader(t *testing.T) {
	w := mustDefault(t)
	_, _, hardware := modeldata.EmbeddedFiles()
	d, err := modeldata.Parse(w.AllocationCSV(), w.PoolHQCSV(), hardware)
	if err != nil {
		t.Fatalf("modeldata.Parse: %v\n%s", err, w.AllocationCSV())
	}
	cfg := w.Config()
	for _, p := range cfg.Pools {
		for _, at := range []string{"2024-01-01T00:00:00Z", "2025-06-30T12:00:00Z", "2025-12-31T23:59:59Z"} {
			tm := mustTime(t, at)
			shares, kappa, ok := d.AllocationAt(p.Slug, tm)
			if p.Kappa == 0 {
				if ok {
					t.Errorf("%s has no row in the config but an allocation %v at %s", p.Slug, shares, at)
				}
				continue
			}
			if !ok || kappa != p.Kappa || !reflect.DeepEqual(shares, p.Mix) {
				t.Errorf("%s at %s: allocation %v κ %v (found %v), config %v κ %v", p.Slug, at, shares, kappa, ok, p.Mix, p.Kappa)
			}
		}
		country, region, ok := d.HQ(p.Slug)
		if p.HQCountry == "" {
			if ok {
				t.Errorf("%s has an HQ row", p.Slug)
			}
			continue
		}
		if !ok || country != p.HQCountry || region != p.HQRegion {
			t.Errorf("%s HQ %s/%s (found %v), config %s/%s", p.Slug, country, region, ok, p.HQCountry, p.HQRegion)
		}
	}
	for _, a := range d.Allocations() {
		for _, s := range a.Sources {
			if s != "hashatlas simulator seed 1" {
				t.Errorf("%s cites %q", a.Pool, s)
			}
		}
	}
	regions := map[string]int{}
	for _, h := range d.HQs() {
		regions[h.Region]++
		if h.Source != "hashatlas simulator seed 1" {
			t.Errorf("HQ of %s cites %q", h.Pool, h.Source)
		}
	}
	if regions["North America"] != 3 || regions["Asia"] != 2 || regions["Europe"] != 1 || regions["Unknown"] != 1 {
		t.Errorf("HQ regions %v", regions)
	}
	if !strings.Contains(string(w.AllocationCSV()), "\nalphapool,US,0.8,60,2024-01-01,,hashatlas simulator seed 1\n") {
		t.Errorf("allocation.csv:\n%s", w.AllocationCSV())
	}
}

// monthShares returns the truth's country shares of every month window.
func monthShares(w *World) map[time.Time]map[string]float64 {
	out := map[time.Time]map[string]float64{}
	for _, r := range w.Truth() {
		if r.Window == schemas.WindowMonth && r.Metric == schemas.MetricCountryShare {
			if out[r.WindowStart] == nil {
				out[r.WindowStart] = map[string]float64{}
			}
			out[r.WindowStart][r.Entity] = r.Value
		}
	}
	return out
}

// parseMaps loads the world's model data, references and (empty) sites included, with the
// estimator's loader.
func parseMaps(t *testing.T, w *World) []modeldata.CountryMap {
	t.Helper()
	_, _, hardware := modeldata.EmbeddedFiles()
	d, err := modeldata.ParseAll(w.AllocationCSV(), w.PoolHQCSV(), hardware, w.ReferencesCSV(), w.SitesCSV())
	if err != nil {
		t.Fatalf("modeldata.ParseAll: %v\n%s", err, w.ReferencesCSV())
	}
	if len(d.Sites()) != 0 {
		t.Fatalf("%d site reports; a simulated world has none", len(d.Sites()))
	}
	for _, r := range d.References() {
		if r.Citation != w.citation() || r.Kind != modeldata.KindMap || r.Caveat != "" {
			t.Fatalf("reference %+v: want kind map, no caveat, citation %q", r, w.citation())
		}
	}
	return d.Maps()
}

// TestReferencesAreTheWorldsMeasuredMaps: the default world publishes a map of January, April,
// July and October, each a whole month of the span, 90 to 150 days after it and before the
// span ends (seven maps: October 2025's is not out by 2026-01-01); its shares place the whole
// network (they sum to 1 within rounding, no XX) and are the month's true country shares with
// the configured 10 % error.
func TestReferencesAreTheWorldsMeasuredMaps(t *testing.T) {
	w := mustDefault(t)
	cfg := w.Config()
	truth := monthShares(w)
	ms := parseMaps(t, w)
	var months []string
	for _, m := range ms {
		months = append(months, m.Period.From.Format("2006-01"))
		last := m.Period.From.AddDate(0, 1, -1)
		if m.Period.From.Day() != 1 || !m.Period.To.Equal(last) || m.Source != "simulator-map-"+m.Period.From.Format("2006-01") {
			t.Errorf("map %s covers %s, want one calendar month", m.Source, m.Period)
		}
		if lag := m.Published.Sub(last).Hours() / 24; lag < 90 || lag > 150 || !m.Published.Before(cfg.End) {
			t.Errorf("map %s published %s, %.0f days after its month (want 90-150, before %s)", m.Source, m.Published.Format(time.DateOnly), lag, cfg.End.Format(time.DateOnly))
		}
		sum := 0.0 // in country order, as estimate.PriorAt adds them: a sum below 1 would be XX
		for _, c := range sortedKeys(m.Shares) {
			s := m.Shares[c]
			sum += s
			tr := truth[m.Period.From][c]
			if c == "XX" || tr == 0 {
				t.Errorf("map %s places %.4f in %s, where the truth has %g", m.Source, s, c, tr)
				continue
			}
			// 10 % log-normal error, renormalised: 4.5 sd is 0.45 in log.
			if r := math.Log(s / tr); math.Abs(r) > 0.45 {
				t.Errorf("map %s: %s %.4f, true share %.4f", m.Source, c, s, tr)
			}
		}
		if len(m.Shares) != len(cfg.Countries) || sum < 1 || sum > 1.0002 {
			t.Errorf("map %s: %d countries summing to %.6f, want all %d summing to 1", m.Source, len(m.Shares), sum, len(cfg.Countries))
		}
	}
	if got := strings.Join(months, " "); got != "2024-01 2024-04 2024-07 2024-10 2025-01 2025-04 2025-07" {
		t.Errorf("mapped months %s", got)
	}
}

// TestReferencesNoiseIsAsDocumented: without noise a map is the truth rounded to 4 decimals;
// with noise σ the log errors of twenty worlds' maps have a spread near σ (a little below: the
// renormalisation takes out their common part), and the same world writes the same bytes.
func TestReferencesNoiseIsAsDocumented(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Maps = Maps{EveryMonths: 1, Noise: 0, MinLagDays: 0, MaxLagDays: 0}
	cfg.End = cfg.Start.AddDate(1, 0, 0)
	w := mustNew(t, cfg)
	truth := monthShares(w)
	ms := parseMaps(t, w)
	if len(ms) != 12 { // published on each month's last day, December's on 2024-12-31 too
		t.Fatalf("%d monthly maps over a year published the month's last day, want 12", len(ms))
	}
	for _, m := range ms {
		for c, s := range m.Shares {
			if math.Abs(s-truth[m.Period.From][c]) > 0.00015 {
				t.Errorf("noiseless map %s: %s %.4f, truth %.6f", m.Source, c, s, truth[m.Period.From][c])
			}
		}
	}
	const sigma = 0.2
	var sum2 float64
	n := 0
	for seed := uint64(1); seed <= 20; seed++ {
		cfg := DefaultConfig()
		cfg.Seed, cfg.Maps.Noise = seed, sigma
		w := mustNew(t, cfg)
		if a, b := string(w.ReferencesCSV()), string(w.ReferencesCSV()); a != b {
			t.Fatal("two writes of the references differ")
		}
		truth := monthShares(w)
		for _, m := range parseMaps(t, w) {
			for c, s := range m.Shares {
				r := math.Log(s / truth[m.Period.From][c])
				sum2 += r * r
				n++
			}
		}
	}
	if sd := math.Sqrt(sum2 / float64(n)); n < 800 || sd < 0.8*sigma || sd > 1.1*sigma {
		t.Errorf("log error spread %.3f over %d shares, want about %.2f", sd, n, sigma)
	}
}

// TestReferencesWithoutMapsAreAHeader: a world that maps nothing (Maps.EveryMonths 0), or whose
// span holds no whole month, writes the header alone, which loads as no map.
func TestReferencesWithoutMapsAreAHeader(t *testing.T) {
	cfg := DefaultConfig()
	cfg.End = cfg.Start.AddDate(0, 6, 0)
	cfg.Maps.EveryMonths = 0
	short := DefaultConfig()
	short.Start, short.End = time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC), time.Date(2024, 4, 20, 0, 0, 0, 0, time.UTC)
	for _, c := range []Config{cfg, short} {
		w := mustNew(t, c)
		if ms := parseMaps(t, w); len(ms) != 0 {
			t.Errorf("%s to %s, every %d months: %d maps", c.Start.Format(time.DateOnly), c.End.Format(time.DateOnly), c.Maps.EveryMonths, len(ms))
		}
		if lines := strings.Count(string(w.ReferencesCSV()), "\n"); lines != 2 {
			t.Errorf("references.csv without maps has %d lines, want a comment and the header:\n%s", lines, w.ReferencesCSV())
		}
	}
}
