package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// stressDatabase migrates a fresh database holding no grid observation and three tested days
// of north-america in chain_stress — 2022-12-23 and 2022-12-25 quiet, 2022-12-24 an event —
// and one grid exposure in energy_signals; it returns the ClickHouse flags that read it.
func stressDatabase(t *testing.T) []string {
	t.Helper()
	flags, db := migratedDatabase(t, "stress")
	var selects []string
	for _, d := range []struct {
		day                      string
		ref                      int
		drop, lo, hi, q, ehs, gw float64
	}{
		{"2022-12-23", 41, -0.04, -0.4, 0.25, 0.9997, 5.1e18, 0.19},
		{"2022-12-24", 11, 0.72236, 0.50312, 0.86149, 0.00166294, 96.73e18, 3.6612},
		{"2022-12-25", 35, 0.1, -0.2, 0.35, 0.9997, 20e18, 0.75},
	} {
		selects = append(selects, fmt.Sprintf(`SELECT toDateTime('%s 00:00:00', 'UTC') AS day, 'north-america' AS region, ['foundryusa', 'marapool'] AS reference_pools,
    toUInt32(120) AS blocks, toUInt32(%d) AS reference_blocks, toFloat64(39.6) AS reference_expected, toFloat64(%g) AS share_drop,
    toFloat64(%g) AS share_drop_lower, toFloat64(%g) AS share_drop_upper, toFloat64(%g) AS p_value, toFloat64(%g) AS q_value,
    toFloat64(%g) AS shortfall_hs, toFloat64(%g) AS shortfall_hs_lower, toFloat64(%g) AS shortfall_hs_upper, toFloat64(%g) AS shortfall_gw,
    toUInt8(1) AS final, '1.1.0' AS model_version, 'chain-stress' AS method, toUInt64(1) AS version`,
			d.day, d.ref, d.drop, d.lo, d.hi, d.q/100, d.q, d.ehs, d.ehs*0.6, d.ehs*1.3, d.gw))
	}
	stmt := "INSERT INTO chain_stress (" + strings.Join(columnNames(selects[0]), ", ") + ") " + strings.Join(selects, " UNION ALL ")
	if err := db.Exec(context.Background(), stmt); err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(context.Background(), `INSERT INTO energy_signals (window, window_start, window_end, pool, region, country, signal, beta, beta_lower, beta_upper, p_value, events, blocks, final, model_version, method, version)
SELECT 'year', toDateTime('2022-01-01 00:00:00', 'UTC'), toDateTime('2023-01-01 00:00:00', 'UTC'), 'antpool', 'north-america', 'US', 'grid_exposure',
    toFloat64(0.3), toFloat64(0.1), toFloat64(0.5), toFloat64(0.02), toUInt32(3), toUInt32(5000), toUInt8(1), '1.1.0', 'exposure-mle', toUInt64(1)`); err != nil {
		t.Fatal(err)
	}
	return flags
}

// TestReportStressListsTheEventsAndSignalsSayWhenNoGridDataExists (issue 14, item 3): `report
// stress` gives the events in analysts' units (only the events unless --all-days; raw with
// --units=raw); `report signals` says once that there is no grid data and shows the grid
// exposures instead; `report stress --format svg` draws the chart.
func TestReportStressListsTheEventsAndSignalsSayWhenNoGridDataExists(t *testing.T) {
	flags := stressDatabase(t)
	report := reporter(t, flags)
	out, errOut := report("stress")
	want := `         day         region            ref_pools  ref_blocks  expected  drop_pct  drop_lo  drop_hi  q_value  short_ehs  short_ehs_lo  short_ehs_hi  short_gw  final
  2022-12-24  north-america  foundryusa,marapool          11      39.6      72.2     50.3     86.1  0.00166       96.7            58         125.7      3.66   true
`
	if out != want {
		t.Errorf("report stress printed\n%s\nwant\n%s", out, want)
	}
	if !strings.Contains(errOut, "note: model 1.1.0; ref_blocks: blocks of the reference pools") {
		t.Errorf("report stress: no legend on stderr:\n%s", errOut)
	}
	out, _ = report("stress", "--all-days", "--format=json")
	var objs []map[string]any
	if err := json.Unmarshal([]byte(out), &objs); err != nil || len(objs) != 3 || objs[1]["day"] != "2022-12-24" || objs[1]["drop_pct"] != 72.2 || objs[0]["final"] != true {
		t.Errorf("--all-days json (%v): %s", err, out)
	}
	out, _ = report("stress", "--units=raw", "--format=csv")
	if !strings.HasPrefix(out, "day,region,reference_pools,blocks,reference_blocks,reference_expected,share_drop,share_drop_lower,share_drop_upper,p_value,q_value,shortfall_hs,") ||
		!strings.Contains(out, "2022-12-24T00:00:00Z,north-america,\"foundryusa,marapool\",120,11,39.6,0.72236,0.50312,0.86149,") || strings.Count(out, "\n") != 2 {
		t.Errorf("raw csv:\n%s", out)
	}
	_, errOut = report("stress", "--from", "2023-01-01")
	if !strings.Contains(errOut, "note: no rows for events (q-value below 0.01; --all-days for every tested day) --from 2023-01-01; report stress has day windows 2022-12-23 … 2022-12-25") {
		t.Errorf("empty stress report note:\n%s", errOut)
	}

	out, errOut = report("signals", "--window", "year")
	if strings.Count(errOut, "no grid data") != 1 || !strings.Contains(errOut, "note: "+noGridDataNote+"; shown instead: the pools' exposure to it (signal grid_exposure)") {
		t.Errorf("report signals without grid data: stderr\n%s", errOut)
	}
	if !strings.Contains(out, "  2022  antpool  north-america       US   0.3") {
		t.Errorf("report signals without grid data does not show the grid exposure:\n%s", out)
	}
	_, errOut = report("signals", "--signal", "curtailment")
	if !strings.Contains(errOut, "no grid data") || !strings.Contains(errOut, "--signal grid_exposure") || strings.Contains(errOut, "has no data at all yet") {
		t.Errorf("report signals --signal curtailment without grid data: stderr\n%s", errOut)
	}

	svg := filepath.Join(t.TempDir(), "stress.svg")
	if _, errOut = report("stress", "--format", "svg", "--out", svg); !strings.Contains(errOut, "wrote "+svg) {
		t.Errorf("stress chart: %s", errOut)
	}
	doc, err := os.ReadFile(svg)
	if err != nil || !strings.Contains(string(doc), "event day (q &lt; 0.01): 1") || !strings.Contains(string(doc), "model 1.1.0") {
		t.Errorf("the stress chart (%v) lacks the event or the model version", err)
	}
}

// TestReportOnADatabaseOlderThanATableSaysToMigrate: a database made before migration 0006 has
// the hashatlas tables but not chain_stress; `report stress` says how to add it instead of
// leaving the reader with the engine's unknown-table error alone.
func TestReportOnADatabaseOlderThanATableSaysToMigrate(t *testing.T) {
	flags, db := migratedDatabase(t, "old")
	if err := db.Exec(context.Background(), "DROP TABLE chain_stress"); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCmd(t, nil, append([]string{"report", "stress"}, flags...)...)
	if code == exitOK || !strings.Contains(stderr, "`hashatlas migrate`") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("exit %d, stderr %q; want one line saying to run hashatlas migrate", code, stderr)
	}
}
