package modeldata

import (
	"bufio"
	"compress/gzip"
	"encoding/csv"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestEmbeddedDataLoads(t *testing.T) {
	d, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(Version(), "modeldata-") || len(Version()) != len("modeldata-")+12 {
		t.Errorf("Version() = %q", Version())
	}
	if d.Version() != Version() {
		t.Errorf("Data.Version %q != Version %q", d.Version(), Version())
	}
	if len(d.Hardware()) == 0 || len(d.HQs()) == 0 || len(d.Allocations()) == 0 {
		t.Fatalf("empty tables: %d miners, %d HQs, %d allocations", len(d.Hardware()), len(d.HQs()), len(d.Allocations()))
	}
	c, r, ok := d.HQ("foundryusa")
	if !ok || c != "US" || r != "North America" {
		t.Errorf("HQ(foundryusa) = %q %q %v", c, r, ok)
	}
	sh, k, ok := d.AllocationAt("marapool", time.Date(2025, 1, 15, 0, 0, 0, 0, time.UTC))
	if !ok || sh["US"] != 1 || k != 50 {
		t.Errorf("AllocationAt(marapool, 2025-01-15) = %v %v %v", sh, k, ok)
	}
	if _, _, ok := d.AllocationAt("antpool", time.Now()); ok {
		t.Error("antpool should be unallocated")
	}
	// Validity bounds are inclusive days.
	if _, k, _ := d.AllocationAt("marapool", time.Date(2024, 8, 12, 23, 59, 0, 0, time.UTC)); k != 10 {
		t.Errorf("marapool on last day of first period: kappa %v, want 10", k)
	}
	for _, m := range d.Hardware() {
		if m.Released.Year() < 2016 || m.Released.Year() > 2025 {
			t.Errorf("%s released %s, want 2016-2025", m.Model, m.Released.Format(dateLayout))
		}
	}
	for p := range Uncovered {
		if _, _, ok := d.HQ(p); !ok {
			t.Errorf("Uncovered pool %s has no HQ row", p)
		}
	}
}

func TestVersionChangesWithData(t *testing.T) {
	a, err := Parse(allocationCSV, hqCSV, hardwareCSV)
	if err != nil {
		t.Fatal(err)
	}
	hw := append(append([]byte(nil), hardwareCSV...), []byte("X1,Maker,2020-01-01,100,3000,30,src\n")...)
	b, err := Parse(allocationCSV, hqCSV, hw)
	if err != nil {
		t.Fatal(err)
	}
	if a.Version() == b.Version() {
		t.Error("version did not change with the data")
	}
}

const (
	goodAlloc = "pool_slug,country,share,kappa,valid_from,valid_to,source\n" +
		"p1,US,0.5,10,2024-01-01,2024-12-31,s\n" +
		"p1,CA,0.5,10,2024-01-01,2024-12-31,s\n"
	goodHW = "model,maker,release_date,ths,watts,j_per_th,source\n" +
		"M1,Maker,2020-05-01,100,3000,30,s\n"
)

func hqFile(rows ...string) string {
	return "pool_slug,hq_country,region,source\n" + strings.Join(rows, "")
}

func TestValidationErrors(t *testing.T) {
	okHQ := hqFile("p1,US,North America,s\n")
	cases := []struct {
		name            string
		alloc, hq, hw   string
		wantFile, wantL string
		wantMsg         string
	}{
		{"shares sum",
			"pool_slug,country,share,kappa,valid_from,valid_to,source\n" +
				"p1,US,0.5,10,2024-01-01,2025-12-31,s\n" +
				"p1,CA,0.4,10,2024-01-01,2025-12-31,s\n",
			okHQ, goodHW, AllocationFile, ":2:", "shares of pool p1 for 2024-01-01..2025-12-31 sum to 0.9, want 1"},
		{"bad country",
			"pool_slug,country,share,kappa,valid_from,valid_to,source\n" +
				"p1,USA,1,10,2024-01-01,,s\n",
			okHQ, goodHW, AllocationFile, ":2:", `country "USA" is not an ISO 3166-1 alpha-2 code`},
		{"unassigned country",
			"pool_slug,country,share,kappa,valid_from,valid_to,source\n" +
				"p1,QQ,1,10,2024-01-01,,s\n",
			okHQ, goodHW, AllocationFile, ":2:", "not an ISO 3166-1 alpha-2 code"},
		{"overlap",
			goodAlloc + "p1,US,1,10,2024-12-31,,s\n",
			okHQ, goodHW, AllocationFile, ":4:", "validity 2024-12-31.. of pool p1 overlaps 2024-01-01..2024-12-31 at line 2"},
		{"missing source alloc",
			"pool_slug,country,share,kappa,valid_from,valid_to,source\n" +
				"p1,US,1,10,2024-01-01,, \n",
			okHQ, goodHW, AllocationFile, ":2:", "missing source"},
		{"missing source hq",
			goodAlloc, hqFile("p1,US,North America,\n"), goodHW, HQFile, ":2:", "missing source"},
		{"missing source hw",
			goodAlloc, okHQ, "model,maker,release_date,ths,watts,j_per_th,source\nM1,Maker,2020-05-01,100,3000,30,\n",
			HardwareFile, ":2:", "missing source"},
		{"j_per_th",
			goodAlloc, okHQ, goodHW + "M2,Maker,2021-01-01,100,3000,25,s\n",
			HardwareFile, ":3:", "j_per_th of M2 is 25 but watts/ths = 30.000"},
		{"negative kappa",
			"pool_slug,country,share,kappa,valid_from,valid_to,source\n" +
				"p1,US,1,-5,2024-01-01,,s\n",
			okHQ, goodHW, AllocationFile, ":2:", "kappa is -5, want > 0"},
		{"unknown region",
			goodAlloc, hqFile("p1,US,North America,s\n", "p2,GB,Western Europe,s\n"), goodHW,
			HQFile, ":3:", `unknown region "Western Europe"`},
		{"bad hq country",
			goodAlloc, hqFile("p1,XY,Asia,s\n"), goodHW, HQFile, ":2:", `hq_country "XY"`},
		{"bad date",
			"pool_slug,country,share,kappa,valid_from,valid_to,source\n" +
				"p1,US,1,5,2024-13-01,,s\n",
			okHQ, goodHW, AllocationFile, ":2:", "valid_from"},
		{"to before from",
			"pool_slug,country,share,kappa,valid_from,valid_to,source\n" +
				"p1,US,1,5,2024-02-01,2024-01-01,s\n",
			okHQ, goodHW, AllocationFile, ":2:", "before valid_from"},
		{"kappa differs within period",
			"pool_slug,country,share,kappa,valid_from,valid_to,source\n" +
				"p1,US,0.5,5,2024-01-01,,s\n" +
				"p1,CA,0.5,6,2024-01-01,,s\n",
			okHQ, goodHW, AllocationFile, ":3:", "one kappa per pool and period"},
		{"bad header",
			"pool,country,share,kappa,valid_from,valid_to,source\n",
			okHQ, goodHW, AllocationFile, ":1:", `header column 1 is "pool"`},
		{"column count",
			goodAlloc, okHQ, goodHW + "M3,Maker,2021-01-01,100,3000\n",
			HardwareFile, ":3:", "row has 5 columns"},
		{"comment lines keep line numbers",
			"# comment\npool_slug,country,share,kappa,valid_from,valid_to,source\n# another\n" +
				"p1,US,2,10,2024-01-01,,s\n",
			okHQ, goodHW, AllocationFile, ":4:", "share is 2, want ≤ 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.alloc), []byte(c.hq), []byte(c.hw))
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, c.wantFile+c.wantL) || !strings.Contains(msg, c.wantMsg) {
				t.Errorf("error %q, want prefix %q and %q", msg, c.wantFile+c.wantL, c.wantMsg)
			}
		})
	}
	if _, err := Parse([]byte(goodAlloc), []byte(okHQ), []byte(goodHW)); err != nil {
		t.Errorf("good input: %v", err)
	}
}

// blocksPath is the shared blocks file; HASHATLAS_BLOCKS overrides it.
func blocksPath() string {
	if p := os.Getenv("HASHATLAS_BLOCKS"); p != "" {
		return p
	}
	return "../../../shared/data/blocks_2021_2026.csv.gz"
}

// bigPools returns, for every pool with ≥ 0.5 % of a month's blocks in
// 2024–2025, the months (YYYY-MM) where it was.
func bigPools(t *testing.T) map[string][]string {
	f, err := os.Open(blocksPath())
	if err != nil {
		t.Skipf("blocks file not available: %v", err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(gz)
	r.ReuseRecord = true
	h, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	ti, pi := -1, -1
	for i, c := range h {
		switch c {
		case "time_unix":
			ti = i
		case "pool_slug":
			pi = i
		}
	}
	if ti < 0 || pi < 0 {
		t.Fatalf("blocks header %v lacks time_unix/pool_slug", h)
	}
	count := map[string]map[string]int{} // month → pool → blocks
	total := map[string]int{}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("blocks file: %v", err)
		}
		sec, err := strconv.ParseInt(rec[ti], 10, 64)
		if err != nil {
			t.Fatalf("bad time %q", rec[ti])
		}
		m := time.Unix(sec, 0).UTC().Format("2006-01")
		if m < "2024-01" || m > "2025-12" {
			continue
		}
		if count[m] == nil {
			count[m] = map[string]int{}
		}
		count[m][rec[pi]]++
		total[m]++
	}
	if len(total) != 24 {
		t.Fatalf("blocks file covers %d months of 2024-2025, want 24", len(total))
	}
	out := map[string][]string{}
	for m, pools := range count {
		for p, n := range pools {
			if float64(n)/float64(total[m]) >= 0.005 && p != "unknown" {
				out[p] = append(out[p], m)
			}
		}
	}
	for _, ms := range out {
		sort.Strings(ms)
	}
	return out
}

func TestCoverage(t *testing.T) {
	d, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	pools := bigPools(t)
	if len(pools) == 0 {
		t.Fatal("no pools found")
	}
	for _, p := range sortedKeys(pools) {
		if _, _, ok := d.HQ(p); !ok {
			t.Errorf("pool %s (≥0.5%% in %v) has no pool_hq.csv row", p, pools[p])
		}
		var missing []string
		for _, m := range pools[p] {
			mid, _ := time.Parse("2006-01-02", m+"-15")
			if _, _, ok := d.AllocationAt(p, mid); !ok {
				missing = append(missing, m)
			}
		}
		reason, listed := Uncovered[p]
		switch {
		case len(missing) > 0 && !listed:
			t.Errorf("pool %s has no allocation for %v and is not in Uncovered", p, missing)
		case len(missing) == 0 && listed:
			t.Errorf("pool %s is allocated in all its months but still listed in Uncovered", p)
		case listed && strings.TrimSpace(reason) == "":
			t.Errorf("pool %s is Uncovered without a reason", p)
		}
		status := "allocated"
		if listed {
			status = "UNCOVERED (XX): " + reason
		}
		t.Logf("%-15s months≥0.5%%=%2d  %s", p, len(pools[p]), status)
	}
	for p := range Uncovered {
		if _, ok := pools[p]; !ok {
			t.Errorf("Uncovered lists %s, which never had ≥0.5%% of a month's blocks in 2024-2025", p)
		}
	}
}

func TestAllocationSharesSumAndBounds(t *testing.T) {
	d, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range d.Allocations() {
		s := 0.0
		for _, v := range a.Shares {
			s += v
		}
		if math.Abs(s-1) > ShareSumTol {
			t.Errorf("%s %s sums to %v", a.Pool, a.Period, s)
		}
		if a.Kappa <= 0 || a.Kappa > 100 {
			t.Errorf("%s %s kappa %v outside (0,100]", a.Pool, a.Period, a.Kappa)
		}
	}
}

// TestLoadDirOverridesOnlyTheFilesGiven: a directory with only pool_hq.csv keeps the built-in
// allocation and hardware tables; a broken file is refused naming the file, row and rule; an
// empty directory is refused.
func TestLoadDirOverridesOnlyTheFilesGiven(t *testing.T) {
	dir := t.TempDir()
	_, hq, _ := EmbeddedFiles()
	hq2 := strings.Replace(string(hq), "foundryusa,US,North America", "foundryusa,US,Europe", 1)
	if err := os.WriteFile(filepath.Join(dir, "pool_hq.csv"), []byte(hq2), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, region, _ := d.HQ("foundryusa"); region != "Europe" {
		t.Fatalf("foundryusa region %q, want the directory's Europe", region)
	}
	builtIn, _ := Load()
	if len(d.Allocations()) != len(builtIn.Allocations()) || len(d.Hardware()) != len(builtIn.Hardware()) || d.Version() == builtIn.Version() {
		t.Fatal("LoadDir did not keep the built-in allocation and hardware tables with a new version")
	}
	bad := strings.Replace(hq2, "foundryusa,US,Europe", "foundryusa,ZZZ,Europe", 1)
	if err := os.WriteFile(filepath.Join(dir, "pool_hq.csv"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "pool_hq.csv:") {
		t.Fatalf("broken pool_hq.csv: error %v, want one naming pool_hq.csv and its row", err)
	}
	if _, err := LoadDir(t.TempDir()); err == nil {
		t.Fatal("an empty directory was accepted")
	}
}

func day(s string) time.Time {
	t, err := time.Parse(dateLayout, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestAsOfHasOnlyThePublishedRows: the data as of a day before CCAF published its
// September 2021 – January 2022 map (2022-05-17) has no rows from that map, as of its
// publication day it has them; every as-of data set missing rows has a version of its own,
// and the data as of today is the live data itself.
func TestAsOfHasOnlyThePublishedRows(t *testing.T) {
	d, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	feb22 := day("2022-02-15")
	before := d.AsOf(time.Date(2022, 5, 16, 23, 59, 59, 0, time.UTC))
	for _, p := range []string{"btccom", "poolin", "viabtc", "foundryusa"} {
		if sh, _, ok := before.AllocationAt(p, feb22); ok {
			t.Errorf("as of 2022-05-16, %s has the January 2022 map's row %v, published 2022-05-17", p, sh)
		}
		if _, _, ok := d.AllocationAt(p, feb22); !ok {
			t.Errorf("the live data lost %s's row after AsOf", p)
		}
	}
	// the August 2021 map, published 2021-10-13, is known then
	if sh, _, ok := before.AllocationAt("btccom", day("2021-08-15")); !ok || sh["US"] != 0.354 {
		t.Errorf("as of 2022-05-16, btccom in August 2021 = %v %v, want the August 2021 map", sh, ok)
	}
	after := d.AsOf(day("2022-05-17"))
	for _, p := range []string{"btccom", "poolin", "viabtc"} {
		if sh, k, ok := after.AllocationAt(p, feb22); !ok || sh["CN"] != 0.2111 || k != 5 {
			t.Errorf("as of 2022-05-17, %s in February 2022 = %v κ %v %v, want the January 2022 map", p, sh, k, ok)
		}
	}
	if _, _, ok := d.AsOf(day("2021-10-12")).AllocationAt("btccom", day("2021-08-15")); ok {
		t.Error("as of 2021-10-12, btccom has the August 2021 map, published 2021-10-13")
	}

	if now := d.AsOf(time.Now()); now != d {
		t.Error("AsOf(now) removed rows or copied the data: live use must keep every row")
	}
	v := before.Version()
	if !strings.HasPrefix(v, "modeldata-") || len(v) != len("modeldata-")+12 || v == d.Version() || v == after.Version() {
		t.Errorf("as-of versions %q (before), %q (after), live %q: want distinct modeldata-<12 hex>", v, after.Version(), d.Version())
	}
	for _, r := range before.References() {
		if r.Published.After(day("2022-05-16")) {
			t.Errorf("as of 2022-05-16 the data has %s's figure for %s %s, published %s", r.Source, r.Country, r.Period, r.Published.Format("2006-01-02"))
		}
	}
	for _, x := range before.Sites() {
		if x.Published.After(day("2022-05-16")) {
			t.Errorf("as of 2022-05-16 the data has %s's %s site figure, published %s", x.Company, x.Country, x.Published.Format("2006-01-02"))
		}
	}
	if len(before.References()) == 0 || len(before.References()) == len(d.References()) || len(before.Sites()) == len(d.Sites()) {
		t.Errorf("as of 2022-05-16: %d of %d references, %d of %d sites", len(before.References()), len(d.References()), len(before.Sites()), len(d.Sites()))
	}
	// nothing is published between 2022-05-06 (IREN's April figures came out on 05-05) and 05-16
	if same := d.AsOf(day("2022-05-10")).Version(); same != v {
		t.Errorf("two dates that remove the same rows have versions %q and %q, want one", same, v)
	}
	if n, m := len(before.HQs()), len(d.HQs()); n != m || len(before.Hardware()) != len(d.Hardware()) {
		t.Errorf("AsOf changed the HQ or hardware tables (%d HQs, want %d)", n, m)
	}
	for _, a := range d.Allocations() {
		if a.Published.IsZero() {
			t.Errorf("%s %s has no published date", a.Pool, a.Period)
		}
	}
}

// TestPublishedAfterValidTo: evidence about a past period is fine; the row is known from its
// published day, for the period it describes.
func TestPublishedAfterValidTo(t *testing.T) {
	alloc := "pool_slug,country,share,kappa,valid_from,valid_to,published,source\n" +
		"p1,RU,1,5,2021-01-01,2022-02-28,2022-08-18,s\n"
	d, err := Parse([]byte(alloc), []byte(hqFile("p1,RU,Europe,s\n")), []byte(goodHW))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := d.AsOf(day("2022-08-17")).AllocationAt("p1", day("2021-06-01")); ok {
		t.Error("row known the day before its publication")
	}
	if _, _, ok := d.AsOf(day("2022-08-18")).AllocationAt("p1", day("2021-06-01")); !ok {
		t.Error("row unknown on its publication day")
	}
	// the built-in SBI row is such a row
	b, _ := Load()
	if a := b.Allocations(); !func() bool {
		for _, x := range a {
			if x.Pool == "sbicrypto" && x.Published.After(x.Period.To) {
				return true
			}
		}
		return false
	}() {
		t.Error("the built-in sbicrypto row is no longer published after its valid_to; update this test")
	}
}

// TestFilesWithoutPublished: an allocation.csv without the published column (an operator's
// own table written for earlier versions) loads, each row published on its valid_from.
func TestFilesWithoutPublished(t *testing.T) {
	d, err := Parse([]byte(goodAlloc), []byte(hqFile("p1,US,North America,s\n")), []byte(goodHW))
	if err != nil {
		t.Fatal(err)
	}
	a := d.Allocations()
	if len(a) != 1 || !a[0].Published.Equal(day("2024-01-01")) {
		t.Fatalf("allocations %+v, want one published on its valid_from 2024-01-01", a)
	}
	if _, _, ok := d.AsOf(day("2023-12-31")).AllocationAt("p1", day("2024-06-01")); ok {
		t.Error("a row without a published date is known before its valid_from")
	}
}

// TestBadDatesAreOneLineErrors: a bad date names the file, line and column on one line.
func TestBadDatesAreOneLineErrors(t *testing.T) {
	const h = "pool_slug,country,share,kappa,valid_from,valid_to,published,source\n"
	okHQ := hqFile("p1,US,North America,s\n")
	cases := []struct{ name, alloc, want string }{
		{"published not a day", h + "p1,US,1,5,2024-01-01,,2024-1-5,s\n", `allocation.csv:2: column 7 (published): "2024-1-5" is not a YYYY-MM-DD date`},
		{"published empty", h + "p1,US,1,5,2024-01-01,,,s\n", `allocation.csv:2: column 7 (published): "" is not a YYYY-MM-DD date`},
		{"published month 13", "# c\n" + h + "p1,US,1,5,2024-01-01,,2024-13-01,s\n", `allocation.csv:3: column 7 (published): "2024-13-01" is not a YYYY-MM-DD date`},
		{"valid_to", h + "p1,US,1,5,2024-01-01,31.12.2024,2024-01-05,s\n", `allocation.csv:2: column 6 (valid_to): "31.12.2024" is not a YYYY-MM-DD date`},
		{"valid_from, old header", goodAlloc[:strings.Index(goodAlloc, "\n")+1] + "p1,US,1,5,2024/01/01,,s\n", `allocation.csv:2: column 5 (valid_from): "2024/01/01" is not a YYYY-MM-DD date`},
		{"published differs within a row", h + "p1,US,0.5,5,2024-01-01,,2024-01-05,s\np1,CA,0.5,5,2024-01-01,,2024-01-06,s\n",
			"allocation.csv:3: published of pool p1 for 2024-01-01.. is 2024-01-06, but line 2 says 2024-01-05; one published date per pool and period"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.alloc), []byte(okHQ), []byte(goodHW))
			if err == nil || err.Error() != c.want || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
	_, err := Parse([]byte(goodAlloc), []byte(okHQ), []byte("model,maker,release_date,ths,watts,j_per_th,source\nM1,Maker,May 2020,100,3000,30,s\n"))
	if want := `hardware.csv:2: column 3 (release_date): "May 2020" is not a YYYY-MM-DD date`; err == nil || err.Error() != want {
		t.Errorf("hardware date error %v, want %q", err, want)
	}
}

// TestMethodPublishedTable: METHOD.md §6.7's table of publication dates says what
// allocation.csv says, row for row.
func TestMethodPublishedTable(t *testing.T) {
	b, err := os.ReadFile("../METHOD.md")
	if err != nil {
		t.Skipf("METHOD.md: %v", err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- table: published -->\n")
	if !ok {
		t.Fatal("METHOD.md has no published table")
	}
	got := map[string]bool{}
	for i, line := range strings.Split(rest, "\n") {
		if !strings.HasPrefix(line, "|") {
			break
		}
		if i < 2 {
			continue // header and rule
		}
		f := strings.Split(line, "|")
		if len(f) < 5 {
			t.Fatalf("bad table line %q", line)
		}
		for _, p := range strings.Split(f[1], ",") {
			got[strings.TrimSpace(p)+" "+strings.TrimSpace(f[2])+" "+strings.TrimSpace(f[3])+" "+strings.TrimSpace(f[4])] = true
		}
	}
	d, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, a := range d.Allocations() {
		to := "open"
		if !a.Period.To.IsZero() {
			to = a.Period.To.Format(dateLayout)
		}
		want[a.Pool+" "+a.Period.From.Format(dateLayout)+" "+to+" "+a.Published.Format(dateLayout)] = true
	}
	for k := range want {
		if !got[k] {
			t.Errorf("METHOD.md's published table lacks %s", k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("METHOD.md's published table has %s, which allocation.csv has not", k)
		}
	}
}
