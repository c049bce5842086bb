package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashatlas/hashatlas/sinks/clickhouse"
)

// Units of `report --units`.
const (
	unitsAnalyst = "analyst" // shares in %, hashrate in EH/s, power in GW, energy in TWh/yr, rounded; windows as dates
	unitsRaw     = "raw"     // the columns as stored: ratios, H/s, full precision, window_start as RFC 3339
)

// viewColumn is one column of a report in analysts' units: the stored column it comes from,
// its name, and how its value is shown (scaled, then rounded to digits decimals or to sig
// significant digits; neither: as stored).
type viewColumn struct {
	from, name  string
	scale       float64
	digits, sig int
}

const ehs = 1e-18 // H/s to EH/s

// Column helpers for analystViews.
func keep(name string) viewColumn          { return viewColumn{from: name, name: name} }
func renamed(from, name string) viewColumn { return viewColumn{from: from, name: name} }
func rounded(from, name string, d int) viewColumn {
	return viewColumn{from: from, name: name, scale: 1, digits: d}
}
func scaled(from, name string, s float64, d int) viewColumn {
	return viewColumn{from: from, name: name, scale: s, digits: d}
}
func significant(from, name string, n int) viewColumn {
	return viewColumn{from: from, name: name, scale: 1, sig: n}
}

// windowColumn marks the column that becomes the window label (its name is the window kind).
var windowColumn = viewColumn{from: "window_start"}

// hashrateColumns are a hashrate with its 95 % interval, in EH/s with one decimal.
func hashrateColumns(prefix string) []viewColumn {
	return []viewColumn{scaled(prefix+"hashrate_hs", "ehs", ehs, 1), scaled(prefix+"hashrate_hs_lower", "ehs_lo", ehs, 1), scaled(prefix+"hashrate_hs_upper", "ehs_hi", ehs, 1)}
}

// shareColumns are a share with its 95 % interval, in % with one decimal.
var shareColumns = []viewColumn{scaled("share", "pct", 100, 1), scaled("share_lower", "pct_lo", 100, 1), scaled("share_upper", "pct_hi", 100, 1)}

func cols(groups ...any) []viewColumn {
	var out []viewColumn
	for _, g := range groups {
		switch v := g.(type) {
		case viewColumn:
			out = append(out, v)
		case []viewColumn:
			out = append(out, v...)
		}
	}
	return out
}

// analystViews are the columns of each report in analysts' units. model_version and method
// are the same in every row of a report; they are said once, on stderr.
var analystViews = map[string][]viewColumn{
	"network": cols(windowColumn, keep("blocks"), rounded("expected_blocks", "expected", 0), hashrateColumns(""),
		rounded("luck", "luck", 3), rounded("luck_lower", "luck_lo", 3), rounded("luck_upper", "luck_hi", 3), keep("final")),
	"pools":     cols(windowColumn, keep("pool"), keep("blocks"), shareColumns, hashrateColumns(""), keep("final")),
	"countries": cols(windowColumn, keep("country"), renamed("blocks", "pool_blocks"), shareColumns, hashrateColumns(""), keep("final")),
	"power": cols(windowColumn, keep("country"), scaled("hashrate_hs", "ehs", ehs, 1),
		rounded("power_gw_best", "gw", 2), rounded("power_gw_low", "gw_low", 2), rounded("power_gw_high", "gw_high", 2),
		rounded("energy_twh_year_best", "twh_yr", 1), rounded("energy_twh_year_low", "twh_yr_low", 1), rounded("energy_twh_year_high", "twh_yr_high", 1),
		keep("final")),
	"regions": cols(windowColumn, keep("region"), keep("blocks"), shareColumns, keep("final")),
	"signals": cols(windowColumn, keep("pool"), keep("region"), keep("country"),
		rounded("beta", "beta", 2), rounded("beta_lower", "beta_lo", 2), rounded("beta_upper", "beta_hi", 2), significant("p_value", "p_value", 3),
		keep("events"), keep("blocks"), scaled("shed_hashrate_hs", "shed_ehs", ehs, 2), rounded("shed_power_gw", "shed_gw", 2), keep("final")),
	"grid": cols(viewColumn{from: "day"}, keep("region"), keep("country"), keep("metric"), keep("unit"), keep("source"),
		keep("observations"), rounded("mean_value", "mean", 2), rounded("max_value", "max", 2)),
	"stress": cols(viewColumn{from: "day"}, keep("region"), renamed("reference_pools", "ref_pools"), renamed("reference_blocks", "ref_blocks"),
		rounded("reference_expected", "expected", 1), scaled("share_drop", "drop_pct", 100, 1), scaled("share_drop_lower", "drop_lo", 100, 1),
		scaled("share_drop_upper", "drop_hi", 100, 1), significant("q_value", "q_value", 3),
		scaled("shortfall_hs", "short_ehs", ehs, 1), scaled("shortfall_hs_lower", "short_ehs_lo", ehs, 1), scaled("shortfall_hs_upper", "short_ehs_hi", ehs, 1),
		rounded("shortfall_gw", "short_gw", 2), keep("final")),
	"pool-stats": cols(windowColumn, keep("pool"), keep("source"), hashrateColumns(""),
		scaled("reported_hashrate_hs", "reported_ehs", ehs, 1), keep("reported_observations"), rounded("reported_over_estimated", "reported_ratio", 2)),
}

// windowLabel names the window column of a report in analysts' units, and formats its value.
func windowLabel(window string) (name, layout string) {
	switch window {
	case "month":
		return "month", "2006-01"
	case "year":
		return "year", "2006"
	case "lastn":
		return "first_block", "2006-01-02 15:04"
	case "week":
		return "week", "2006-01-02"
	}
	return "day", "2006-01-02"
}

// analystView turns the rows of report kind (window kind window) into analysts' units.
func analystView(kind, window string, res *clickhouse.Result) (*clickhouse.Result, error) {
	spec, ok := analystViews[kind]
	if !ok {
		return nil, fmt.Errorf("report %s has no view in analysts' units", kind)
	}
	if kind == "grid" || kind == "stress" {
		window = "day"
	}
	from := make([]string, len(spec))
	for i, v := range spec {
		from[i] = v.from
	}
	idx, err := columnIndex(res, from...)
	if err != nil {
		return nil, fmt.Errorf("report %s: %w", kind, err)
	}
	out := &clickhouse.Result{Columns: make([]clickhouse.Column, len(spec)), Rows: make([][]any, len(res.Rows))}
	winName, layout := windowLabel(window)
	for i, v := range spec {
		col := clickhouse.Column{Name: v.name, Type: res.Columns[idx[i]].Type}
		switch {
		case v.name == "":
			col = clickhouse.Column{Name: winName, Type: "String"}
		case v.scale != 0:
			col.Type = "Float64"
		}
		out.Columns[i] = col
	}
	for r, row := range res.Rows {
		o := make([]any, len(spec))
		for i, v := range spec {
			x := row[idx[i]]
			switch {
			case v.name == "":
				t, err := cellTime(res, r, idx[i])
				if err != nil {
					return nil, err
				}
				x = t.Format(layout)
			case v.scale != 0:
				f, ok := toFloat(x)
				if !ok {
					return nil, cellErr(res, r, idx[i], "a number")
				}
				x = roundValue(f*v.scale, v.digits, v.sig)
			}
			o[i] = x
		}
		out.Rows[r] = o
	}
	return out, nil
}

// roundValue rounds x to digits decimals (or sig significant digits when sig > 0); NaN, an
// unknown value, becomes nil (an empty cell, JSON null).
func roundValue(x float64, digits, sig int) any {
	if math.IsNaN(x) {
		return nil
	}
	if math.IsInf(x, 0) {
		return x
	}
	if sig > 0 {
		x, _ = strconv.ParseFloat(strconv.FormatFloat(x, 'g', sig, 64), 64)
	} else {
		p := math.Pow(10, float64(digits))
		x = math.Round(x*p) / p
	}
	if x == 0 {
		return 0.0 // not -0
	}
	return x
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case uint8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case int8:
		return float64(x), true
	case int16:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case nil:
		return math.NaN(), true
	}
	return 0, false
}

// reportNotes are the lines `report` prints on stderr after its rows: what the columns mean
// where that is not obvious, open windows and how old the data are, and why a report is
// empty.
type reportNotes struct {
	kind, window, units, method, signal string
	allDays                             bool // stress: every tested day, not only the events
	noGrid                              bool // signals: no grid observation is stored
	q                                   clickhouse.ReportQuery
	now                                 time.Time
}

func (n reportNotes) write(ctx context.Context, w io.Writer, db *clickhouse.DB, res *clickhouse.Result) error {
	if len(res.Rows) == 0 {
		line, err := n.empty(ctx, db)
		if err != nil {
			return err
		}
		fmt.Fprintln(w, "note: "+line)
		return nil
	}
	if n.units == unitsAnalyst {
		fmt.Fprintln(w, "note: "+n.legend(res))
	}
	if n.kind == "countries" {
		col := "pool_blocks"
		if n.units == unitsRaw {
			col = "blocks"
		}
		fmt.Fprintf(w, "note: %s are the blocks of the pools with hashrate in the country (the pools without an allocation row count in every country of the published map they are placed by); a pool in several countries counts in each, so they add up to more than the window's blocks\n", col)
	}
	if open := openWindows(res); open > 0 {
		end, err := db.DataEnd(ctx)
		if err != nil {
			return err
		}
		what := "window is"
		if open > 1 {
			what = "windows are"
		}
		fmt.Fprintf(w, "note: final=false: %d %s still open — %s — and will change as blocks arrive\n", open, what, dataEndPhrase(end, n.now))
	}
	return nil
}

// legend says what the columns in analysts' units are, with the model version (and method)
// of the rows.
func (n reportNotes) legend(res *clickhouse.Result) string {
	var b strings.Builder
	if mv := firstString(res, "model_version"); mv != "" {
		b.WriteString("model " + mv)
		if m := firstString(res, "method"); m != "" && (n.kind == "countries" || n.kind == "power") {
			b.WriteString(", method " + m)
		}
		b.WriteString("; ")
	}
	switch n.kind {
	case "network":
		b.WriteString("ehs: hashrate in EH/s; luck: blocks found / expected; _lo, _hi: 95 % interval")
	case "pools":
		b.WriteString("pct: % of the window's blocks; ehs: hashrate in EH/s; _lo, _hi: 95 % interval")
	case "countries":
		b.WriteString("pct: % of the network's hashrate located in the country; ehs: EH/s; _lo, _hi: 95 % interval; XX: placed in no country by any source")
	case "regions":
		b.WriteString("pct: % of the window's blocks found by the pools run from the region; _lo, _hi: 95 % interval")
	case "power":
		b.WriteString("ehs: hashrate in EH/s; gw: power drawn in GW; twh_yr: annualised energy in TWh/yr; _low, _high: the low and high hardware scenarios")
	case "signals":
		if n.signal == "grid_exposure" {
			b.WriteString("beta: the pool's exposure to the region's grid stress read from the chain (1: wholly on that grid), with its 95 % interval; p_value: Bonferroni-adjusted; events: stress days of the year")
			break
		}
		b.WriteString("beta: share of the hashrate shed under grid stress, with its 95 % interval; p_value: Bonferroni-adjusted; shed_ehs: EH/s; shed_gw: GW")
	case "pool-stats":
		b.WriteString("ehs: block-based hashrate in EH/s, _lo, _hi: its 95 % interval; reported_ehs: the mean the pool reported; reported_ratio: reported / estimated")
	case "grid":
		b.WriteString("mean, max: of the day's hourly values, in the row's unit; observations: hours observed")
	case "stress":
		b.WriteString("ref_blocks: blocks of the reference pools, expected: at their baseline rate; drop_pct: % of their hashrate gone; q_value: Benjamini-Hochberg over every day and region (an event below 0.01); short_ehs, short_gw: the network's shortfall in EH/s and GW; _lo, _hi: 95 % interval")
	}
	b.WriteString(" (--units=raw for the stored values)")
	return b.String()
}

// empty says why a report has no rows and what its table holds.
func (n reportNotes) empty(ctx context.Context, db *clickhouse.DB) (string, error) {
	asked := "--window " + n.window
	switch {
	case n.kind == "grid":
		asked = "days"
	case n.kind == "stress" && n.allDays:
		asked = "days (--all-days)"
	case n.kind == "stress":
		asked = "events (q-value below 0.01; --all-days for every tested day)"
	}
	if !n.q.From.IsZero() {
		asked += " --from " + n.q.From.Format(time.DateOnly)
	}
	if !n.q.To.IsZero() {
		asked += " --to " + n.q.To.Format(time.DateOnly)
	}
	switch n.kind {
	case "countries", "power":
		if n.method != "pool-allocation" {
			asked += " --method " + n.method
		}
	case "signals":
		asked += " --signal " + n.signal
	}
	cov, err := db.ReportCoverage(ctx, n.kind, n.q.ModelVersion)
	if err != nil {
		return "", err
	}
	if len(cov) == 0 && n.noGrid {
		return "no rows: no energy signal exists (a grid exposure needs 3 or more stress days of a region in one year, estimate/METHOD.md §8.11)", nil
	}
	if len(cov) == 0 {
		return fmt.Sprintf("no rows: report %s has no data at all yet (%s)", n.kind, runDemoFirst), nil
	}
	order := map[string]int{"day": 0, "week": 1, "month": 2, "year": 3, "lastn": 4}
	slices.SortStableFunc(cov, func(a, b clickhouse.Coverage) int { return order[a.Window] - order[b.Window] })
	var held []string
	for _, c := range cov {
		_, layout := windowLabel(c.Window)
		if c.Window == "lastn" {
			layout = time.DateOnly
		}
		held = append(held, fmt.Sprintf("%s windows %s … %s", c.Window, c.First.UTC().Format(layout), c.Last.UTC().Format(layout)))
	}
	return fmt.Sprintf("no rows for %s; report %s has %s", asked, n.kind, strings.Join(held, ", ")), nil
}

// openWindows counts the windows (distinct window starts) of rows whose final column is false.
func openWindows(res *clickhouse.Result) int {
	fi, wi := -1, -1
	for j, c := range res.Columns {
		switch c.Name {
		case "final":
			fi = j
		case "window_start", "day":
			wi = j
		}
	}
	if fi < 0 || wi < 0 {
		return 0
	}
	open := map[int64]bool{}
	for _, row := range res.Rows {
		if f, ok := row[fi].(bool); ok && !f {
			t, _ := row[wi].(time.Time)
			open[t.Unix()] = true
		}
	}
	return len(open)
}

func firstString(res *clickhouse.Result, col string) string {
	for j, c := range res.Columns {
		if c.Name == col && len(res.Rows) > 0 {
			s, _ := res.Rows[0][j].(string)
			return s
		}
	}
	return ""
}

// dataEndPhrase says where the data end, and how long ago when that is more than a day:
// "the data end at 2026-04-22 21:50 UTC, 7 months ago".
func dataEndPhrase(end, now time.Time) string {
	if end.IsZero() {
		return "the database holds no blocks"
	}
	s := "the data end at " + end.UTC().Format("2006-01-02 15:04 UTC")
	if age := now.Sub(end); age > 24*time.Hour {
		s += ", " + humanAge(age) + " ago"
	}
	return s
}

// humanAge is a duration as people say it: "5 hours", "12 days", "7 months", "2 years".
func humanAge(d time.Duration) string {
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return strconv.Itoa(n) + " " + unit + "s"
	}
	switch days := int(d.Hours() / 24); {
	case d < 48*time.Hour:
		return plural(int(d.Hours()), "hour")
	case days < 60:
		return plural(days, "day")
	case days < 730:
		return plural(int(float64(days)/30.44), "month")
	default:
		return plural(int(float64(days)/365.25), "year")
	}
}
