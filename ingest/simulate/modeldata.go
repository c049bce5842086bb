package simulate

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// citation is the source of every model-data row of the world.
func (w *World) citation() string { return fmt.Sprintf("hashatlas simulator seed %d", w.cfg.Seed) }

// AllocationCSV returns the world's published allocation table in the format of
// estimate/modeldata's allocation.csv (pool_slug,country,share,kappa,valid_from,valid_to,source):
// for every pool with a row, its published mix M and κ, valid from Start with no end, citing
// "hashatlas simulator seed N". Pools without a row (and "unknown") have none: the estimator
// places their hashrate by its prior (ReferencesCSV), the truth by their true mix. The true
// mixes, drawn from Dirichlet(κ·M), are not in it (see TrueMix).
func (w *World) AllocationCSV() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# allocation.csv of a simulated world (hashatlas simulator, seed %d): published rows M; each pool's true mix is drawn from Dirichlet(kappa*M).\n", w.cfg.Seed)
	cw := csv.NewWriter(&b)
	_ = cw.Write([]string{"pool_slug", "country", "share", "kappa", "valid_from", "valid_to", "source"})
	from := w.cfg.Start.Format("2006-01-02")
	for _, p := range w.pools {
		if !p.published {
			continue
		}
		for _, c := range sortedKeys(p.Mix) {
			_ = cw.Write([]string{p.Slug, c, strconv.FormatFloat(p.Mix[c], 'g', -1, 64),
				strconv.FormatFloat(p.Kappa, 'g', -1, 64), from, "", w.citation()})
		}
	}
	cw.Flush() // writes to a bytes.Buffer cannot fail
	return b.Bytes()
}

// PoolHQCSV returns the world's pool HQ table in the format of estimate/modeldata's pool_hq.csv
// (pool_slug,hq_country,region,source): one row per pool with an HQ, citing "hashatlas
// simulator seed N".
func (w *World) PoolHQCSV() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# pool_hq.csv of a simulated world (hashatlas simulator, seed %d): where each pool is run.\n", w.cfg.Seed)
	cw := csv.NewWriter(&b)
	_ = cw.Write([]string{"pool_slug", "hq_country", "region", "source"})
	for _, p := range w.pools {
		if p.HQCountry == "" {
			continue
		}
		_ = cw.Write([]string{p.Slug, p.HQCountry, p.HQRegion, w.citation()})
	}
	cw.Flush()
	return b.Bytes()
}

// SitesCSV returns the world's table of listed miners' reported hashrate by site country, in
// the format of estimate/modeldata's sites.csv (company,period_end,published,country,ehs,pools,
// source): the header alone, since no miner of a simulated world reports its sites. Written
// into a model-data directory it replaces the built-in table, whose real companies' figures
// would otherwise raise the prior toward countries the world does not have.
func (w *World) SitesCSV() []byte {
	return fmt.Appendf(nil, "# sites.csv of a simulated world (hashatlas simulator, seed %d): no listed miner reports its sites.\ncompany,period_end,published,country,ehs,pools,source\n", w.cfg.Seed)
}

// mapSource names the release of the world's map of month m.
func mapSource(m time.Time) string { return "simulator-map-" + m.Format("2006-01") }

// mapUnits is the published precision of a map's shares: 4 decimals.
const mapUnits = 10000

// ReferencesCSV returns the world's published country maps in the format of estimate/modeldata's
// references.csv (source,kind,period_start,period_end,country,share,published,caveat,citation),
// made as Config.Maps describes: for each mapped month, one release "simulator-map-YYYY-MM" of
// kind map whose period is the month, with the share of every country with hashrate that
// month, measured with error (Maps.Noise), rounded to 4 decimals by largest remainder so that
// they sum to 1 (when the floating-point sum of the rounded figures falls a hair short, the
// largest gets another 0.0001: the map places the whole network and leaves no "other", as the
// truth has no XX), published Maps.MinLagDays to Maps.MaxLagDays after the month, citing
// "hashatlas simulator seed N". Only maps published before End are in it; with none it is
// the header alone, which still replaces the built-in (real-world) maps in a model-data
// directory. The same world gives the same bytes.
func (w *World) ReferencesCSV() []byte {
	var b bytes.Buffer
	mc := w.cfg.Maps
	if mc.EveryMonths > 0 {
		fmt.Fprintf(&b, "# references.csv of a simulated world (hashatlas simulator, seed %d): a map of every %d months' true country shares with %g relative error, published %d-%d days after the month.\n",
			w.cfg.Seed, mc.EveryMonths, mc.Noise, mc.MinLagDays, mc.MaxLagDays)
	} else {
		fmt.Fprintf(&b, "# references.csv of a simulated world (hashatlas simulator, seed %d): no map is published.\n", w.cfg.Seed)
	}
	cw := csv.NewWriter(&b)
	_ = cw.Write([]string{"source", "kind", "period_start", "period_end", "country", "share", "published", "caveat", "citation"})
	if mc.EveryMonths > 0 {
		months := w.wholeMonths()
		first := 0
		if len(months) > 0 {
			first = monthIndex(months[0].start)
		}
		for _, m := range months {
			i := monthIndex(m.start) - first
			if i%mc.EveryMonths != 0 {
				continue
			}
			rng := newRand(w.cfg.Seed, streamMaps<<32|uint64(i))
			last := m.start.AddDate(0, 1, -1)
			published := last.AddDate(0, 0, mc.MinLagDays+rng.IntN(mc.MaxLagDays-mc.MinLagDays+1))
			if !published.Before(w.cfg.End) {
				continue
			}
			shares := w.countryShares(m.d0, m.d1)
			measured := make([]float64, len(shares))
			for j, s := range shares {
				z := rng.NormFloat64() // one per country, zero shares too: fixed draws per map
				measured[j] = s * math.Exp(mc.Noise*z-mc.Noise*mc.Noise/2)
			}
			units := roundShares(measured)
			for j, u := range units {
				if u == 0 {
					continue
				}
				_ = cw.Write([]string{mapSource(m.start), "map", m.start.Format(time.DateOnly), last.Format(time.DateOnly),
					w.truthCountries[j], strconv.FormatFloat(float64(u)/mapUnits, 'f', -1, 64),
					published.Format(time.DateOnly), "", w.citation()})
			}
		}
	}
	cw.Flush()
	return b.Bytes()
}

// monthIndex counts calendar months from year 0.
func monthIndex(t time.Time) int { return t.Year()*12 + int(t.Month()) - 1 }

// roundShares normalises v and rounds it to whole units of 1/mapUnits summing to mapUnits (the
// largest remainders round up), then adds a unit to the largest share while the floating-point
// sum of the published figures, in index order, is below 1.
func roundShares(v []float64) []int {
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	units := make([]int, len(v))
	rem := make([]int, len(v)) // indices by remainder, largest first
	left := mapUnits
	for j, x := range v {
		units[j] = int(math.Floor(x / sum * mapUnits))
		left -= units[j]
		rem[j] = j
	}
	frac := func(j int) float64 { return v[j]/sum*mapUnits - float64(units[j]) }
	slices.SortStableFunc(rem, func(a, b int) int {
		switch fa, fb := frac(a), frac(b); {
		case fa > fb:
			return -1
		case fa < fb:
			return 1
		}
		return 0
	})
	for k := 0; k < left; k++ {
		units[rem[k%len(rem)]]++
	}
	largest := 0
	for j, u := range units {
		if u > units[largest] {
			largest = j
		}
	}
	for {
		total := 0.0
		for _, u := range units {
			total += float64(u) / mapUnits
		}
		if total >= 1 {
			return units
		}
		units[largest]++
	}
}
