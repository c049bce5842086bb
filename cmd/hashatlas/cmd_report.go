package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashatlas/hashatlas/sinks/clickhouse"
)

// reportKinds are the reports of `hashatlas report KIND`.
var reportKinds = []string{"network", "pools", "countries", "regions", "power", "signals", "grid", "pool-stats", "stress"}

func setupReport(c *cli, args []string) (runFunc, []string, error) {
	chCfg := c.clickhouseFlags()
	var window, from, to, format, model, method, signal, out, units string
	var allDays bool
	c.fs.StringVar(&window, "window", "month", "window kind: day, week, month, year (signals) or lastn (network)")
	c.fs.StringVar(&method, "method", "pool-allocation", "countries and power: pool-allocation (the allocation table) or energy-adjusted (raised by significant curtailment fits)")
	c.fs.StringVar(&signal, "signal", "curtailment", "signals: curtailment (β of pools under grid regions), network_dip (days of grid stress) or grid_exposure (pools' exposure to the grid stress read from the chain)")
	c.fs.BoolVar(&allDays, "all-days", false, "stress: every tested day, not only the events (q-value below 0.01)")
	c.fs.StringVar(&from, "from", "", "first window start to include, YYYY-MM-DD (empty: the earliest)")
	c.fs.StringVar(&to, "to", "", "window starts before this date, YYYY-MM-DD (empty: the latest)")
	c.fs.StringVar(&format, "format", "table", "output format: table, csv or json (printed), or png or svg (a chart written to --out)")
	c.fs.StringVar(&out, "out", "", "file to write the chart to; required with --format png or svg, refused otherwise")
	c.fs.StringVar(&model, "model-version", "", "model version to report (empty: the newest)")
	c.fs.StringVar(&units, "units", unitsAnalyst, "table, csv and json columns: analyst (shares in %, hashrate in EH/s, power in GW, energy in TWh/yr, rounded, windows as dates, final as true/false) or raw (the stored columns for machines: ratios, H/s, full precision, RFC 3339 times)")
	target := c.readTargetFlags(chCfg)
	// Flags may come before or after the kind.
	positional, rest := splitPositional(c.fs, args)
	switch {
	case len(positional) == 0 && helpAsked(args):
		return nil, nil, errHelp
	case len(positional) == 0:
		return nil, nil, fmt.Errorf("report needs a kind: %s (hashatlas report --help)", strings.Join(reportKinds, ", "))
	case !slices.Contains(reportKinds, positional[0]):
		return nil, nil, fmt.Errorf("unknown report %q (try: %s)", positional[0], strings.Join(reportKinds, ", "))
	case len(positional) > 1:
		return nil, nil, fmt.Errorf("report takes one kind; %q is a second argument", positional[1])
	}
	kind := positional[0]
	var q clickhouse.ReportQuery
	c.addValidator(func() error {
		switch window {
		case "day", "week", "month", "year", "lastn":
		default:
			return flagErr("window", window, "must be day, week, month, year or lastn")
		}
		if method != "pool-allocation" && method != "energy-adjusted" {
			return flagErr("method", method, "must be pool-allocation or energy-adjusted")
		}
		if signal != "curtailment" && signal != "network_dip" && signal != "grid_exposure" {
			return flagErr("signal", signal, "must be curtailment, network_dip or grid_exposure")
		}
		if units != unitsAnalyst && units != unitsRaw {
			return flagErr("units", units, "must be analyst or raw")
		}
		if err := validateReportOutput(kind, format, out); err != nil {
			return err
		}
		var err error
		if q.From, err = parseDate(from); err != nil {
			return flagErr("from", from, err.Error())
		}
		if q.To, err = parseDate(to); err != nil {
			return flagErr("to", to, err.Error())
		}
		if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
			return flagErr("to", to, "must be after --from")
		}
		q.Window, q.ModelVersion = window, model
		return nil
	})
	return func(ctx context.Context) error {
		db, err := target.open(ctx, c, true)
		if err != nil {
			return err
		}
		if isChartFormat(format) {
			if err := writeChart(ctx, db, kind, q, method, format, out, allDays); err != nil {
				return err
			}
			target.announce(c)
			fmt.Fprintf(c.stderr, "wrote %s\n", out)
			return nil
		}
		// Without grid data no curtailment fit or network dip exists: say so once.
		gridNote := ""
		if kind == "signals" && signal != "grid_exposure" {
			has, err := db.HasGridData(ctx)
			if err != nil {
				return target.explain(ctx, db, err)
			}
			if !has {
				gridNote = noGridDataNote
				// With --signal left at its default, show the signals that exist.
				if c.sources["signal"] == "" {
					signal = "grid_exposure"
					gridNote += "; shown instead: the pools' exposure to it (signal grid_exposure)"
				} else {
					gridNote += "; the pools' exposure to it: --signal grid_exposure"
				}
			}
		}
		res, err := runReport(ctx, db, kind, q, method, signal, allDays)
		if err != nil {
			return target.explain(ctx, db, err)
		}
		target.announce(c)
		shown := res
		if units == unitsAnalyst {
			if shown, err = analystView(kind, window, res); err != nil {
				return err
			}
		}
		if err := clickhouse.WriteResult(c.stdout, shown, format); err != nil {
			return err
		}
		if gridNote != "" {
			fmt.Fprintln(c.stderr, "note: "+gridNote)
		}
		notes := reportNotes{kind: kind, window: window, units: units, method: method, signal: signal, allDays: allDays, noGrid: gridNote != "", q: q, now: time.Now()}
		return notes.write(ctx, c.stderr, db, res)
	}, rest, nil
}

// noGridDataNote is what `report signals` says when no grid observation is stored; with
// --signal left at its default the report then shows the grid exposures instead.
const noGridDataNote = "no grid data: curtailment fits and network dips need hourly grid observations (collect eia / grid-csv); the grid stress read from the chain is in `report stress`"

// runReport runs the query of one report kind (allDays: stress shows every tested day).
func runReport(ctx context.Context, db *clickhouse.DB, kind string, q clickhouse.ReportQuery, method, signal string, allDays bool) (*clickhouse.Result, error) {
	switch kind {
	case "network":
		return db.NetworkReport(ctx, q)
	case "pools":
		return db.PoolsReport(ctx, q)
	case "countries":
		return db.CountriesReport(ctx, q, method)
	case "power":
		return db.PowerReport(ctx, q, method)
	case "regions":
		return db.RegionsReport(ctx, q)
	case "signals":
		return db.SignalsReport(ctx, q, signal)
	case "grid":
		return db.GridReport(ctx, q)
	case "pool-stats":
		return db.PoolStatsReport(ctx, q)
	case "stress":
		return db.StressReport(ctx, q, allDays)
	}
	return nil, fmt.Errorf("unknown report %q (try: %s)", kind, strings.Join(reportKinds, ", "))
}

// parseDate reads YYYY-MM-DD as UTC midnight; empty is the zero time.
func parseDate(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want a date as YYYY-MM-DD")
	}
	return t.UTC(), nil
}
