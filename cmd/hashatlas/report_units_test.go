package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashatlas/hashatlas/sinks/clickhouse"
)

// unitRows are country estimates of a closed December 2025 and an open January 2026 (the data
// end on 2026-01-10): country, share with bounds, hashrate (EH/s) with bounds, power GW
// low/best/high, blocks.
var unitRows = []struct {
	month, country           string
	final, blocks            int
	share, lo, hi            float64
	ehs, ehsLo, ehsHi        float64
	gwLow, gwBest, gwHigh    float64
	twhLow, twhBest, twhHigh float64
}{
	{month: "2025-12-01", country: "XX", final: 1, share: 0.578392, lo: 0.550583, hi: 0.624812, ehs: 606.435, ehsLo: 569.453, ehsHi: 659.328, gwLow: 7.9, gwBest: 12.08, gwHigh: 24.1, twhBest: 105.8, twhLow: 69.2, twhHigh: 211.1, blocks: 2992},
	{month: "2025-12-01", country: "US", final: 1, share: 0.32605, lo: 0.239055, hi: 0.393203, ehs: 341.858, ehsLo: 249.622, ehsHi: 411.547, gwLow: 3.3, gwBest: 6.81, gwHigh: 14.7, twhBest: 59.7, twhLow: 28.9, twhHigh: 128.8, blocks: 1952},
	{month: "2026-01-01", country: "XX", final: 0, share: 0.6, lo: 0.57, hi: 0.65, ehs: 590, ehsLo: 560, ehsHi: 640, gwLow: 7.5, gwBest: 11.5, gwHigh: 23, twhBest: 100.7, twhLow: 65.7, twhHigh: 201.5, blocks: 800},
	{month: "2026-01-01", country: "US", final: 0, share: 0.3, lo: 0.22, hi: 0.37, ehs: 295, ehsLo: 216, ehsHi: 364, gwLow: 2.9, gwBest: 5.9, gwHigh: 12.7, twhBest: 51.7, twhLow: 25.4, twhHigh: 111.3, blocks: 500},
}

// migratedDatabase migrates a fresh database on the test server (dropped when the test ends)
// and returns the ClickHouse flags that read it and a connection to it.
func migratedDatabase(t *testing.T, prefix string) ([]string, *clickhouse.DB) {
	t.Helper()
	name := fmt.Sprintf("hashatlas_%s_%d", prefix, rand.Uint64()%1_000_000_000)
	dropDatabaseAtEnd(t, name)
	flags := []string{"--clickhouse.addr=" + testClickHouseAddr(), "--clickhouse.database=" + name}
	if code, _, stderr := runCmd(t, nil, append([]string{"migrate"}, flags...)...); code != exitOK {
		t.Fatalf("migrate: %s", stderr)
	}
	db := openTestDB(t, name)
	return flags, db
}

// unitsDatabase migrates a fresh database on the test server and fills it with unitRows and
// one block at the end of the data; it returns the ClickHouse flags that read it.
func unitsDatabase(t *testing.T) []string {
	t.Helper()
	flags, db := migratedDatabase(t, "units")
	var selects []string
	for _, r := range unitRows {
		start := clickhouse.QuoteString(r.month + " 00:00:00")
		selects = append(selects, fmt.Sprintf(`SELECT 'month' AS window, toDateTime(%s, 'UTC') AS window_start, addMonths(toDateTime(%s, 'UTC'), 1) AS window_end,
    %s AS country, toFloat64(%g) AS share, toFloat64(%g) AS share_lower, toFloat64(%g) AS share_upper,
    toFloat64(%g) AS hashrate_hs, toFloat64(%g) AS hashrate_hs_lower, toFloat64(%g) AS hashrate_hs_upper,
    toFloat64(%g) AS power_gw_low, toFloat64(%g) AS power_gw_best, toFloat64(%g) AS power_gw_high,
    toFloat64(%g) AS energy_twh_year_low, toFloat64(%g) AS energy_twh_year_best, toFloat64(%g) AS energy_twh_year_high,
    toUInt8(%d) AS final, toUInt32(%d) AS blocks, '1.1.0' AS model_version, 'pool-allocation' AS method, toUInt64(1) AS version`,
			start, start, clickhouse.QuoteString(r.country), r.share, r.lo, r.hi, r.ehs*1e18, r.ehsLo*1e18, r.ehsHi*1e18,
			r.gwLow, r.gwBest, r.gwHigh, r.twhLow, r.twhBest, r.twhHigh, r.final, r.blocks))
	}
	stmt := "INSERT INTO country_hashrate (" + strings.Join(columnNames(selects[0]), ", ") + ") " + strings.Join(selects, " UNION ALL ")
	if err := db.Exec(context.Background(), stmt); err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(context.Background(), "INSERT INTO blocks (height, time) SELECT toUInt32(930000) AS height, toDateTime('2026-01-10 12:00:00', 'UTC') AS time"); err != nil {
		t.Fatal(err)
	}
	return flags
}

// reporter runs `hashatlas report ARGS FLAGS…` and returns its stdout and stderr, failing the
// test unless it exits 0.
func reporter(t *testing.T, flags []string) func(args ...string) (string, string) {
	return func(args ...string) (string, string) {
		t.Helper()
		code, stdout, stderr := runCmd(t, nil, append(append([]string{"report"}, args...), flags...)...)
		if code != exitOK {
			t.Fatalf("report %v: exit %d: %s", args, code, stderr)
		}
		return stdout, stderr
	}
}

// TestReportSpeaksAnalystUnitsMarksOpenWindowsAndSaysWhyItIsEmpty (issue 16, items 5 and 6):
// by default a report gives shares in %, hashrate in EH/s and power in GW, rounded, in lines an
// analyst can read, with final as true/false and a note for open windows and for what the
// blocks column counts; --units=raw gives the stored values; JSON's final is a boolean in both;
// an empty report exits 0 and says on stderr what the data cover.
func TestReportSpeaksAnalystUnitsMarksOpenWindowsAndSaysWhyItIsEmpty(t *testing.T) {
	flags := unitsDatabase(t)
	report := reporter(t, flags)

	out, errOut := report("countries")
	want := `    month  country  pool_blocks   pct  pct_lo  pct_hi    ehs  ehs_lo  ehs_hi  final
  2025-12       XX         2992  57.8    55.1    62.5  606.4   569.5   659.3   true
  2025-12       US         1952  32.6    23.9    39.3  341.9   249.6   411.5   true
  2026-01       XX          800    60      57      65    590     560     640  false
  2026-01       US          500    30      22      37    295     216     364  false
`
	if out != want {
		t.Errorf("report countries printed\n%s\nwant\n%s", out, want)
	}
	for _, w := range []string{
		"reading database hashatlas_units_", // which database
		"note: model 1.1.0, method pool-allocation; pct: % of the network's hashrate",
		"note: pool_blocks are the blocks of the pools with hashrate in the country", "add up to more than the window's blocks",
		"note: final=false: 1 window is still open — the data end at 2026-01-10 12:00 UTC, ", " ago — and will change",
	} {
		if !strings.Contains(errOut, w) {
			t.Errorf("stderr lacks %q:\n%s", w, errOut)
		}
	}

	out, _ = report("power", "--from", "2025-12-01", "--to", "2026-01-01")
	if !strings.HasPrefix(out, "    month  country    ehs     gw  gw_low  gw_high  twh_yr  twh_yr_low  twh_yr_high  final\n  2025-12       XX  606.4  12.08     7.9     24.1   105.8        69.2        211.1   true\n") {
		t.Errorf("report power printed\n%s", out)
	}
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 100 {
			t.Errorf("a line of %d characters: %q", len(l), l)
		}
	}

	// Raw: the stored columns and values, final as true/false.
	out, _ = report("countries", "--units=raw", "--format=csv", "--from=2026-01-01")
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 3 {
		t.Fatalf("raw csv %v:\n%s", err, out)
	}
	if got := strings.Join(rows[0], ","); got != "window_start,country,blocks,share,share_lower,share_upper,hashrate_hs,hashrate_hs_lower,hashrate_hs_upper,final,model_version,method" {
		t.Errorf("raw header %s", got)
	}
	if got := strings.Join(rows[1], ","); got != "2026-01-01T00:00:00Z,XX,800,0.6,0.57,0.65,590000000000000000000,560000000000000000000,640000000000000000000,false,1.1.0,pool-allocation" &&
		got != "2026-01-01T00:00:00Z,XX,800,0.6,0.57,0.65,5.9e+20,5.6e+20,6.4e+20,false,1.1.0,pool-allocation" {
		t.Errorf("raw row %s", got)
	}

	// JSON: final is a boolean, in analysts' units and raw alike.
	for _, units := range []string{unitsAnalyst, unitsRaw} {
		out, _ = report("countries", "--format=json", "--units="+units)
		var objs []map[string]any
		if err := json.Unmarshal([]byte(out), &objs); err != nil || len(objs) != 4 {
			t.Fatalf("--units=%s json: %v\n%s", units, err, out)
		}
		if objs[0]["final"] != true || objs[3]["final"] != false {
			t.Errorf("--units=%s: final is %#v and %#v, want the booleans true and false", units, objs[0]["final"], objs[3]["final"])
		}
	}
	out, _ = report("countries", "--format=json", "--to=2026-01-01")
	var objs []map[string]any
	if err := json.Unmarshal([]byte(out), &objs); err != nil || len(objs) != 2 || objs[0]["pct"] != 57.8 || objs[0]["ehs"] != 606.4 || objs[0]["month"] != "2025-12" {
		t.Errorf("analyst json (%v): %s", err, out)
	}

	// Empty: the header (or []), exit 0, and a note saying what there is.
	for _, tc := range []struct {
		args []string
		note string
	}{
		{[]string{"countries", "--from", "2030-01-01"}, "note: no rows for --window month --from 2030-01-01; report countries has month windows 2025-12 … 2026-01"},
		{[]string{"countries", "--window", "lastn"}, "note: no rows for --window lastn; report countries has month windows 2025-12 … 2026-01"},
		{[]string{"network", "--format", "json"}, "note: no rows: report network has no data at all yet"},
	} {
		out, errOut := report(tc.args...)
		if !strings.Contains(errOut, tc.note) || strings.Count(out, "\n") > 1 {
			t.Errorf("report %v: stdout %q, stderr %q; want no rows and the note %q", tc.args, out, errOut, tc.note)
		}
	}
}

// TestReportChartsMarkOpenWindowsAndSayWhatTheyWrote (issue 16, items 5 and 7): a chart whose
// last month is still open shades it and says so in the legend; the power chart shows the
// latest closed month rather than the open one; `report --format png|svg` ends with "wrote
// FILE".
func TestReportChartsMarkOpenWindowsAndSayWhatTheyWrote(t *testing.T) {
	flags := unitsDatabase(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		kind, text string
	}{
		{"countries", "partial window (data to 2026-01-10)"},
		{"power", "Power drawn by mining per country (pool-allocation), monthly window 2025-12 — model 1.1.0"},
	} {
		out := filepath.Join(dir, tc.kind+".svg")
		code, stdout, stderr := runCmd(t, nil, append([]string{"report", tc.kind, "--format", "svg", "--out", out}, flags...)...)
		if code != exitOK || stdout != "" {
			t.Fatalf("report %s: exit %d, stdout %q, stderr %s", tc.kind, code, stdout, stderr)
		}
		if !strings.HasSuffix(stderr, "wrote "+out+"\n") {
			t.Errorf("report %s --format svg: stderr %q does not end with wrote %s", tc.kind, stderr, out)
		}
		doc, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if texts := svgTexts(t, doc); indexFrom(texts, tc.text, 0) < 0 {
			t.Errorf("%s chart lacks %q: %q", tc.kind, tc.text, texts)
		}
	}
	// Only the open month asked for: the power chart draws it, titled partial.
	out := filepath.Join(dir, "open.svg")
	if code, _, stderr := runCmd(t, nil, append([]string{"report", "power", "--from=2026-01-01", "--format=svg", "--out=" + out}, flags...)...); code != exitOK {
		t.Fatal(stderr)
	}
	doc, _ := os.ReadFile(out)
	if title := "Power drawn by mining per country (pool-allocation), monthly window 2026-01 (partial, data to 2026-01-10) — model 1.1.0"; indexFrom(svgTexts(t, doc), title, 0) < 0 {
		t.Errorf("the open month's power chart is not titled %q", title)
	}
}
