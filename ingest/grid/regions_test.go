package grid

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultRegionsCoverTheLargeBalancingAuthoritiesAndNationalGrids(t *testing.T) {
	r := DefaultRegions()
	for code, country := range map[string]string{
		"ERCO": "US", "PJM": "US", "MISO": "US", "CISO": "US", "SWPP": "US", "NYIS": "US", "ISNE": "US",
		"SOCO": "US", "TVA": "US", "BPAT": "US", "US48": "US", "TEX": "US",
		"IESO": "CA", "HQT": "CA", "AESO": "CA", "BCHA": "CA", "CFE": "MX", "CEN": "MX",
		"KZ": "KZ", "NO": "NO", "IS": "IS", "PY": "PY",
	} {
		got, ok := r.Country(code)
		if !ok || got != country {
			t.Errorf("Country(%q) = %q, %v; want %q", code, got, ok, country)
		}
	}
	if reg, _ := r.Lookup("TEX"); reg.Kind != KindEIARegion {
		t.Errorf("TEX is %q, want an EIA region aggregate", reg.Kind)
	}
	if reg, _ := r.Lookup("ERCO"); reg.Kind != KindBalancingAuthority || !strings.Contains(reg.Source, "https://www.eia.gov/") {
		t.Errorf("ERCO row %+v", reg)
	}
	if _, ok := r.Country("NOPE"); ok {
		t.Error("an unknown region has a country")
	}
	if n := len(r.All()); n < 70 {
		t.Errorf("%d regions, want the whole EIA-930 list (70+)", n)
	}
	codes := r.Codes()
	for i := 1; i < len(codes); i++ {
		if codes[i-1] >= codes[i] {
			t.Fatalf("Codes not sorted and unique at %q, %q", codes[i-1], codes[i])
		}
	}
}

func TestParseRegionsNamesTheRowAndTheRule(t *testing.T) {
	const header = "region,country,kind,name,source\n"
	const good = "ERCO,US,balancing_authority,ERCOT,https://www.eia.gov/x\n"
	cases := []struct {
		name, body, want string
	}{
		{"an empty file", "", "empty file"},
		{"a wrong header", "code,country,kind,name,source\n" + good, `row 1: header "code,country,kind,name,source"`},
		{"no rows", header, "no regions after the header"},
		{"a lower-case region", header + strings.Replace(good, "ERCO", "erco", 1), `row 2 (region "erco"): region must be upper-case`},
		{"a long region", header + strings.Replace(good, "ERCO", "ABCDEFGHIJKLMNOPQ", 1), "1 to 16 characters"},
		{"a three-letter country", header + good + "PJM,USA,balancing_authority,PJM,https://x\n", `row 3 (region "PJM"): country "USA"`},
		{"the unallocated country", header + strings.Replace(good, ",US,", ",XX,", 1), `"XX" (unallocated)`},
		{"an unknown kind", header + strings.Replace(good, "balancing_authority", "utility", 1), `kind "utility" must be one of`},
		{"a national grid under another code", header + "KAZ,KZ,national_grid,Kazakhstan,https://x\n", "national grid's region must be its country code"},
		{"an empty name", header + "ERCO,US,balancing_authority,,https://x\n", "name must be non-empty"},
		{"a source without a URL", header + "ERCO,US,balancing_authority,ERCOT,EIA\n", "source must cite a URL"},
		{"a duplicate region", header + good + good, `row 3 (region "ERCO"): region appears twice (first on row 2)`},
		{"a short row", header + "ERCO,US,balancing_authority\n", "row 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRegions(strings.NewReader(tc.body), "regions.csv")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "regions.csv") {
				t.Fatalf("err = %v, want one starting with the file name and containing %q", err, tc.want)
			}
		})
	}
}

func TestLoadRegionsFileReadsAnOperatorsOwnTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mine.csv")
	body := "region,country,kind,name,source\nSE3,SE,balancing_authority,Sweden bidding zone 3,https://www.svk.se\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := LoadRegionsFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := r.Country("SE3"); !ok || c != "SE" || r.Name() != path {
		t.Fatalf("Country(SE3) = %q, %v from %s", c, ok, r.Name())
	}
	if _, err := LoadRegionsFile(filepath.Join(t.TempDir(), "missing.csv")); err == nil {
		t.Fatal("a missing file loads")
	}
}
