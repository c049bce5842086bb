package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashatlas/hashatlas/sinks/charts"
	"github.com/hashatlas/hashatlas/sinks/clickhouse"
)

// isChartFormat reports whether a report --format draws a chart into --out.
func isChartFormat(format string) bool {
	_, err := charts.ParseFormat(format)
	return err == nil
}

// chartKinds are the reports that can be drawn (--format png or svg).
var chartKinds = []string{"network", "pools", "countries", "regions", "power", "stress"}

// validateReportOutput checks --format and --out of `report KIND`: table, csv and json
// print to stdout and refuse --out; png and svg need --out and a kind in chartKinds.
func validateReportOutput(kind, format, out string) error {
	switch {
	case format == clickhouse.FormatTable || format == clickhouse.FormatCSV || format == clickhouse.FormatJSON:
		if out != "" {
			return flagErr("out", out, "only with --format png or svg (--format "+format+" prints to stdout)")
		}
	case isChartFormat(format):
		if !slices.Contains(chartKinds, kind) {
			return flagErr("format", format, "report "+kind+" has no chart: use table, csv or json (charts: "+strings.Join(chartKinds, ", ")+")")
		}
		if out == "" {
			return flagErr("out", out, "required with --format "+format+": the file to write the chart to")
		}
	default:
		return flagErr("format", format, "must be table, csv, json, png or svg")
	}
	return nil
}

// writeChart queries report kind (network, pools, countries, regions or power; method
// applies to countries and power) and writes it as a chart in format (png or svg) to path,
// replacing the file only once the chart is complete. It fails when the report has no rows.
// The stress chart draws every tested day of the range, with the events marked (allDays
// changes nothing there).
func writeChart(ctx context.Context, db *clickhouse.DB, kind string, q clickhouse.ReportQuery, method, format, path string, allDays bool) error {
	f, err := charts.ParseFormat(format)
	if err != nil {
		return err
	}
	switch kind {
	case "network", "pools", "countries", "power", "regions":
	case "stress":
		allDays = true
		q.Window = "day"
	default:
		return fmt.Errorf("report %s has no chart (png, svg): charts exist for network, pools, countries, regions, power and stress", kind)
	}
	res, err := runReport(ctx, db, kind, q, method, "", allDays)
	if err != nil {
		return err
	}
	if len(res.Rows) == 0 {
		why := "have the estimates been computed?"
		if n, err := (reportNotes{kind: kind, window: q.Window, method: method, allDays: allDays, q: q}).empty(ctx, db); err == nil {
			why = n
		}
		return fmt.Errorf("report %s: nothing to draw: %s", kind, why)
	}
	var dataEnd time.Time
	if openWindows(res) > 0 {
		if dataEnd, err = db.DataEnd(ctx); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	if err := drawReport(&buf, f, kind, q.Window, res, dataEnd); err != nil {
		return err
	}
	return writeFileAtomic(path, buf.Bytes())
}

// drawReport turns the rows of report kind into series and draws its chart; windows whose
// rows are not final are marked as open, with the data ending at dataEnd (zero: not known).
func drawReport(w io.Writer, f charts.Format, kind, window string, res *clickhouse.Result, dataEnd time.Time) error {
	if len(res.Rows) == 0 {
		return fmt.Errorf("report %s: no rows for --window %s: nothing to draw (have the estimates been computed?)", kind, window)
	}
	if kind == "stress" {
		return drawStress(w, f, res, dataEnd)
	}
	meta, err := reportMeta(res, window, kind == "countries" || kind == "power")
	if err != nil {
		return fmt.Errorf("report %s: %w", kind, err)
	}
	meta.DataEnd = dataEnd
	hashrate := [3]string{"hashrate_hs", "hashrate_hs_lower", "hashrate_hs_upper"}
	switch kind {
	case "network":
		series, err := reportSeries(res, "", hashrate)
		if err != nil {
			return fmt.Errorf("report %s: %w", kind, err)
		}
		return charts.NetworkHashrate(w, f, meta, series[0].Points)
	case "pools", "countries", "regions", "power":
		entity, values, draw := "pool", hashrate, charts.PoolHashrate
		switch kind {
		case "countries":
			entity, draw = "country", charts.CountryHashrate
		case "regions":
			entity, values, draw = "region", [3]string{"share", "share_lower", "share_upper"}, charts.RegionBlockShare
		case "power":
			entity, values, draw = "country", [3]string{"power_gw_best", "power_gw_low", "power_gw_high"}, charts.CountryPower
		}
		series, err := reportSeries(res, entity, values)
		if err != nil {
			return fmt.Errorf("report %s: %w", kind, err)
		}
		return draw(w, f, meta, series)
	}
	return fmt.Errorf("report %s has no chart", kind)
}

// drawStress draws the stress report's rows (every tested day): per region, the reference
// pools' blocks as a fraction of the expected ones (1 - share_drop, with its interval), the
// event days (q_value below the level) marked, days not final marked as open.
func drawStress(w io.Writer, f charts.Format, res *clickhouse.Result, dataEnd time.Time) error {
	cols, err := columnIndex(res, "day", "region", "share_drop", "share_drop_lower", "share_drop_upper", "q_value", "final", "model_version")
	if err != nil {
		return fmt.Errorf("report stress: %w", err)
	}
	m := charts.Meta{Window: "day", DataEnd: dataEnd}
	if m.ModelVersion, err = cellString(res, 0, cols[7]); err != nil {
		return err
	}
	var regions []charts.StressSeries
	index := map[string]int{}
	open := map[int64]bool{}
	for r := range res.Rows {
		day, err := cellTime(res, r, cols[0])
		if err != nil {
			return err
		}
		region, err := cellString(res, r, cols[1])
		if err != nil {
			return err
		}
		var v [4]float64
		for i := range v {
			if v[i], err = cellFloat(res, r, cols[2+i]); err != nil {
				return err
			}
		}
		final, err := cellBool(res, r, cols[6])
		if err != nil {
			return err
		}
		if !final && !open[day.Unix()] {
			open[day.Unix()] = true
			m.Open = append(m.Open, day)
		}
		if math.IsNaN(v[0]) {
			continue
		}
		i, ok := index[region]
		if !ok {
			i = len(regions)
			index[region] = i
			regions = append(regions, charts.StressSeries{Series: charts.Series{Name: region}})
		}
		// The rate relative to the baseline: 1 - drop; the bounds swap (a larger drop is a lower rate).
		est := charts.Estimate{Value: max(0, 1-v[0]), Lower: max(0, 1-v[2]), Upper: max(0, 1-v[1])}
		regions[i].Points = append(regions[i].Points, charts.Point{Start: day, Estimate: est})
		if v[3] < clickhouse.StressFDR {
			regions[i].Events = append(regions[i].Events, day)
		}
	}
	return charts.ChainStress(w, f, m, regions)
}

// reportMeta reads the model version (and, withMethod, the method) of a report's rows; the
// report queries select one model version, so the first row speaks for all.
func reportMeta(res *clickhouse.Result, window string, withMethod bool) (charts.Meta, error) {
	m := charts.Meta{Window: window}
	cols, err := columnIndex(res, "model_version", "method")
	if err != nil {
		return m, err
	}
	if m.ModelVersion, err = cellString(res, 0, cols[0]); err != nil {
		return m, err
	}
	if withMethod {
		if m.Method, err = cellString(res, 0, cols[1]); err != nil {
			return m, err
		}
	}
	// Open windows: the starts of rows that are not final (a report without the final
	// column has none).
	if fc, err := columnIndex(res, "final", "window_start"); err == nil {
		seen := map[int64]bool{}
		for r := range res.Rows {
			final, err := cellBool(res, r, fc[0])
			if err != nil {
				return m, err
			}
			start, err := cellTime(res, r, fc[1])
			if err != nil {
				return m, err
			}
			if !final && !seen[start.Unix()] {
				seen[start.Unix()] = true
				m.Open = append(m.Open, start)
			}
		}
	}
	return m, nil
}

// cellBool reads a bool cell (final, as the reports return it; a UInt8 as the tables hold it).
func cellBool(res *clickhouse.Result, row, col int) (bool, error) {
	switch v := res.Rows[row][col].(type) {
	case bool:
		return v, nil
	case uint8:
		return v != 0, nil
	}
	return false, cellErr(res, row, col, "a bool")
}

// reportSeries groups report rows into one series per value of the entity column (one
// series named after nothing when entity is ""), in the order entities first appear, with
// each row's window_start and the value, lower and upper columns named in values.
func reportSeries(res *clickhouse.Result, entity string, values [3]string) ([]charts.Series, error) {
	names := []string{"window_start", values[0], values[1], values[2]}
	if entity != "" {
		names = append(names, entity)
	}
	cols, err := columnIndex(res, names...)
	if err != nil {
		return nil, err
	}
	var out []charts.Series
	index := map[string]int{}
	for r := range res.Rows {
		name := "network"
		if entity != "" {
			if name, err = cellString(res, r, cols[4]); err != nil {
				return nil, err
			}
		}
		start, err := cellTime(res, r, cols[0])
		if err != nil {
			return nil, err
		}
		var v [3]float64
		for i := range v {
			if v[i], err = cellFloat(res, r, cols[1+i]); err != nil {
				return nil, err
			}
		}
		if math.IsNaN(v[0]) {
			continue // unknown (power before the hardware table): no point rather than a made-up one
		}
		i, ok := index[name]
		if !ok {
			i = len(out)
			index[name] = i
			out = append(out, charts.Series{Name: name})
		}
		out[i].Points = append(out[i].Points, charts.Point{Start: start, Estimate: charts.Estimate{Value: v[0], Lower: v[1], Upper: v[2]}})
	}
	return out, nil
}

// columnIndex returns the positions of the named columns in res.
func columnIndex(res *clickhouse.Result, names ...string) ([]int, error) {
	out := make([]int, len(names))
	for i, n := range names {
		out[i] = -1
		for j, c := range res.Columns {
			if c.Name == n {
				out[i] = j
			}
		}
		if out[i] < 0 {
			return nil, fmt.Errorf("column %s missing from the result (has %v)", n, res.Names())
		}
	}
	return out, nil
}

func cellString(res *clickhouse.Result, row, col int) (string, error) {
	if s, ok := res.Rows[row][col].(string); ok {
		return s, nil
	}
	return "", cellErr(res, row, col, "a string")
}

func cellTime(res *clickhouse.Result, row, col int) (time.Time, error) {
	if t, ok := res.Rows[row][col].(time.Time); ok {
		return t.UTC(), nil
	}
	return time.Time{}, cellErr(res, row, col, "a time")
}

func cellFloat(res *clickhouse.Result, row, col int) (float64, error) {
	switch v := res.Rows[row][col].(type) {
	case float64:
		return v, nil
	case float32:
		return float64(v), nil
	}
	return 0, cellErr(res, row, col, "a float")
}

func cellErr(res *clickhouse.Result, row, col int, want string) error {
	return fmt.Errorf("row %d, column %s: %T %v is not %s", row+1, res.Columns[col].Name, res.Rows[row][col], res.Rows[row][col], want)
}

// writeFileAtomic writes data to path through a temporary file in the same directory, so
// that path holds either its old content or all of data.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write chart %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write chart %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write chart %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write chart %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write chart %s: %w", path, err)
	}
	return nil
}
