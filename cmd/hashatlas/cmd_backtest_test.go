package main

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const referencesHeader = "source,kind,period_start,period_end,country,share,published,caveat,citation\n"

// writeReferences writes a references file (the header, then rows) and returns its path.
func writeReferences(t *testing.T, rows string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "my-references.csv")
	if err := os.WriteFile(p, []byte(referencesHeader+rows), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// backtestArgs runs backtest on the shared history with the references of refs and 200 draws.
func backtestArgs(t *testing.T, refs string, more ...string) []string {
	data := sharedData(t)
	return append([]string{"backtest", "--draws=200", "--references=" + refs,
		"--blocks=" + filepath.Join(data, "blocks_2021_2026.csv.gz"), "--difficulty=" + filepath.Join(data, "difficulty_epochs.csv")}, more...)
}

type backtestJSON struct {
	Points []struct {
		Source   string   `json:"source"`
		Kind     string   `json:"kind"`
		Period   string   `json:"period"`
		Country  string   `json:"country"`
		Ref      float64  `json:"ref_pct"`
		Est      *float64 `json:"est_pct"`
		Lo       *float64 `json:"est_lo"`
		Hi       *float64 `json:"est_hi"`
		Error    *float64 `json:"error_pts"`
		Inside   *bool    `json:"inside"`
		Score    *float64 `json:"score_pts"`
		AsOf     string   `json:"as_of"`
		Prior    string   `json:"prior"`
		PriorAge *int     `json:"prior_age_months"`
		Skipped  string   `json:"skipped"`
	} `json:"points"`
	Summary []struct {
		Source  string   `json:"source"`
		Points  int      `json:"points"`
		Skipped int      `json:"skipped"`
		MAE     *float64 `json:"mae_pts"`
		Cover   *float64 `json:"coverage_pct"`
		Score   *float64 `json:"mean_score_pts"`
	} `json:"summary"`
}

func runBacktestJSON(t *testing.T, refs string) backtestJSON {
	t.Helper()
	code, stdout, stderr := runCmd(t, nil, backtestArgs(t, refs, "--format=json")...)
	if code != exitOK {
		t.Fatalf("backtest --format json: exit %d, stderr %s", code, stderr)
	}
	var out backtestJSON
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("backtest --format json does not decode: %v\n%s", err, stdout)
	}
	return out
}

// TestBacktestPrintsEveryPointAndSummarizesPerSource: a references file of two sources, with a
// month of 2022 (in the history) and one of 2019 (before it), gives one row per figure but XX
// (the 2019 ones skipped), a summary per source and over all, as a table, CSV and JSON, and a
// chart.
func TestBacktestPrintsEveryPointAndSummarizesPerSource(t *testing.T) {
	refs := writeReferences(t, ""+
		"test-map-a,map,2022-01-01,2022-01-31,US,0.35,2022-02-15,,a map\n"+
		"test-map-a,map,2022-01-01,2022-01-31,CN,0.20,2022-02-15,,a map\n"+
		"test-map-a,map,2022-01-01,2022-01-31,KZ,0.15,2022-02-15,,a map\n"+
		"test-map-a,map,2022-01-01,2022-01-31,XX,0.30,2022-02-15,,a map\n"+
		"test-map-a,map,2019-09-01,2019-09-30,CN,0.70,2022-02-15,,a map\n"+
		"test-map-a,map,2019-09-01,2019-09-30,US,0.05,2022-02-15,,a map\n"+
		"test-model-b,model,2022-01-01,2022-01-31,US,0.40,2022-03-01,,a model\n"+
		"test-model-b,model,2022-01-01,2022-01-31,RU,0.10,2022-03-01,,a model\n")
	type key struct{ source, period, country string }
	want := map[key]bool{ // skipped?
		{"test-map-a", "2022-01", "US"}: false, {"test-map-a", "2022-01", "CN"}: false, {"test-map-a", "2022-01", "KZ"}: false,
		{"test-map-a", "2019-09", "CN"}: true, {"test-map-a", "2019-09", "US"}: true,
		{"test-model-b", "2022-01", "US"}: false, {"test-model-b", "2022-01", "RU"}: false,
	}
	wantSummary := map[string][2]int{"test-map-a": {3, 2}, "test-model-b": {2, 0}, "all": {5, 2}}

	// table, with a chart
	chart := filepath.Join(t.TempDir(), "backtest.svg")
	code, stdout, stderr := runCmd(t, nil, backtestArgs(t, refs, "--chart="+chart)...)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	tables := strings.Split(strings.TrimRight(stdout, "\n"), "\n\n")
	if len(tables) != 2 {
		t.Fatalf("want the points table, a blank line and the summary table:\n%s", stdout)
	}
	points := strings.Split(tables[0], "\n")
	if got := strings.Fields(points[0]); !slices.Equal(got[:4], []string{"source", "kind", "period", "country"}) {
		t.Fatalf("points header %q", points[0])
	}
	if len(points) != 1+len(want) {
		t.Fatalf("%d point rows, want %d (every figure but XX):\n%s", len(points)-1, len(want), tables[0])
	}
	for _, l := range points[1:] {
		f := strings.Fields(l)
		k := key{f[0], f[2], f[3]}
		skipped, ok := want[k]
		if !ok {
			t.Errorf("unexpected row %q", l)
			continue
		}
		if got := strings.HasSuffix(l, "no blocks in the period"); got != skipped {
			t.Errorf("row %q: skipped %v, want %v", l, got, skipped)
		}
		if !skipped && !slices.Contains(f, "true") && !slices.Contains(f, "false") {
			t.Errorf("row %q has no inside column", l)
		}
	}
	summary := strings.Split(tables[1], "\n")
	if got := strings.Fields(summary[0]); !slices.Equal(got, []string{"source", "points", "skipped", "mae_pts", "coverage_pct", "mean_score_pts"}) {
		t.Fatalf("summary header %q", summary[0])
	}
	if len(summary) != 1+len(wantSummary) || strings.Fields(summary[len(summary)-1])[0] != "all" {
		t.Fatalf("summary: want a row per source, then all:\n%s", tables[1])
	}
	for _, l := range summary[1:] {
		f := strings.Fields(l)
		w := wantSummary[f[0]]
		if f[1] != strconv.Itoa(w[0]) || f[2] != strconv.Itoa(w[1]) {
			t.Errorf("summary row %q: want %d points, %d skipped", l, w[0], w[1])
		}
	}
	if !strings.Contains(stderr, "leave-one-source-out") || !strings.Contains(stderr, "wrote "+chart) {
		t.Errorf("stderr lacks the note or the chart: %q", stderr)
	}
	svg, err := os.ReadFile(chart)
	if err != nil || !strings.Contains(string(svg), "<svg") || !strings.Contains(string(svg), "test-map-a (3)") {
		t.Errorf("chart %s: %v; want an SVG whose legend names test-map-a with its 3 scored points", chart, err)
	}

	// CSV: the points under one header; the summary goes to stderr.
	code, stdout, stderr = runCmd(t, nil, backtestArgs(t, refs, "--format=csv")...)
	if code != exitOK {
		t.Fatalf("csv: exit %d, stderr %s", code, stderr)
	}
	recs, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	if err != nil {
		t.Fatalf("csv does not parse: %v\n%s", err, stdout)
	}
	header := "source,kind,period,country,ref_pct,est_pct,est_lo,est_hi,error_pts,inside,score_pts,as_of,prior,prior_age_months,skipped"
	if strings.Join(recs[0], ",") != header || len(recs) != 1+len(want) {
		t.Fatalf("csv: header %v and %d rows, want %s and %d rows", recs[0], len(recs)-1, header, len(want))
	}
	for _, r := range recs[1:] {
		if skipped := want[key{r[0], r[2], r[3]}]; skipped != (r[14] != "") || skipped != (r[5] == "") {
			t.Errorf("csv row %v: skipped %v, est_pct %q, skipped reason %q", r, skipped, r[5], r[14])
		}
	}
	if !strings.Contains(stderr, "summary:") || !strings.Contains(stderr, "test-model-b") {
		t.Errorf("csv: stderr lacks the summary: %q", stderr)
	}

	// JSON: one object with the points and the summary.
	js := runBacktestJSON(t, refs)
	if len(js.Points) != len(want) || len(js.Summary) != len(wantSummary) {
		t.Fatalf("json: %d points, %d summary rows", len(js.Points), len(js.Summary))
	}
	for _, p := range js.Points {
		skipped := want[key{p.Source, p.Period, p.Country}]
		if skipped {
			if p.Skipped == "" || p.Est != nil || p.Inside != nil {
				t.Errorf("json: %s %s %s is not marked skipped: %+v", p.Source, p.Period, p.Country, p)
			}
			continue
		}
		if p.Skipped != "" || p.Est == nil || p.Lo == nil || p.Hi == nil || p.Error == nil || p.Inside == nil || p.Score == nil {
			t.Errorf("json: %s %s %s lacks its estimate: %+v", p.Source, p.Period, p.Country, p)
			continue
		}
		if p.Prior != "" {
			// test-map-a, the only map, was published after the month's end: no prior then
			t.Errorf("json: %s %s %s has prior %q, published after the period's end", p.Source, p.Period, p.Country, p.Prior)
		}
		if !(*p.Lo <= *p.Est && *p.Est <= *p.Hi) || math.Abs(*p.Error-(*p.Est-p.Ref)) > 0.11 ||
			*p.Inside != (p.Ref >= *p.Lo-0.05 && p.Ref <= *p.Hi+0.05) || p.AsOf != "2022-01-31" {
			t.Errorf("json: inconsistent point %s %s %s: %+v", p.Source, p.Period, p.Country, p)
		}
	}
	for _, s := range js.Summary {
		if w := wantSummary[s.Source]; s.Points != w[0] || s.Skipped != w[1] || s.MAE == nil || s.Cover == nil || s.Score == nil {
			t.Errorf("json summary %+v: want %d points, %d skipped", s, w[0], w[1])
		}
	}
}

// TestBacktestLeavesTheScoredSourceOut: a map published by the end of its own period is the
// only map the model could use as its prior there; its own figures are scored without it (no
// prior at all), while another source's figures for the same month use it.
func TestBacktestLeavesTheScoredSourceOut(t *testing.T) {
	refs := writeReferences(t, ""+
		"test-map-self,map,2022-01-01,2022-01-31,US,0.50,2022-01-31,,a map\n"+
		"test-map-self,map,2022-01-01,2022-01-31,CN,0.30,2022-01-31,,a map\n"+
		"test-model-z,model,2022-01-01,2022-01-31,US,0.40,2022-01-31,,a model\n")
	js := runBacktestJSON(t, refs)
	if len(js.Points) != 3 {
		t.Fatalf("%d points, want 3", len(js.Points))
	}
	us := map[string]float64{}
	for _, p := range js.Points {
		if p.Est == nil {
			t.Fatalf("%s %s skipped: %s", p.Source, p.Country, p.Skipped)
		}
		switch p.Source {
		case "test-map-self":
			if p.Prior != "" {
				t.Errorf("%s %s scored with prior %q: its own map must be left out (and no other map exists)", p.Source, p.Country, p.Prior)
			}
		case "test-model-z":
			if p.Prior != "test-map-self" || p.PriorAge == nil || *p.PriorAge != 0 {
				t.Errorf("%s %s: prior %q (age %v), want test-map-self (0): the map is known by the period's end", p.Source, p.Country, p.Prior, p.PriorAge)
			}
		}
		if p.Country == "US" {
			us[p.Source] = *p.Est
		}
	}
	if us["test-map-self"] == us["test-model-z"] {
		t.Errorf("the US estimate is %v for both sources: the map's own figure must be scored by a model without it", us["test-map-self"])
	}
}

// TestBacktestRefusesABadReferencesFile: the error is one line naming the file, the line and
// the rule, and nothing is printed.
func TestBacktestRefusesABadReferencesFile(t *testing.T) {
	for _, tc := range []struct{ rows, want string }{
		{"test-map-a,map,2022-01-01,2022-01-31,US,0.35,2022-02-15,,a map\ntest-map-a,guess,2022-01-01,2022-01-31,CN,0.2,2022-02-15,,a map\n", `:3: kind "guess"`},
		{"test-map-a,map,2022-01-01,2022-01-31,US,1.5,2022-02-15,,a map\n", ":2: share is 1.5"},
		{"test-map-a,map,2022-01-01,2022-01-31,US,0.35,2021-12-01,,a map\n", ":2: published 2021-12-01 is before the period"},
	} {
		refs := writeReferences(t, tc.rows)
		code, stdout, stderr := runCmd(t, nil, backtestArgs(t, refs)...)
		if code == exitOK || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, refs+tc.want) || !strings.Contains(stderr, "--references") {
			t.Errorf("rows %q: exit %d, stdout %q, stderr %q; want a non-zero exit and one line naming --references and %s%s", tc.rows, code, stdout, stderr, refs, tc.want)
		}
	}
	code, _, stderr := runCmd(t, nil, backtestArgs(t, filepath.Join(t.TempDir(), "missing.csv"))...)
	if code == exitOK || !strings.Contains(stderr, "missing.csv") {
		t.Errorf("a missing references file: exit %d, stderr %q", code, stderr)
	}
}
