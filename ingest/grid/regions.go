// Package grid holds what the grid-power sources (ingest/eia, ingest/gridcsv) share: the
// table that maps grid regions to countries (project data, regions.csv, every row cited), the
// record of what a source has already published on the grid topic (so that a pass resumes
// where the last one left off and never publishes a key twice with other content without
// saying why), and the Writer that publishes a pass's observations against that record.
package grid

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Region kinds (Region.Kind).
const (
	// KindBalancingAuthority is a balancing authority as EIA-930 names it (ERCO, PJM, …),
	// including the Canadian and Mexican authorities adjacent to the U.S. grid.
	KindBalancingAuthority = "balancing_authority"
	// KindEIARegion is an EIA-930 aggregate of balancing authorities (TEX, MIDA, US48, …).
	// Its series overlap those of its members: never add them to the members'.
	KindEIARegion = "eia_region"
	// KindNationalGrid is a whole country's grid; its code is the country's ISO 3166-1
	// alpha-2 code.
	KindNationalGrid = "national_grid"
)

var kinds = []string{KindBalancingAuthority, KindEIARegion, KindNationalGrid}

// regionsHeader is the header regions files must start with, in this order.
var regionsHeader = []string{"region", "country", "kind", "name", "source"}

// Region is one row of the regions table.
type Region struct {
	// Code is the region as sources name it: 1 to 16 upper-case letters and digits.
	Code string
	// Country is the ISO 3166-1 alpha-2 code of the country the region lies in.
	Country string
	// Kind is one of the Kind* constants.
	Kind string
	// Name is the operator's or region's name.
	Name string
	// Source cites where the code and country come from (a URL in it).
	Source string
}

// Regions maps region codes to their rows. It is immutable and safe for concurrent use.
type Regions struct {
	name   string
	rows   []Region
	byCode map[string]int
}

//go:embed regions.csv
var defaultRegions []byte

// DefaultRegions returns the table built into hashatlas (regions.csv): the EIA-930 balancing
// authorities and region aggregates, the Canadian and Mexican authorities EIA-930 lists, and
// a few national grids keyed by country code.
func DefaultRegions() *Regions {
	r, err := ParseRegions(bytes.NewReader(defaultRegions), "regions.csv (built in)")
	if err != nil {
		// regions.csv is part of the binary and covered by tests; it cannot be invalid.
		panic("default grid regions: " + err.Error())
	}
	return r
}

// LoadRegionsFile reads a regions table in the regions.csv format from path.
func LoadRegionsFile(path string) (*Regions, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open grid regions file: %w", err)
	}
	defer f.Close()
	return ParseRegions(f, path)
}

// ParseRegions reads a regions table: a header "region,country,kind,name,source", then one
// region a row. name names the input in errors. Every rule is checked and the first broken
// one is reported with the row number (the header is row 1) and the rule:
//   - region: 1 to 16 upper-case ASCII letters and digits, unique in the file;
//   - country: two upper-case ASCII letters (ISO 3166-1 alpha-2; "XX", unallocated, is not
//     a country a region can lie in);
//   - kind: balancing_authority, eia_region or national_grid; a national grid's region is its
//     country code;
//   - name: not empty, no surrounding spaces;
//   - source: contains an http(s) URL.
func ParseRegions(r io.Reader, name string) (*Regions, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(regionsHeader)
	header, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%s: empty file, want the header %s", name, strings.Join(regionsHeader, ","))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if strings.Join(header, ",") != strings.Join(regionsHeader, ",") {
		return nil, fmt.Errorf("%s row 1: header %q, want %q", name, strings.Join(header, ","), strings.Join(regionsHeader, ","))
	}
	out := &Regions{name: name, byCode: map[string]int{}}
	var lines []int // the row number of each region, for duplicate errors
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("%s row %d: %v", name, pe.StartLine, pe.Err)
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		reg := Region{Code: rec[0], Country: rec[1], Kind: rec[2], Name: rec[3], Source: rec[4]}
		if msg := checkRegion(reg); msg != "" {
			return nil, fmt.Errorf("%s row %d (region %q): %s", name, line, reg.Code, msg)
		}
		if first, dup := out.byCode[reg.Code]; dup {
			return nil, fmt.Errorf("%s row %d (region %q): region appears twice (first on row %d); a code maps to one country", name, line, reg.Code, lines[first])
		}
		out.byCode[reg.Code] = len(out.rows)
		out.rows = append(out.rows, reg)
		lines = append(lines, line)
	}
	if len(out.rows) == 0 {
		return nil, fmt.Errorf("%s: no regions after the header", name)
	}
	return out, nil
}

func checkRegion(r Region) string {
	if r.Code == "" || len(r.Code) > 16 {
		return "region must be 1 to 16 characters"
	}
	for i := 0; i < len(r.Code); i++ {
		if c := r.Code[i]; !('A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return "region must be upper-case ASCII letters and digits"
		}
	}
	if !isCountry(r.Country) {
		return fmt.Sprintf("country %q must be an ISO 3166-1 alpha-2 code in upper case", r.Country)
	}
	if r.Country == "XX" {
		return `country "XX" (unallocated) is not a country a region lies in`
	}
	known := false
	for _, k := range kinds {
		known = known || r.Kind == k
	}
	if !known {
		return fmt.Sprintf("kind %q must be one of %s", r.Kind, strings.Join(kinds, ", "))
	}
	if r.Kind == KindNationalGrid && r.Code != r.Country {
		return fmt.Sprintf("a national grid's region must be its country code %q", r.Country)
	}
	if strings.TrimSpace(r.Name) == "" || strings.TrimSpace(r.Name) != r.Name {
		return "name must be non-empty without surrounding spaces"
	}
	if !strings.Contains(r.Source, "https://") && !strings.Contains(r.Source, "http://") {
		return "source must cite a URL (http:// or https://)"
	}
	return ""
}

func isCountry(s string) bool {
	return len(s) == 2 && 'A' <= s[0] && s[0] <= 'Z' && 'A' <= s[1] && s[1] <= 'Z'
}

// Name is where the table was read from.
func (r *Regions) Name() string { return r.name }

// Lookup returns the row of code.
func (r *Regions) Lookup(code string) (Region, bool) {
	i, ok := r.byCode[code]
	if !ok {
		return Region{}, false
	}
	return r.rows[i], true
}

// Country returns the country of code.
func (r *Regions) Country(code string) (string, bool) {
	reg, ok := r.Lookup(code)
	return reg.Country, ok
}

// All returns every row in file order; the caller owns the slice.
func (r *Regions) All() []Region { return append([]Region(nil), r.rows...) }

// Codes returns every region code, sorted; the caller owns the slice.
func (r *Regions) Codes() []string {
	out := make([]string, 0, len(r.rows))
	for _, reg := range r.rows {
		out = append(out, reg.Code)
	}
	sort.Strings(out)
	return out
}
