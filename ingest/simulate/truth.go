package simulate

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
)

// WindowRun is the window of truth rows that hold for the whole simulated span (the planted
// β values).
const WindowRun = "run"

// TruthRow is one ground-truth value of a world, comparable with the estimator's output row of
// the same window, window start, entity and metric.
type TruthRow struct {
	// Window is schemas.WindowDay, WindowWeek, WindowMonth or WindowRun.
	Window string
	// WindowStart and WindowEnd bound the window [start, end) in UTC.
	WindowStart, WindowEnd time.Time
	// Entity is "network", a pool slug, a country code (never XX), or "pool/region" for β.
	Entity string
	// Metric is one of schemas.MetricNetworkHashrate, MetricPoolHashrate, MetricPoolShare,
	// MetricCountryHashrate, MetricCountryShare and MetricEnergyBeta.
	Metric string
	// Value is the truth: a time-average hashrate in H/s, a share of the network's
	// time-average hashrate, or β.
	Value float64
}

// Truth returns the world's ground truth, in a fixed order: day windows, then ISO weeks, then
// months, each by start, then the run; within a window network hashrate, pool hashrates, pool
// shares, country hashrates and country shares, each by entity.
//
// What the values are:
//   - Hashrates are time averages over the window of the hashrate that generated the blocks
//     (after curtailment), in H/s; shares are a pool's or country's average over the network's.
//   - Countries are where the hashrate really is: every pool's hashrate counts in its true
//     countries (its true mix, TrueMix, weighted by the countries' factors, less what it
//     curtails there), whether or not it publishes an allocation row, and so do "unknown"
//     blocks. Nothing is unallocated: there is no XX entity, and every country of the config
//     is listed (0 where no pool has hashrate), so country hashrates sum to the network and
//     country shares to 1. The estimator must find rowless hashrate through its prior (the
//     world's maps, ReferencesCSV); coverage is measured against this truth.
//   - Only windows wholly inside [Start, End) are reported: a week or month the span cuts is
//     left out (the estimator's value for it would be diluted by the missing part), so the day
//     windows tile the span exactly and the first and last week and month may be missing.
//   - Window "run" rows give β of every (pool, region) pair, "pool/region", with 0 where
//     nothing is planted.
func (w *World) Truth() []TruthRow {
	var rows []TruthRow
	np, nt := len(w.pools), len(w.truthCountries)
	pools := make([]int, np) // pool indices by slug
	for k := range pools {
		pools[k] = k
	}
	sort.Slice(pools, func(a, b int) bool { return w.pools[pools[a]].Slug < w.pools[pools[b]].Slug })

	// window adds the rows of the window made of days [d0, d1).
	window := func(kind string, d0, d1 int) {
		start := w.cfg.Start.AddDate(0, 0, d0)
		end := w.cfg.Start.AddDate(0, 0, d1)
		hours := float64(24 * (d1 - d0))
		add := func(entity, metric string, v float64) {
			rows = append(rows, TruthRow{Window: kind, WindowStart: start, WindowEnd: end, Entity: entity, Metric: metric, Value: v})
		}
		net := 0.0
		for d := d0; d < d1; d++ {
			net += w.dayNet[d]
		}
		net /= hours
		add(schemas.EntityNetwork, schemas.MetricNetworkHashrate, net)
		poolAvg := make([]float64, np)
		for _, k := range pools {
			for d := d0; d < d1; d++ {
				poolAvg[k] += w.dayPool[d*np+k]
			}
			poolAvg[k] /= hours
			add(w.pools[k].Slug, schemas.MetricPoolHashrate, poolAvg[k])
		}
		for _, k := range pools {
			add(w.pools[k].Slug, schemas.MetricPoolShare, poolAvg[k]/net)
		}
		countryAvg := make([]float64, nt)
		for j, c := range w.truthCountries {
			for d := d0; d < d1; d++ {
				countryAvg[j] += w.dayCountry[d*nt+j]
			}
			countryAvg[j] /= hours
			add(c, schemas.MetricCountryHashrate, countryAvg[j])
		}
		for j, c := range w.truthCountries {
			add(c, schemas.MetricCountryShare, countryAvg[j]/net)
		}
	}

	for d := 0; d < w.days; d++ {
		window(schemas.WindowDay, d, d+1)
	}
	// The first Monday at or after Start.
	first := (7 - (int(w.cfg.Start.Weekday())+6)%7) % 7
	for d := first; d+7 <= w.days; d += 7 {
		window(schemas.WindowWeek, d, d+7)
	}
	for _, m := range w.wholeMonths() {
		window(schemas.WindowMonth, m.d0, m.d1)
	}

	regions := make([]int, len(w.regions))
	for i := range regions {
		regions[i] = i
	}
	sort.Slice(regions, func(a, b int) bool { return w.regions[regions[a]].Code < w.regions[regions[b]].Code })
	for _, k := range pools {
		for _, g := range regions {
			beta := 0.0
			for _, cu := range w.pools[k].curt {
				if cu.region == g {
					beta = cu.beta
				}
			}
			rows = append(rows, TruthRow{Window: WindowRun, WindowStart: w.cfg.Start, WindowEnd: w.cfg.End,
				Entity: w.pools[k].Slug + "/" + w.regions[g].Code, Metric: schemas.MetricEnergyBeta, Value: beta})
		}
	}
	return rows
}

// month is a calendar month wholly inside the span: days [d0, d1) from Start.
type month struct {
	start  time.Time
	d0, d1 int
}

// wholeMonths returns the calendar months wholly inside [Start, End), in order.
func (w *World) wholeMonths() []month {
	var out []month
	m := time.Date(w.cfg.Start.Year(), w.cfg.Start.Month(), 1, 0, 0, 0, 0, time.UTC)
	if m.Before(w.cfg.Start) {
		m = m.AddDate(0, 1, 0)
	}
	for ; !m.AddDate(0, 1, 0).After(w.cfg.End); m = m.AddDate(0, 1, 0) {
		out = append(out, month{start: m,
			d0: int(m.Sub(w.cfg.Start) / (24 * time.Hour)), d1: int(m.AddDate(0, 1, 0).Sub(w.cfg.Start) / (24 * time.Hour))})
	}
	return out
}

// countryShares returns the true country shares (truthCountries order) of days [d0, d1): each
// country's time-average hashrate over the network's.
func (w *World) countryShares(d0, d1 int) []float64 {
	nt := len(w.truthCountries)
	out := make([]float64, nt)
	net := 0.0
	for d := d0; d < d1; d++ {
		net += w.dayNet[d]
		for j := range out {
			out[j] += w.dayCountry[d*nt+j]
		}
	}
	for j := range out {
		out[j] /= net
	}
	return out
}

// TruthCSVHeader is the header line of WriteTruthCSV.
const TruthCSVHeader = "window,window_start,window_end,entity,metric,value"

// WriteTruthCSV writes Truth as CSV: TruthCSVHeader, then one row per value with times in
// RFC 3339 UTC and values in the shortest decimal form that reads back exactly. No field needs
// quoting. The same world writes the same bytes.
func (w *World) WriteTruthCSV(out io.Writer) error {
	bw := bufio.NewWriter(out)
	bw.WriteString(TruthCSVHeader + "\n")
	var buf []byte
	for _, r := range w.Truth() {
		buf = append(buf[:0], r.Window...)
		buf = append(buf, ',')
		buf = r.WindowStart.UTC().AppendFormat(buf, time.RFC3339)
		buf = append(buf, ',')
		buf = r.WindowEnd.UTC().AppendFormat(buf, time.RFC3339)
		buf = append(buf, ',')
		buf = append(buf, r.Entity...)
		buf = append(buf, ',')
		buf = append(buf, r.Metric...)
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, r.Value, 'g', -1, 64)
		buf = append(buf, '\n')
		bw.Write(buf)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write simulator truth: %w", err)
	}
	return nil
}
