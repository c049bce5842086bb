package estimate

import (
	"math"
	"testing"

	"github.com/hashatlas/hashatlas/estimate/modeldata"
)

// TestPriorKappaShrinksWithAge: κ is PriorKappaFresh up to the age where the drift overtakes
// it, then 0.25/(drift·a)² − 1, and never below the floor (METHOD.md §6.8).
func TestPriorKappaShrinksWithAge(t *testing.T) {
	for _, c := range []struct {
		age  int
		want float64
	}{{0, 100}, {3, 100}, {4, 0.25/(0.064*0.064) - 1}, {6, 0.25/(0.096*0.096) - 1}, {12, 0.25/(0.192*0.192) - 1}, {14, 0.25/(0.224*0.224) - 1}, {16, 3}, {48, 3}} {
		if got := PriorKappa(c.age); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("PriorKappa(%d) = %v, want %v", c.age, got, c.want)
		}
	}
}

// TestPriorAtPicksTheNearestMapAndAppliesItsCaveats: the nearest release that is a map (its
// shares cover PriorMinCoverage) is used, its proxy shares move to the concealed country, which
// keeps at least 1/κ, and the rest below 100 % is XX.
func TestPriorAtPicksTheNearestMapAndAppliesItsCaveats(t *testing.T) {
	period := func(a, b string) modeldata.Period { return modeldata.Period{From: day(a), To: day(b)} }
	maps := []modeldata.CountryMap{
		{Source: "old", Period: period("2020-04-01", "2020-04-30"), Published: day("2020-05-06"),
			Shares: map[string]float64{"CN": 0.65, "US": 0.07, "RU": 0.07, "KZ": 0.06, "XX": 0.15}},
		// nearer, but only China: not a map
		{Source: "partial", Period: period("2021-03-01", "2021-03-31"), Published: day("2021-07-15"), Shares: map[string]float64{"CN": 0.49}},
		{Source: "ban", Period: period("2021-08-01", "2021-08-31"), Published: day("2021-10-13"),
			Shares: map[string]float64{"US": 0.35, "KZ": 0.18, "DE": 0.05, "IE": 0.05, "RU": 0.11, "CA": 0.1, "CN": 0},
			Proxy:  []string{"DE", "IE"}, Concealed: []string{"CN"}},
	}
	p, ok := PriorAt(maps, day("2020-11-15"))
	if !ok || p.Source != "old" || p.AgeMonths != 6 {
		t.Fatalf("2020-11-15: prior %+v, want the April 2020 map at 6 months", p)
	}
	if p, _ := PriorAt(maps, day("2021-03-15")); p.Source != "ban" {
		t.Errorf("2021-03-15: prior %s, want the August 2021 map (the nearer March 2021 release quotes China alone: not a map)", p.Source)
	}
	if math.Abs(p.Row.Kappa-PriorKappa(6)) > 1e-12 || math.Abs(p.Row.Shares["CN"]-0.65) > 1e-12 {
		t.Errorf("2020-11-15: κ %v CN %v", p.Row.Kappa, p.Row.Shares["CN"])
	}
	p, ok = PriorAt(maps, day("2021-08-20"))
	if !ok || p.Source != "ban" || p.AgeMonths != 0 || p.Row.Kappa != PriorKappaFresh {
		t.Fatalf("2021-08-20: prior %+v, want the August 2021 map, fresh", p)
	}
	s := p.Row.Shares
	if _, ok := s["DE"]; ok || s["IE"] != 0 {
		t.Errorf("proxy countries kept: %v", s)
	}
	if math.Abs(s["CN"]-0.10) > 1e-12 || math.Abs(s["XX"]-0.16) > 1e-12 || math.Abs(s["US"]-0.35) > 1e-12 {
		t.Errorf("shares %v: want CN 0.10 (DE + IE), XX 0.16 (the rest), US 0.35", s)
	}
	// Two years on, κ is at its floor and the concealed country keeps at least 1/κ.
	maps[2].Shares = map[string]float64{"US": 0.6, "KZ": 0.3, "CN": 0}
	maps[2].Proxy = nil
	p, _ = PriorAt(maps, day("2023-09-01"))
	if p.Row.Kappa != PriorKappaFloor || math.Abs(p.Row.Shares["CN"]-1.0/PriorKappaFloor) > 1e-12 {
		t.Errorf("two years on: κ %v, CN %v; want the floor %v and CN 1/κ", p.Row.Kappa, p.Row.Shares["CN"], float64(PriorKappaFloor))
	}
	sum := 0.0
	for _, v := range p.Row.Shares {
		sum += v
	}
	if math.Abs(sum-1) > 1e-12 {
		t.Errorf("prior shares sum to %v", sum)
	}
	if _, ok := PriorAt(nil, day("2023-01-01")); ok {
		t.Error("a prior without any map")
	}
}

// TestOnePriorDrawIsSharedByEveryPool: twenty pools without a row take one draw of the prior,
// so the country interval is as wide as the prior's own (Beta(5, 5): about [0.21, 0.79]); a
// draw per pool would average it down to about a quarter of that.
func TestOnePriorDrawIsSharedByEveryPool(t *testing.T) {
	var counts []PoolCount
	for i := 0; i < 20; i++ {
		counts = append(counts, PoolCount{Pool: string(rune('a'+i)) + "pool", Blocks: 50})
	}
	prior := &AllocationRow{Pool: "prior:test", Shares: map[string]float64{"US": 0.5, "CN": 0.5}, Kappa: 10}
	res, err := countryHashrates(1e24, 600*1000, counts, nil, WindowPrior{Row: prior}, 2000, 7, NewRowBank(7))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Country == "US" {
			if w := r.Share.Upper - r.Share.Lower; w < 0.5 {
				t.Errorf("US share %+v: interval width %.3f, want the prior's ~0.58", r.Share, w)
			}
			return
		}
	}
	t.Fatal("no US row")
}

// TestARowsXXPartTakesThePriorOverTheCountriesItDoesNotName: a row US 0.4, XX 0.6 under a
// prior US 0.5, CN 0.3, XX 0.2 gives US 0.4 (the row already placed the pool's US part), CN
// 0.6·0.3/0.5 and XX 0.6·0.2/0.5.
func TestARowsXXPartTakesThePriorOverTheCountriesItDoesNotName(t *testing.T) {
	counts := []PoolCount{{Pool: "rowpool", Blocks: 1000}}
	rows := map[string]AllocationRow{"rowpool": {Pool: "rowpool", Shares: map[string]float64{"US": 0.4, "XX": 0.6}, Kappa: 1e6}}
	prior := &AllocationRow{Pool: "prior:test", Shares: map[string]float64{"US": 0.5, "CN": 0.3, "XX": 0.2}, Kappa: 1e6}
	res, err := countryHashrates(1e24, 600*1000, counts, rows, WindowPrior{Row: prior}, 2000, 7, NewRowBank(7))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"US": 0.4, "CN": 0.36, "XX": 0.24}
	for _, r := range res {
		if math.Abs(r.Share.Value-want[r.Country]) > 0.003 {
			t.Errorf("%s: share %.4f, want %.4f", r.Country, r.Share.Value, want[r.Country])
		}
	}
	if len(res) != 3 {
		t.Errorf("%d countries, want 3: %+v", len(res), res)
	}
}

// TestRaiseToSitesMakesRoomForWhatListedMinersReport: a country whose reported sites exceed
// what the rows and the prior put there is raised to hold them, the rest scaled down; a bound
// the estimate already meets changes nothing.
func TestRaiseToSitesMakesRoomForWhatListedMinersReport(t *testing.T) {
	prior := &AllocationRow{Pool: "prior:m", Shares: map[string]float64{"US": 0.6, "CN": 0.3, "XX": 0.1}, Kappa: 20}
	// network 100 EH/s, half of it taking the prior; AE's 2.5 EH/s is 2.5 % of the network,
	// 5 % of the prior; the rows already put 40 EH/s in the US, more than its 10 EH/s bound.
	got, raised := RaiseToSites(prior, SiteFloors(map[string]float64{"AE": 2.5, "US": 10}, 100e18, 0.5, map[string]float64{"US": 0.4}))
	if !raised {
		t.Fatal("AE's bound did not raise the prior")
	}
	want := map[string]float64{"AE": 0.05, "US": 0.6 * 0.95, "CN": 0.3 * 0.95, "XX": 0.1 * 0.95}
	for c, w := range want {
		if math.Abs(got.Shares[c]-w) > 1e-12 {
			t.Errorf("%s: %v, want %v (all: %v)", c, got.Shares[c], w, got.Shares)
		}
	}
	if got.Kappa != prior.Kappa || prior.Shares["AE"] != 0 {
		t.Errorf("κ changed or the input modified: %+v %+v", got, prior)
	}
	if same, raised := RaiseToSites(prior, SiteFloors(map[string]float64{"US": 10}, 100e18, 0.5, map[string]float64{"US": 0.4})); raised || same != prior {
		t.Error("a bound already met changed the prior")
	}
	// Without a map the raise starts from all in XX.
	none, raised := RaiseToSites(nil, SiteFloors(map[string]float64{"PY": 1}, 100e18, 1, nil))
	if !raised || math.Abs(none.Shares["PY"]-0.01) > 1e-12 || math.Abs(none.Shares["XX"]-0.99) > 1e-12 || none.Kappa != PriorKappaFloor {
		t.Errorf("no map: %+v", none)
	}
}

// TestPriorSharesDoNotDependOnMapOrder: the prior's shares key the row bank's draws, so they
// must be bit-identical however Go orders the maps they are summed from.
func TestPriorSharesDoNotDependOnMapOrder(t *testing.T) {
	shares := map[string]float64{}
	for i, c := range []string{"US", "KZ", "RU", "CA", "IE", "DE", "MY", "IR", "NO", "SE", "NL", "PY", "CN"} {
		shares[c] = 0.0123456789 * float64(i+1)
	}
	m := []modeldata.CountryMap{{Source: "m", Period: modeldata.Period{From: day("2021-08-01"), To: day("2021-08-31")},
		Published: day("2021-10-13"), Shares: shares, Proxy: []string{"DE", "IE"}, Concealed: []string{"CN"}}}
	first, _ := PriorAt(m, day("2023-08-15"))
	firstRaised, _ := RaiseToSites(&first.Row, SiteFloors(map[string]float64{"AE": 3, "PY": 2, "OM": 1}, 300e18, 0.7, nil))
	for i := 0; i < 50; i++ {
		p, _ := PriorAt(m, day("2023-08-15"))
		r, _ := RaiseToSites(&p.Row, SiteFloors(map[string]float64{"AE": 3, "PY": 2, "OM": 1}, 300e18, 0.7, nil))
		for c, v := range first.Row.Shares {
			if p.Row.Shares[c] != v {
				t.Fatalf("call %d: prior share of %s %v, first call %v", i, c, p.Row.Shares[c], v)
			}
		}
		for c, v := range firstRaised.Shares {
			if r.Shares[c] != v {
				t.Fatalf("call %d: raised share of %s %v, first call %v", i, c, r.Shares[c], v)
			}
		}
	}
}

// TestSiteFloorsHoldInEveryDrawAndKeepOneBankEntryPerMap: with a floor of 10 % of the prior for
// AE (a country the map does not name) the pools taking the prior put at least that share of
// their hashrate there in every draw — the interval's lower end included — and windows with
// different floors share the map's one entry in the row bank (floors are applied per draw, not
// drawn anew per window).
func TestSiteFloorsHoldInEveryDrawAndKeepOneBankEntryPerMap(t *testing.T) {
	counts := []PoolCount{{Pool: "apool", Blocks: 500}, {Pool: "bpool", Blocks: 500}}
	prior := &AllocationRow{Pool: "prior:test", Shares: map[string]float64{"US": 0.7, "CN": 0.3}, Kappa: 10}
	bank := NewRowBank(7)
	for i := 1; i <= 10; i++ {
		floor := 0.01 * float64(i)
		res, err := countryHashrates(1e24, 600*1000, counts, nil, WindowPrior{Row: prior, Floors: map[string]float64{"AE": floor}}, 2000, 7, bank)
		if err != nil {
			t.Fatal(err)
		}
		var ae *CountryResult
		for k := range res {
			if res[k].Country == "AE" {
				ae = &res[k]
			}
		}
		if ae == nil || ae.Share.Lower < floor-1e-12 || math.Abs(ae.Share.Value-floor) > 1e-12 {
			t.Fatalf("floor %.2f: AE %+v, want every draw at the floor (no map names AE)", floor, ae)
		}
	}
	if n := len(bank.rows); n != 1 {
		t.Errorf("the bank holds %d entries after 10 windows of one map, want 1", n)
	}
}

// TestPriorCompletesAPartialTableFromTheNearestFullMap: a table naming 88 % keeps its own
// figures and splits the unnamed 12 % like the nearest other whole-network map splits the
// countries the table does not name, that map's own unnamed part staying XX (METHOD.md §6.8,
// "A partial table"); the farther map is not used, nor a survey of part of the network.
func TestPriorCompletesAPartialTableFromTheNearestFullMap(t *testing.T) {
	period := func(a, b string) modeldata.Period { return modeldata.Period{From: day(a), To: day(b)} }
	maps := []modeldata.CountryMap{
		{Source: "far", Period: period("2019-09-01", "2019-09-30"), Published: day("2020-05-06"),
			Shares: map[string]float64{"CN": 0.75, "US": 0.05, "SE": 0.2}},
		{Source: "partial", Period: period("2021-04-01", "2021-04-30"), Published: day("2021-07-15"),
			Shares: map[string]float64{"CN": 0.46, "US": 0.17, "KZ": 0.08, "RU": 0.07, "CA": 0.1}},
		{Source: "survey", Kind: modeldata.KindSurvey, Period: period("2021-05-01", "2021-05-31"), Published: day("2021-08-01"), Coverage: 0.5,
			Shares: map[string]float64{"US": 0.5, "NO": 0.5}},
		{Source: "next", Period: period("2021-08-01", "2021-08-31"), Published: day("2021-10-13"),
			Shares: map[string]float64{"US": 0.35, "KZ": 0.18, "DE": 0.05, "IE": 0.03, "CN": 0, "RU": 0.11, "CA": 0.1, "XX": 0.18}},
	}
	p, ok := PriorAt(maps, day("2021-04-15"))
	if !ok || p.Source != "partial" {
		t.Fatalf("prior %+v, want the April 2021 table", p)
	}
	s := p.Row.Shares
	// unnamed 0.12; "next" names DE 0.05 and IE 0.03 outside the table, 0.18 unnamed of its own
	want := map[string]float64{"CN": 0.46, "US": 0.17, "KZ": 0.08, "RU": 0.07, "CA": 0.1,
		"DE": 0.12 * 0.05 / 0.26, "IE": 0.12 * 0.03 / 0.26, "XX": 0.12 * 0.18 / 0.26}
	for c, w := range want {
		if math.Abs(s[c]-w) > 1e-12 {
			t.Errorf("%s: %v, want %v (shares %v)", c, s[c], w, s)
		}
	}
	if len(s) != len(want) {
		t.Errorf("shares %v: want exactly %v (SE is the farther map's, NO a survey's)", s, want)
	}
	if p.CompletedFrom != "next 2021-08-01..2021-08-31" || len(p.Completed) != 2 || p.Completed[0] != "DE" || p.Completed[1] != "IE" {
		t.Errorf("completed %v from %q, want DE, IE from next 2021-08", p.Completed, p.CompletedFrom)
	}
	// without another whole-network map the remainder stays XX
	p, _ = PriorAt(maps[1:3], day("2021-04-15"))
	if math.Abs(p.Row.Shares["XX"]-0.12) > 1e-12 || p.CompletedFrom != "" {
		t.Errorf("alone: XX %v from %q, want 0.12 and nothing completed", p.Row.Shares["XX"], p.CompletedFrom)
	}
}
