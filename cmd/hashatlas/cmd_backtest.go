package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashatlas/hashatlas/estimate"
	"github.com/hashatlas/hashatlas/estimate/modeldata"
	"github.com/hashatlas/hashatlas/ingest/replay"
	"github.com/hashatlas/hashatlas/sinks/charts"
	"github.com/hashatlas/hashatlas/sinks/clickhouse"
)

// backtestNote is what `backtest` says on stderr after its tables: how the points were made.
const backtestNote = "note: each published figure is scored against the model run as of the end of its period, " +
	"with only the evidence published by then and none of its own source's figures (leave-one-source-out, estimate/METHOD.md §10.4); " +
	"the sources' XX (\"other\") figures are not scored; error and score are in percentage points, " +
	"score is the interval score of the 95 % interval (width plus 40 × the miss); coverage is the share of scored points inside their interval"

func setupBacktest(c *cli) (runFunc, error) {
	var blocks, epochs, modelDir, refsFile, format, chartFile string
	var draws int
	c.fs.StringVar(&blocks, "blocks", filepath.Join(dataDir(), "blocks_2021_2026.csv.gz"), "block history CSV (height,time_unix,pool_slug[,bits_hex]), gzip or plain")
	c.fs.StringVar(&epochs, "difficulty", filepath.Join(dataDir(), "difficulty_epochs.csv"), "difficulty epochs CSV (epoch_start_height,bits_hex,difficulty)")
	c.fs.StringVar(&modelDir, "model.data-dir", "", "directory with your own model data tables: allocation.csv, pool_hq.csv, hardware.csv, references.csv and/or sites.csv (format of estimate/modeldata; a missing file means the built-in one) (empty: the built-in tables)")
	c.fs.StringVar(&refsFile, "references", "", "references CSV (the format of estimate/modeldata/references.csv) replacing the built-in one (or --model.data-dir's): the published figures scored, and the maps the model may use as its prior (empty: those)")
	c.fs.IntVar(&draws, "draws", estimate.DefaultDraws, "Monte Carlo draws behind each interval")
	c.fs.StringVar(&format, "format", clickhouse.FormatTable, "output format: table (the points, then the summary per source), csv (the points; the summary goes to stderr) or json (an object with points and summary)")
	c.fs.StringVar(&chartFile, "chart", "", "also draw each published share against the model's, with its 95 % interval, into this file (.svg or .png; empty: no chart)")
	var data *modeldata.Data
	var chartFormat charts.Format
	c.addValidator(func() error {
		switch format {
		case clickhouse.FormatTable, clickhouse.FormatCSV, clickhouse.FormatJSON:
		default:
			return flagErr("format", format, "must be table, csv or json")
		}
		if draws < 100 {
			return flagErr("draws", fmt.Sprint(draws), "must be at least 100")
		}
		if chartFile != "" {
			f, err := charts.ParseFormat(strings.TrimPrefix(strings.ToLower(filepath.Ext(chartFile)), "."))
			if err != nil {
				return flagErr("chart", chartFile, "must end in .svg or .png")
			}
			chartFormat = f
		}
		if err := filesExist(map[string]string{"blocks": blocks, "difficulty": epochs}); err != nil {
			return err
		}
		var err error
		data, err = backtestData(modelDir, refsFile)
		return err
	})
	return func(ctx context.Context) error {
		chain, err := historyChain(ctx, blocks, epochs)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "history: %d blocks up to height %d from %s; model %s, data %s, %d draws\n", chain.Len(), chain.Tip(), blocks, estimate.ModelVersion, data.Version(), draws)
		points, err := estimate.Backtest(chain, data, draws)
		if err != nil {
			return err
		}
		summary := estimate.SummarizeBacktest(points)
		if err := writeBacktest(c.stdout, c.stderr, format, points, summary); err != nil {
			return err
		}
		fmt.Fprintln(c.stderr, backtestNote)
		if chartFile != "" {
			var buf bytes.Buffer
			if err := drawBacktest(&buf, chartFormat, points); err != nil {
				return err
			}
			if err := writeFileAtomic(chartFile, buf.Bytes()); err != nil {
				return err
			}
			fmt.Fprintf(c.stderr, "wrote %s\n", chartFile)
		}
		return nil
	}, nil
}

// backtestData is the model data a backtest runs on: the built-in tables, or --model.data-dir's,
// with the references of refsFile instead of theirs when it is set (the other tables stay).
// Errors name the flag, and for a bad references file its path, line and rule.
func backtestData(dir, refsFile string) (*modeldata.Data, error) {
	if refsFile == "" {
		if dir == "" {
			return modeldata.Load()
		}
		d, err := modeldata.LoadDir(dir)
		if err != nil {
			return nil, flagErr("model.data-dir", dir, err.Error())
		}
		return d, nil
	}
	refs, err := os.ReadFile(refsFile)
	if err != nil {
		return nil, flagErr("references", refsFile, "cannot read the file: "+err.Error())
	}
	alloc, hq, hw := modeldata.EmbeddedFiles()
	_, sites := modeldata.EmbeddedReferences()
	if dir != "" {
		// The directory's tables replace the built-in ones; its references.csv, if any, gives
		// way to --references.
		found := 0
		for name, content := range map[string]*[]byte{modeldata.AllocationFile: &alloc, modeldata.HQFile: &hq, modeldata.HardwareFile: &hw,
			modeldata.SitesFile: &sites, modeldata.ReferencesFile: new([]byte)} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			switch {
			case err == nil:
				*content = b
				found++
			case !errors.Is(err, fs.ErrNotExist):
				return nil, flagErr("model.data-dir", dir, err.Error())
			}
		}
		if found == 0 {
			return nil, flagErr("model.data-dir", dir, "holds none of the model data files (allocation.csv, pool_hq.csv, hardware.csv, references.csv, sites.csv)")
		}
	}
	d, err := modeldata.ParseAll(alloc, hq, hw, refs, sites)
	if err != nil {
		// modeldata names the table (references.csv), the line and the rule; say which file
		// that table was read from.
		msg := err.Error()
		if rest, ok := strings.CutPrefix(msg, modeldata.ReferencesFile+":"); ok {
			return nil, fmt.Errorf("invalid --references (env %s): %s:%s", envName("references"), refsFile, rest)
		}
		if dir != "" {
			return nil, flagErr("model.data-dir", dir, msg)
		}
		return nil, flagErr("references", refsFile, msg)
	}
	if len(d.References()) == 0 {
		return nil, flagErr("references", refsFile, "holds no reference (want a header and rows as in estimate/modeldata/references.csv)")
	}
	return d, nil
}

// historyChain reads the block history with each block's work from its epoch's bits, into a
// chain of day, week and month windows.
func historyChain(ctx context.Context, blocksFile, epochsFile string) (*estimate.Chain, error) {
	chain := estimate.NewChain()
	var bits uint32
	var work float64
	err := replay.ReadHistory(blocksFile, epochsFile, func(r replay.BlockRow, e replay.EpochRow) error {
		if e.Bits != bits || work == 0 {
			w, err := estimate.WorkFloat(e.Bits)
			if err != nil {
				return fmt.Errorf("%s: block %d: %w", blocksFile, r.Height, err)
			}
			bits, work = e.Bits, w
		}
		if r.Height%2016 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		_, err := chain.Add(estimate.BlockObs{Height: r.Height, Time: r.Time, Work: work, Pool: r.Pool})
		return err
	})
	if err != nil {
		return nil, err
	}
	if chain.Len() == 0 {
		return nil, fmt.Errorf("%s holds no block", blocksFile)
	}
	return chain, nil
}

// periodLabel is a reference period as analysts write it: 2022-01 for a calendar month,
// 2024-06..2024-09 for whole months, else its days.
func periodLabel(p modeldata.Period) string {
	wholeMonths := p.From.Day() == 1 && p.To.AddDate(0, 0, 1).Day() == 1
	switch {
	case wholeMonths && p.From.Year() == p.To.Year() && p.From.Month() == p.To.Month():
		return p.From.Format("2006-01")
	case wholeMonths:
		return p.From.Format("2006-01") + ".." + p.To.Format("2006-01")
	}
	return p.String()
}

// backtestTables turns points and their summary into two results in analysts' units: shares
// in %, errors and scores in percentage points.
func backtestTables(points []estimate.BacktestPoint, summary []estimate.BacktestSummary) (*clickhouse.Result, *clickhouse.Result) {
	cols := func(spec ...string) []clickhouse.Column {
		out := make([]clickhouse.Column, 0, len(spec)/2)
		for i := 0; i < len(spec); i += 2 {
			out = append(out, clickhouse.Column{Name: spec[i], Type: spec[i+1]})
		}
		return out
	}
	pct := func(x float64) any { return roundValue(100*x, 1, 0) }
	pr := &clickhouse.Result{Columns: cols(
		"source", "String", "kind", "String", "period", "String", "country", "String",
		"ref_pct", "Float64", "est_pct", "Nullable(Float64)", "est_lo", "Nullable(Float64)", "est_hi", "Nullable(Float64)",
		"error_pts", "Nullable(Float64)", "inside", "Nullable(Bool)", "score_pts", "Nullable(Float64)",
		"as_of", "String", "prior", "String", "prior_age_months", "Nullable(Int64)", "skipped", "String")}
	for _, p := range points {
		row := []any{p.Source, p.Kind, periodLabel(p.Period), p.Country, pct(p.Reference), nil, nil, nil, nil, nil, nil,
			p.AsOf.Format(time.DateOnly), p.Prior, nil, p.Skipped}
		if p.Skipped == "" {
			row[5], row[6], row[7] = pct(p.Estimate.Value), pct(p.Estimate.Lower), pct(p.Estimate.Upper)
			row[8], row[9], row[10] = pct(p.Error), p.Inside, pct(p.Score)
			if p.Prior != "" {
				row[13] = int64(p.PriorAge)
			}
		}
		pr.Rows = append(pr.Rows, row)
	}
	sr := &clickhouse.Result{Columns: cols("source", "String", "points", "Int64", "skipped", "Int64",
		"mae_pts", "Nullable(Float64)", "coverage_pct", "Nullable(Float64)", "mean_score_pts", "Nullable(Float64)")}
	for _, s := range summary {
		row := []any{s.Source, int64(s.Points), int64(s.Skipped), nil, nil, nil}
		if s.Points > 0 {
			row[3], row[4], row[5] = roundValue(100*s.MAE, 2, 0), roundValue(100*s.Coverage, 1, 0), roundValue(100*s.Score, 2, 0)
		}
		sr.Rows = append(sr.Rows, row)
	}
	return pr, sr
}

// writeBacktest prints the points and the summary in format: a table of each (table), the
// points as CSV with the summary as a table on stderr (csv), or one JSON object (json).
func writeBacktest(stdout, stderr io.Writer, format string, points []estimate.BacktestPoint, summary []estimate.BacktestSummary) error {
	pr, sr := backtestTables(points, summary)
	switch format {
	case clickhouse.FormatTable:
		if err := clickhouse.WriteResult(stdout, pr, format); err != nil {
			return err
		}
		fmt.Fprintln(stdout)
		return clickhouse.WriteResult(stdout, sr, format)
	case clickhouse.FormatCSV:
		if err := clickhouse.WriteResult(stdout, pr, format); err != nil {
			return err
		}
		fmt.Fprintln(stderr, "summary:")
		return clickhouse.WriteResult(stderr, sr, clickhouse.FormatTable)
	case clickhouse.FormatJSON:
		var pb, sb bytes.Buffer
		if err := clickhouse.WriteResult(&pb, pr, format); err != nil {
			return err
		}
		if err := clickhouse.WriteResult(&sb, sr, format); err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Points  json.RawMessage `json:"points"`
			Summary json.RawMessage `json:"summary"`
		}{pb.Bytes(), sb.Bytes()})
	}
	return fmt.Errorf("format %q: must be table, csv or json", format)
}

// backtestPalette is the charts' Okabe–Ito palette (sinks/charts), one colour per source.
// drawBacktest draws the scored points with sinks/charts' Backtest.
func drawBacktest(w io.Writer, f charts.Format, points []estimate.BacktestPoint) error {
	var pts []charts.ScoredPoint
	for _, pt := range points {
		if pt.Skipped != "" {
			continue
		}
		pts = append(pts, charts.ScoredPoint{Source: pt.Source, Country: pt.Country, Reference: pt.Reference,
			Value: pt.Estimate.Value, Lower: pt.Estimate.Lower, Upper: pt.Estimate.Upper, Inside: pt.Inside})
	}
	return charts.Backtest(w, f, charts.Meta{ModelVersion: estimate.ModelVersion}, pts)
}
