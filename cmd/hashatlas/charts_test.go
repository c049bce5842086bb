package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/sinks/charts"
	"github.com/hashatlas/hashatlas/sinks/clickhouse"
)

func TestReportChartFlagsAreCheckedBeforeAnythingRuns(t *testing.T) {
	out := filepath.Join(t.TempDir(), "chart.svg")
	cases := []struct {
		name string
		args []string
		want []string // substrings of the single stderr line
	}{
		{"png without --out names the missing flag",
			[]string{"report", "countries", "--format=png"}, []string{"--out", "required with --format png"}},
		{"svg without --out names the missing flag",
			[]string{"report", "network", "--format=svg"}, []string{"--out", "required with --format svg"}},
		{"an unknown format lists the known ones",
			[]string{"report", "countries", "--format=gif", "--out=" + out}, []string{"--format", `"gif"`, "png or svg"}},
		{"--out with a printed format is refused",
			[]string{"report", "countries", "--format=csv", "--out=" + out}, []string{"--out", "only with --format png or svg"}},
		{"signals has no chart",
			[]string{"report", "signals", "--format=svg", "--out=" + out}, []string{"--format", "report signals has no chart"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// An unreachable server: the flags must be refused before it is dialled.
			args := append(tc.args, "--clickhouse.addr=127.0.0.1:1")
			code, stdout, stderr := runCmd(t, nil, args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, exitUsage, stdout, stderr)
			}
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			if len(lines) != 1 {
				t.Fatalf("stderr has %d lines, want one:\n%s", len(lines), stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("stderr %q does not mention %q", lines[0], w)
				}
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a file was written at %s (stat: %v)", out, err)
			}
		})
	}
}

// chartRows are the hand-made estimates the command-level test inserts: three months of
// three countries (XX the smallest), the network, two pools and two regions, model 1.1.0.
var chartRows = map[string][]string{
	"network_hashrate": {
		chartRow("2025-01-01", "", 800e18, 780e18, 820e18, 0, 0, 0),
		chartRow("2025-02-01", "", 820e18, 800e18, 840e18, 0, 0, 0),
		chartRow("2025-03-01", "", 850e18, 830e18, 870e18, 0, 0, 0),
	},
	"country_hashrate": {
		chartRow("2025-01-01", "US", 300e18, 250e18, 350e18, 5.0, 7.0, 9.0),
		chartRow("2025-01-01", "CN", 200e18, 150e18, 250e18, 3.5, 4.5, 6.0),
		chartRow("2025-01-01", "XX", 50e18, 30e18, 70e18, 0.8, 1.0, 1.4),
		chartRow("2025-02-01", "US", 310e18, 260e18, 360e18, 5.2, 7.2, 9.3),
		chartRow("2025-02-01", "CN", 205e18, 155e18, 255e18, 3.6, 4.6, 6.1),
		chartRow("2025-02-01", "XX", 55e18, 35e18, 75e18, 0.9, 1.1, 1.5),
		chartRow("2025-03-01", "US", 320e18, 270e18, 370e18, 5.4, 7.4, 9.6),
		chartRow("2025-03-01", "CN", 210e18, 160e18, 260e18, 3.7, 4.7, 6.2),
		chartRow("2025-03-01", "XX", 60e18, 40e18, 80e18, 1.0, 1.2, 1.6),
	},
	"pool_hashrate": {
		chartRow("2025-01-01", "foundryusa", 250e18, 220e18, 280e18, 0, 0, 0),
		chartRow("2025-01-01", "unknown", 20e18, 10e18, 30e18, 0, 0, 0),
		chartRow("2025-02-01", "foundryusa", 260e18, 230e18, 290e18, 0, 0, 0),
		chartRow("2025-02-01", "unknown", 25e18, 15e18, 35e18, 0, 0, 0),
	},
	"region_block_share": {
		chartRow("2025-01-01", "north-america", 0.42, 0.38, 0.46, 0, 0, 0),
		chartRow("2025-01-01", "asia", 0.35, 0.31, 0.39, 0, 0, 0),
		chartRow("2025-02-01", "north-america", 0.44, 0.40, 0.48, 0, 0, 0),
		chartRow("2025-02-01", "asia", 0.33, 0.29, 0.37, 0, 0, 0),
	},
}

// chartRow is one row's values: window start, entity, value with bounds, power low/best/high.
func chartRow(start, entity string, v, lo, hi, pLow, pBest, pHigh float64) string {
	return fmt.Sprintf("%s|%s|%g|%g|%g|%g|%g|%g", start, entity, v, lo, hi, pLow, pBest, pHigh)
}

// insertChartRows writes chartRows with INSERT … SELECT (the server refuses INSERT … VALUES
// sent as a statement), one statement per table.
func insertChartRows(t *testing.T, db *clickhouse.DB) {
	t.Helper()
	for _, table := range []string{"network_hashrate", "country_hashrate", "pool_hashrate", "region_block_share"} {
		var selects []string
		for _, r := range chartRows[table] {
			f := strings.Split(r, "|")
			start := clickhouse.QuoteString(f[0] + " 00:00:00")
			common := fmt.Sprintf(`'month' AS window, toDateTime(%s, 'UTC') AS window_start, addMonths(toDateTime(%s, 'UTC'), 1) AS window_end,
    toUInt8(1) AS final, toUInt32(1000) AS blocks, '1.1.0' AS model_version, toUInt64(1) AS version`, start, start)
			var cols string
			switch table {
			case "network_hashrate":
				cols = fmt.Sprintf(`toFloat64(%s) AS hashrate_hs, toFloat64(%s) AS hashrate_hs_lower, toFloat64(%s) AS hashrate_hs_upper, 'fixed-window' AS method`, f[2], f[3], f[4])
			case "country_hashrate":
				cols = fmt.Sprintf(`%s AS country, toFloat64(%s) AS hashrate_hs, toFloat64(%s) AS hashrate_hs_lower, toFloat64(%s) AS hashrate_hs_upper,
    toFloat64(%s) AS power_gw_low, toFloat64(%s) AS power_gw_best, toFloat64(%s) AS power_gw_high, 'pool-allocation' AS method`,
					clickhouse.QuoteString(f[1]), f[2], f[3], f[4], f[5], f[6], f[7])
			case "pool_hashrate":
				cols = fmt.Sprintf(`%s AS pool, toFloat64(%s) AS hashrate_hs, toFloat64(%s) AS hashrate_hs_lower, toFloat64(%s) AS hashrate_hs_upper, 'block-share' AS method`,
					clickhouse.QuoteString(f[1]), f[2], f[3], f[4])
			case "region_block_share":
				cols = fmt.Sprintf(`%s AS region, toFloat64(%s) AS share, toFloat64(%s) AS share_lower, toFloat64(%s) AS share_upper, 'pool-hq' AS method`,
					clickhouse.QuoteString(f[1]), f[2], f[3], f[4])
			}
			selects = append(selects, "SELECT "+common+", "+cols)
		}
		names := columnNames(selects[0])
		stmt := "INSERT INTO " + table + " (" + strings.Join(names, ", ") + ") " + strings.Join(selects, " UNION ALL ")
		if err := db.Exec(context.Background(), stmt); err != nil {
			t.Fatalf("insert into %s: %v", table, err)
		}
	}
}

// columnNames returns the aliases of a "SELECT x AS a, y AS b" list, in order.
func columnNames(sel string) []string {
	var out []string
	for _, part := range strings.Split(sel, " AS ")[1:] {
		name := strings.FieldsFunc(part, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' })[0]
		out = append(out, name)
	}
	return out
}

// svgTexts checks that doc is well-formed XML with an <svg> root and returns the text of
// its <text> elements in order.
func svgTexts(t *testing.T, doc []byte) []string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(doc))
	var texts []string
	var cur strings.Builder
	inText, root := false, ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
			if tok.Name.Local == "text" {
				inText = true
				cur.Reset()
			}
		case xml.EndElement:
			if tok.Name.Local == "text" {
				texts = append(texts, cur.String())
				inText = false
			}
		case xml.CharData:
			if inText {
				cur.Write(tok)
			}
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q, want svg", root)
	}
	return texts
}

func TestReportWritesChartsFromClickHouseRows(t *testing.T) {
	dbName := fmt.Sprintf("hashatlas_charts_%d", rand.Uint64()%1_000_000_000)
	dropDatabaseAtEnd(t, dbName)
	chFlags := []string{"--clickhouse.addr=" + testClickHouseAddr(), "--clickhouse.database=" + dbName}
	if code, _, stderr := runCmd(t, nil, append([]string{"migrate"}, chFlags...)...); code != exitOK {
		t.Fatalf("migrate: exit %d: %s", code, stderr)
	}
	dir := t.TempDir()

	// Before any estimate exists there is nothing to draw: one line, exit 1, no file.
	empty := filepath.Join(dir, "empty.svg")
	code, _, stderr := runCmd(t, nil, append([]string{"report", "network", "--format=svg", "--out=" + empty}, chFlags...)...)
	if code != exitFailed || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "no rows") {
		t.Fatalf("empty report: exit %d, stderr %q; want exit 1 and one line saying there are no rows", code, stderr)
	}
	if _, err := os.Stat(empty); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an empty report left a file: %v", err)
	}

	db := openTestDB(t, dbName)
	insertChartRows(t, db)

	cases := []struct {
		kind  string
		title string
		texts []string // legend entries, axis labels and ticks, in drawing order
	}{
		{"countries", "Country hashrate (pool-allocation), monthly windows — model 1.1.0",
			[]string{"window start (UTC)", "2025-01", "hashrate (EH/s)", "XX (unallocated)", "CN", "US", "US 95 % interval", "CN 95 % interval"}},
		{"network", "Network hashrate, monthly windows — model 1.1.0",
			[]string{"window start (UTC)", "hashrate (EH/s)", "network hashrate", "95 % interval"}},
		{"pools", "Pool hashrate (from blocks found), monthly windows — model 1.1.0",
			[]string{"hashrate (EH/s)", "unknown (unattributed)", "foundryusa", "foundryusa 95 % interval"}},
		{"regions", "Block share by pool HQ region, monthly windows — model 1.1.0",
			[]string{"share of blocks (%)", "north-america", "asia"}},
		// The bars are ordered by the best power estimate of the latest month: US, CN, then XX.
		{"power", "Power drawn by mining per country (pool-allocation), monthly window 2025-03 — model 1.1.0",
			[]string{"country", "US", "CN", "XX (unallocated)", "power (GW)", "best estimate", "low–high scenario"}},
	}
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			out := filepath.Join(dir, tc.kind+".svg")
			code, stdout, stderr := runCmd(t, nil, append([]string{"report", tc.kind, "--format=svg", "--out=" + out}, chFlags...)...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if stdout != "" {
				t.Errorf("a chart report printed to stdout: %q", stdout)
			}
			doc, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			texts := svgTexts(t, doc)
			if len(texts) == 0 || texts[0] != tc.title {
				t.Fatalf("first text %q, want the title %q", firstOr(texts), tc.title)
			}
			// The wanted texts appear in this order (legend top to bottom, bars left to right).
			at := 0
			for _, w := range tc.texts {
				i := indexFrom(texts, w, at)
				if i < 0 {
					t.Fatalf("%q missing after position %d of %q", w, at, texts)
				}
				at = i + 1
			}
		})
	}

	// PNG: a decodable image of the documented size.
	out := filepath.Join(dir, "network.png")
	if code, _, stderr := runCmd(t, nil, append([]string{"report", "network", "--format=png", "--out=" + out}, chFlags...)...); code != exitOK {
		t.Fatalf("png: exit %d: %s", code, stderr)
	}
	fh, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	img, err := png.Decode(fh)
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", out, err)
	}
	if b := img.Bounds(); b.Dx() != 960 || b.Dy() != 540 {
		t.Fatalf("PNG %dx%d, want 960x540", b.Dx(), b.Dy())
	}
}

func firstOr(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func indexFrom(s []string, want string, from int) int {
	for i := from; i < len(s); i++ {
		if s[i] == want {
			return i
		}
	}
	return -1
}

func TestReportSeriesGroupsRowsByEntityAndNamesBadCells(t *testing.T) {
	jan := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	feb := jan.AddDate(0, 1, 0)
	cols := []clickhouse.Column{{Name: "window_start"}, {Name: "country"}, {Name: "hashrate_hs"},
		{Name: "hashrate_hs_lower"}, {Name: "hashrate_hs_upper"}, {Name: "model_version"}, {Name: "method"}}
	res := &clickhouse.Result{Columns: cols, Rows: [][]any{
		{jan, "US", 3.0, 2.0, 4.0, "1.1.0", "pool-allocation"},
		{jan, "XX", 1.0, 0.5, 1.5, "1.1.0", "pool-allocation"},
		{feb, "US", 3.5, 2.5, 4.5, "1.1.0", "pool-allocation"},
	}}
	got, err := reportSeries(res, "country", [3]string{"hashrate_hs", "hashrate_hs_lower", "hashrate_hs_upper"})
	if err != nil {
		t.Fatal(err)
	}
	want := []charts.Series{
		{Name: "US", Points: []charts.Point{{Start: jan, Estimate: charts.Estimate{Value: 3, Lower: 2, Upper: 4}}, {Start: feb, Estimate: charts.Estimate{Value: 3.5, Lower: 2.5, Upper: 4.5}}}},
		{Name: "XX", Points: []charts.Point{{Start: jan, Estimate: charts.Estimate{Value: 1, Lower: 0.5, Upper: 1.5}}}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("series\n%v\nwant\n%v", got, want)
	}
	m, err := reportMeta(res, "month", true)
	if err != nil || !reflect.DeepEqual(m, charts.Meta{Window: "month", ModelVersion: "1.1.0", Method: "pool-allocation"}) {
		t.Fatalf("meta %+v, %v", m, err)
	}
	// With the final column: the windows of rows that are not final are open.
	withFinal := &clickhouse.Result{Columns: append(slices.Clone(cols), clickhouse.Column{Name: "final"}), Rows: [][]any{
		append(slices.Clone(res.Rows[0]), true), append(slices.Clone(res.Rows[1]), true), append(slices.Clone(res.Rows[2]), false)}}
	m, err = reportMeta(withFinal, "month", true)
	if err != nil || !reflect.DeepEqual(m.Open, []time.Time{feb}) {
		t.Fatalf("open windows %v (%v), want February only", m.Open, err)
	}

	cases := []struct {
		name string
		res  *clickhouse.Result
		want string
	}{
		{"a missing column is named", &clickhouse.Result{Columns: cols[:2], Rows: [][]any{{jan, "US"}}}, "column hashrate_hs missing"},
		{"a value of the wrong type names row and column", &clickhouse.Result{Columns: cols, Rows: [][]any{
			{jan, "US", "3", 2.0, 4.0, "1.1.0", "x"}}}, `row 1, column hashrate_hs: string 3 is not a float`},
		{"a window start that is no time", &clickhouse.Result{Columns: cols, Rows: [][]any{
			{"2025-01-01", "US", 3.0, 2.0, 4.0, "1.1.0", "x"}}}, "column window_start: string 2025-01-01 is not a time"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := reportSeries(tc.res, "country", [3]string{"hashrate_hs", "hashrate_hs_lower", "hashrate_hs_upper"})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
