package simulate

import (
	"bytes"
	"encoding/csv"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
)

type windowKey struct {
	kind  string
	start time.Time
}

func TestTruthWindowsCoverTheSpan(t *testing.T) {
	cases := []struct {
		name       string
		start, end time.Time
		weeks      int
		months     int
	}{
		// 2024-01-01 is a Monday; 2026-01-01 a Thursday, so the week of 2025-12-29 is cut.
		{"the default two years", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 104, 24},
		// 2024-03-15 is a Friday: weeks from Monday 03-18; months from April to the end of June.
		{"a span starting mid-week and mid-month", time.Date(2024, 3, 15, 0, 0, 0, 0, time.UTC), time.Date(2024, 7, 10, 0, 0, 0, 0, time.UTC), 16, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Start, cfg.End = tc.start, tc.end
			w := mustNew(t, cfg)
			wins := map[string][]windowKey{}
			seen := map[windowKey]time.Time{}
			for _, r := range w.Truth() {
				k := windowKey{r.Window, r.WindowStart}
				if _, ok := seen[k]; !ok {
					wins[r.Window] = append(wins[r.Window], k)
					seen[k] = r.WindowEnd
				}
				if r.WindowStart.Before(tc.start) || r.WindowEnd.After(tc.end) {
					t.Fatalf("%s window %s-%s reaches outside the span", r.Window, r.WindowStart, r.WindowEnd)
				}
			}
			// Days tile the span exactly.
			next := tc.start
			for _, k := range wins[schemas.WindowDay] {
				if !k.start.Equal(next) || !seen[k].Equal(next.AddDate(0, 0, 1)) {
					t.Fatalf("day window %s, want %s", k.start, next)
				}
				next = seen[k]
			}
			if !next.Equal(tc.end) {
				t.Fatalf("days end at %s, want %s", next, tc.end)
			}
			// Every whole ISO week and calendar month inside the span, consecutive.
			for _, kind := range []string{schemas.WindowWeek, schemas.WindowMonth} {
				ks := wins[kind]
				want := tc.weeks
				if kind == schemas.WindowMonth {
					want = tc.months
				}
				if len(ks) != want {
					t.Fatalf("%d %s windows, want %d", len(ks), kind, want)
				}
				for i, k := range ks {
					if kind == schemas.WindowWeek && (k.start.Weekday() != time.Monday || !seen[k].Equal(k.start.AddDate(0, 0, 7))) {
						t.Fatalf("week %s-%s is not Monday to Monday", k.start, seen[k])
					}
					if kind == schemas.WindowMonth && (k.start.Day() != 1 || !seen[k].Equal(k.start.AddDate(0, 1, 0))) {
						t.Fatalf("month %s-%s is not a calendar month", k.start, seen[k])
					}
					if i > 0 && !k.start.Equal(seen[ks[i-1]]) {
						t.Fatalf("%s windows skip from %s to %s", kind, seen[ks[i-1]], k.start)
					}
				}
				// The first whole window starts less than one window after Start.
				if d := ks[0].start.Sub(tc.start); d < 0 || d >= 31*24*time.Hour || (kind == schemas.WindowWeek && d >= 7*24*time.Hour) {
					t.Fatalf("first %s window starts %s after the span", kind, d)
				}
				if last := seen[ks[len(ks)-1]]; tc.end.Sub(last) >= 31*24*time.Hour {
					t.Fatalf("last %s window ends %s, far before the span end", kind, last)
				}
			}
			if len(wins[WindowRun]) != 1 {
				t.Fatalf("%d run windows", len(wins[WindowRun]))
			}
		})
	}
}

// TestTruthIsConsistent checks the accounting of every window: pool hashrates and country
// hashrates each sum to the network, shares sum to 1, the countries are exactly the config's
// (never XX: the pools without a row, epsilonpool and "unknown", count in their true
// countries), and week and month values are averages of their days.
func TestTruthIsConsistent(t *testing.T) {
	w := mustDefault(t)
	type acc struct {
		net, pools, countries, poolShares, countryShares float64
		entities                                         []string
	}
	byWin := map[windowKey]*acc{}
	dayNet := map[time.Time]float64{}
	var wantCountries []string
	for _, c := range w.Config().Countries {
		wantCountries = append(wantCountries, c.Code)
	}
	slices.Sort(wantCountries)
	for _, r := range w.Truth() {
		k := windowKey{r.Window, r.WindowStart}
		a := byWin[k]
		if a == nil {
			a = &acc{}
			byWin[k] = a
		}
		switch r.Metric {
		case schemas.MetricNetworkHashrate:
			a.net = r.Value
			if r.Window == schemas.WindowDay {
				dayNet[r.WindowStart] = r.Value
			}
		case schemas.MetricPoolHashrate:
			a.pools += r.Value
		case schemas.MetricPoolShare:
			a.poolShares += r.Value
		case schemas.MetricCountryHashrate:
			a.countries += r.Value
			a.entities = append(a.entities, r.Entity)
			if r.Value < 0 {
				t.Fatalf("%s %s: negative country hashrate %g", r.WindowStart, r.Entity, r.Value)
			}
		case schemas.MetricCountryShare:
			a.countryShares += r.Value
		case schemas.MetricEnergyBeta:
		default:
			t.Fatalf("unexpected metric %s", r.Metric)
		}
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Abs(b) }
	for k, a := range byWin {
		if k.kind == WindowRun {
			continue
		}
		if !near(a.pools, a.net) || !near(a.countries, a.net) || !near(a.poolShares, 1) || !near(a.countryShares, 1) {
			t.Fatalf("%s %s: network %g, pools %g, countries %g, shares %g and %g",
				k.kind, k.start, a.net, a.pools, a.countries, a.poolShares, a.countryShares)
		}
		if !slices.Equal(a.entities, wantCountries) {
			t.Fatalf("%s %s: country truth for %v, want the config's countries %v (no XX)", k.kind, k.start, a.entities, wantCountries)
		}
		if k.kind == schemas.WindowDay {
			continue
		}
		end := k.start.AddDate(0, 1, 0)
		if k.kind == schemas.WindowWeek {
			end = k.start.AddDate(0, 0, 7)
		}
		sum, n := 0.0, 0
		for d := k.start; d.Before(end); d = d.AddDate(0, 0, 1) {
			sum += dayNet[d]
			n++
		}
		if !near(a.net, sum/float64(n)) {
			t.Fatalf("%s %s: network %g is not the mean %g of its %d days", k.kind, k.start, a.net, sum/float64(n), n)
		}
	}
}

// TestRowlessPoolsCountInTheirTrueCountries: in a world whose countries all follow the same
// path (no drift, no season) and where nothing curtails, each pool's hashrate in a country is
// its hashrate × its true share there, so every window's country truth is Σ_pools pool truth ×
// TrueMix, whether or not the pool publishes a row. The default world's rowless pools
// (epsilonpool, in CN and KZ, and "unknown") put nothing in XX; the check would fail if they
// were counted there, or anywhere but where they are.
func TestRowlessPoolsCountInTheirTrueCountries(t *testing.T) {
	cfg := DefaultConfig()
	cfg.End = cfg.Start.AddDate(0, 3, 0)
	cfg.Curtailments = nil
	cfg.Countries = slices.Clone(cfg.Countries)
	for i := range cfg.Countries {
		cfg.Countries[i].Drift, cfg.Countries[i].SeasonAmplitude = 0, 0
	}
	w := mustNew(t, cfg)
	rowless := 0
	mixes := map[string]map[string]float64{}
	for _, p := range cfg.Pools {
		m, ok := w.TrueMix(p.Slug)
		if !ok {
			t.Fatalf("no true mix for %s", p.Slug)
		}
		mixes[p.Slug] = m
		if p.Kappa == 0 {
			rowless++
			if !maps.Equal(m, p.Mix) {
				t.Fatalf("rowless %s: true mix %v, config %v", p.Slug, m, p.Mix)
			}
		}
	}
	if rowless < 2 {
		t.Fatalf("%d rowless pools in the default config, want epsilonpool and unknown", rowless)
	}
	want := map[windowKey]map[string]float64{}
	got := map[windowKey]map[string]float64{}
	for _, r := range w.Truth() {
		k := windowKey{r.Window, r.WindowStart}
		switch r.Metric {
		case schemas.MetricPoolHashrate:
			if want[k] == nil {
				want[k] = map[string]float64{}
			}
			for c, m := range mixes[r.Entity] {
				want[k][c] += r.Value * m
			}
		case schemas.MetricCountryHashrate:
			if got[k] == nil {
				got[k] = map[string]float64{}
			}
			got[k][r.Entity] = r.Value
		}
	}
	if len(got) < 90 {
		t.Fatalf("%d windows", len(got))
	}
	for k, g := range got {
		if _, ok := g["XX"]; ok {
			t.Fatalf("%s %s: truth has XX", k.kind, k.start)
		}
		for c, v := range want[k] {
			if math.Abs(g[c]-v) > 1e-9*v {
				t.Fatalf("%s %s %s: truth %g, pools × true mixes %g", k.kind, k.start, c, g[c], v)
			}
		}
		for c, v := range g {
			if _, ok := want[k][c]; !ok && v != 0 {
				t.Fatalf("%s %s %s: truth %g where no pool is", k.kind, k.start, c, v)
			}
		}
	}
}

func TestCurtailmentShowsInCountryTruth(t *testing.T) {
	// An ERCO event (which may run past midnight into day d+1) lowers US hashrate on days d and
	// d+1 below the calm days d−1 and d+2 around it, by at least most of the curtailed pools' β
	// × their hashrate × the stressed fraction.
	w := mustDefault(t)
	s := stressFraction(w, 0) // ERCO
	nt, np := len(w.truthCountries), len(w.pools)
	us := -1
	for j, c := range w.truthCountries {
		if c == "US" {
			us = j
		}
	}
	checked := 0
	for d := 1; d+2 < w.days; d++ {
		if s[d] == 0 || s[d-1] != 0 || s[d+2] != 0 {
			continue
		}
		calm := w.dayCountry[(d-1)*nt+us] + w.dayCountry[(d+2)*nt+us]
		shed := calm - w.dayCountry[d*nt+us] - w.dayCountry[(d+1)*nt+us]
		// alphapool and betapool are pools 0 and 1; day d−1 is calm, so its sums are uncurtailed.
		wantMin := 0.8 * (s[d] + s[d+1]) * (0.45*w.dayPool[(d-1)*np] + 0.35*w.dayPool[(d-1)*np+1])
		if shed < wantMin {
			t.Errorf("days %d-%d (stress %.2f, %.2f): US truth drops by %g, want at least %g", d, d+1, s[d], s[d+1], shed, wantMin)
		}
		checked++
	}
	if checked < 40 {
		t.Fatalf("only %d isolated ERCO events", checked)
	}
}

func TestTruthCSVIsDeterministicAndReadsBackExactly(t *testing.T) {
	w := mustDefault(t)
	var a, b bytes.Buffer
	if err := w.WriteTruthCSV(&a); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteTruthCSV(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two writes of the truth differ")
	}
	recs, err := csv.NewReader(bytes.NewReader(a.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0], ",") != TruthCSVHeader {
		t.Fatalf("header %v", recs[0])
	}
	rows := w.Truth()
	if len(recs)-1 != len(rows) {
		t.Fatalf("%d CSV rows for %d truth rows", len(recs)-1, len(rows))
	}
	for i, r := range rows {
		rec := recs[i+1]
		v, err := strconv.ParseFloat(rec[5], 64)
		start, err2 := time.Parse(time.RFC3339, rec[1])
		end, err3 := time.Parse(time.RFC3339, rec[2])
		if err != nil || err2 != nil || err3 != nil || rec[0] != r.Window || !start.Equal(r.WindowStart) || !end.Equal(r.WindowEnd) ||
			rec[3] != r.Entity || rec[4] != r.Metric || v != r.Value {
			t.Fatalf("row %d reads back as %v, want %+v", i, rec, r)
		}
	}
	// The planted β values are in it.
	for _, want := range []string{"run,2024-01-01T00:00:00Z,2026-01-01T00:00:00Z,alphapool/ERCO,energy_beta,0.45\n",
		"run,2024-01-01T00:00:00Z,2026-01-01T00:00:00Z,deltapool/RU,energy_beta,0.35\n",
		"run,2024-01-01T00:00:00Z,2026-01-01T00:00:00Z,gammapool/KZ,energy_beta,0\n"} {
		if !strings.Contains(a.String(), want) {
			t.Errorf("truth CSV lacks %q", want)
		}
	}
}
