// Package modeldata holds the versioned model data of the country
// estimates (METHOD.md §5.2, §6.1, §7.6): the pool → country allocation table, the pool
// HQ table and the ASIC hardware efficiency table. The data are CSV files
// embedded in the binary; every row carries a source citation, and every allocation row the
// day its evidence became public (published) beside the period it describes. Load parses
// and validates them; Version changes whenever any file changes. Data.AsOf gives the data as
// known on a past day (the rows published by then), for backtests.
package modeldata

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// File names, used in error messages.
const (
	AllocationFile = "allocation.csv"
	HQFile         = "pool_hq.csv"
	HardwareFile   = "hardware.csv"
)

//go:embed allocation.csv
var allocationCSV []byte

//go:embed pool_hq.csv
var hqCSV []byte

//go:embed hardware.csv
var hardwareCSV []byte

// Regions are the allowed values of pool_hq.csv's region column.
var Regions = []string{"North America", "Asia", "Europe", "Latin America", "Middle East", "Africa", "Oceania", "Unknown"}

// Tolerances of the validation rules.
const (
	ShareSumTol = 1e-9 // shares of one pool+period sum to 1 within this
	JPerTHTol   = 0.02 // j_per_th equals watts/ths within this relative error
)

// Period is a validity period; To is zero when open-ended. Both ends are
// inclusive days (UTC).
type Period struct {
	From, To time.Time
}

// Contains reports whether t falls in the period.
func (p Period) Contains(t time.Time) bool {
	d := t.UTC()
	if d.Before(p.From) {
		return false
	}
	return p.To.IsZero() || d.Before(p.To.AddDate(0, 0, 1))
}

func (p Period) String() string {
	to := ""
	if !p.To.IsZero() {
		to = p.To.Format(dateLayout)
	}
	return p.From.Format(dateLayout) + ".." + to
}

func (p Period) overlaps(q Period) bool {
	// p.From <= q.To && q.From <= p.To with open ends as +inf.
	a := q.To.IsZero() || !p.From.After(q.To)
	b := p.To.IsZero() || !q.From.After(p.To)
	return a && b
}

// Allocation is one pool's country mix over one validity period.
type Allocation struct {
	Pool   string
	Period Period
	// Published is the UTC day the row's evidence became public: the row is known from
	// 00:00 UTC of that day on (AsOf). It may fall after Period.To (evidence about a past
	// period) or before Period.From. Files without a published column get Period.From.
	Published time.Time
	Shares    map[string]float64 // ISO 3166-1 alpha-2 → share, sums to 1
	Kappa     float64            // Dirichlet pseudo-count of the evidence
	Sources   []string
	Line      int // first line in allocation.csv
}

// PoolHQ is where a pool is run.
type PoolHQ struct {
	Pool, Country, Region, Source string
}

// Miner is one ASIC model from a manufacturer's spec.
type Miner struct {
	Model, Maker string
	Released     time.Time
	THs, Watts   float64
	JPerTH       float64
	Source       string
}

// Data is the validated model data.
type Data struct {
	alloc   map[string][]Allocation // pool → periods sorted by From
	hq      map[string]PoolHQ
	miners  []Miner
	refs    []Reference  // by published day, source, period, country
	maps    []CountryMap // refs of kinds map and survey by release and period (buildMaps)
	sites   []Site       // by day, company, country
	version string
}

// Load parses and validates the embedded files.
func Load() (*Data, error) {
	return ParseAll(allocationCSV, hqCSV, hardwareCSV, referencesCSV, sitesCSV)
}

// EmbeddedFiles returns the content of three tables built into the binary (allocation.csv,
// pool_hq.csv, hardware.csv), e.g. to write a variant of one of them and Parse it with the
// others. The caller must not modify the slices.
func EmbeddedFiles() (allocation, hq, hardware []byte) { return allocationCSV, hqCSV, hardwareCSV }

// EmbeddedReferences returns the content of the built-in references.csv and sites.csv. The
// caller must not modify the slices.
func EmbeddedReferences() (references, sites []byte) { return referencesCSV, sitesCSV }

// Version of the embedded data, "modeldata-" + 12 hex digits of a sha256
// over the five files.
func Version() string { return version(allocationCSV, hqCSV, hardwareCSV, referencesCSV, sitesCSV) }

func version(files ...[]byte) string {
	h := sha256.New()
	for _, f := range files {
		// length-prefix each file so that moving bytes between files changes the digest
		fmt.Fprintf(h, "%d\n", len(f))
		h.Write(f)
	}
	return "modeldata-" + hex.EncodeToString(h.Sum(nil))[:12]
}

// Version of this data set (equal to the package Version for Load).
func (d *Data) Version() string { return d.version }

// AsOf returns the data as it was known at t: the allocation rows, references and site
// figures published after t (a row is known from 00:00 UTC of its published day) are removed, everything else is shared with
// d. A backtest runs the model on it to use only the evidence public by then. When no row is
// removed it returns d itself (same version: live use, with every row known, is unchanged);
// otherwise the result has its own version, "modeldata-" + 12 hex digits of a sha256 over
// d's version and the removed rows (pool and period), so two dates that remove the same rows
// share a version and results made with less evidence never mix with d's. The pool HQ and
// hardware tables carry no publication dates and are kept whole.
func (d *Data) AsOf(t time.Time) *Data {
	t = t.UTC()
	h := sha256.New()
	fmt.Fprintf(h, "%s\nas-of\n", d.version)
	removed := 0
	alloc := make(map[string][]Allocation, len(d.alloc))
	for _, p := range sortedKeys(d.alloc) {
		var keep []Allocation
		for _, a := range d.alloc[p] {
			if a.Published.After(t) {
				fmt.Fprintf(h, "%s %s\n", a.Pool, a.Period)
				removed++
				continue
			}
			keep = append(keep, a)
		}
		if len(keep) > 0 {
			alloc[p] = keep
		}
	}
	var refs []Reference
	for _, r := range d.refs {
		if r.Published.After(t) {
			fmt.Fprintf(h, "ref %s %s %s\n", r.Source, r.Period, r.Country)
			removed++
			continue
		}
		refs = append(refs, r)
	}
	var sites []Site
	for _, x := range d.sites {
		if x.Published.After(t) {
			fmt.Fprintf(h, "site %s %s %s\n", x.Company, x.Day.Format(dateLayout), x.Country)
			removed++
			continue
		}
		sites = append(sites, x)
	}
	if removed == 0 {
		return d
	}
	return &Data{alloc: alloc, hq: d.hq, miners: d.miners, refs: refs, maps: buildMaps(refs), sites: sites, version: "modeldata-" + hex.EncodeToString(h.Sum(nil))[:12]}
}

// derivedVersion is the version of data derived from the data of version v by what.
func derivedVersion(v, what string) string {
	h := sha256.Sum256([]byte(v + "\n" + what))
	return "modeldata-" + hex.EncodeToString(h[:])[:12]
}

// Parse validates the three files' contents, with no references (no published maps: the
// model then has no prior, METHOD.md §6.8); used by tests and simulated worlds.
func Parse(allocation, hq, hardware []byte) (*Data, error) {
	return ParseFiles(allocation, hq, hardware, nil)
}

// ParseFiles validates the four files' contents (references may be empty), without site
// figures.
func ParseFiles(allocation, hq, hardware, references []byte) (*Data, error) {
	return ParseAll(allocation, hq, hardware, references, nil)
}

// ParseAll validates the five files' contents (references and sites may be empty); used by
// Load and LoadDir.
func ParseAll(allocation, hq, hardware, references, sites []byte) (*Data, error) {
	files := [][]byte{allocation, hq, hardware}
	if len(references) > 0 || len(sites) > 0 {
		files = append(files, references) // a digest without them stays as before
	}
	if len(sites) > 0 {
		files = append(files, sites)
	}
	d := &Data{alloc: map[string][]Allocation{}, hq: map[string]PoolHQ{}, version: version(files...)}
	if err := d.parseReferences(references); err != nil {
		return nil, err
	}
	if err := d.parseSites(sites); err != nil {
		return nil, err
	}
	if err := d.parseAllocation(allocation); err != nil {
		return nil, err
	}
	if err := d.parseHQ(hq); err != nil {
		return nil, err
	}
	if err := d.parseHardware(hardware); err != nil {
		return nil, err
	}
	return d, nil
}

// AllocationAt returns the country shares of pool's hashrate on t, the
// row's κ, and ok=false when no row covers t (the pool then goes to XX).
// The returned map is a copy.
func (d *Data) AllocationAt(pool string, t time.Time) (map[string]float64, float64, bool) {
	for _, a := range d.alloc[pool] {
		if a.Period.Contains(t) {
			m := make(map[string]float64, len(a.Shares))
			for c, s := range a.Shares {
				m[c] = s
			}
			return m, a.Kappa, true
		}
	}
	return nil, 0, false
}

// Allocations returns every allocation of every pool, by pool then period.
func (d *Data) Allocations() []Allocation {
	var out []Allocation
	for _, p := range sortedKeys(d.alloc) {
		out = append(out, d.alloc[p]...)
	}
	return out
}

// HQ returns where pool is run.
func (d *Data) HQ(pool string) (country, region string, ok bool) {
	h, ok := d.hq[pool]
	return h.Country, h.Region, ok
}

// HQs returns all HQ rows sorted by pool.
func (d *Data) HQs() []PoolHQ {
	out := make([]PoolHQ, 0, len(d.hq))
	for _, p := range sortedKeys(d.hq) {
		out = append(out, d.hq[p])
	}
	return out
}

// Hardware returns the miners sorted by release date then model (a copy).
func (d *Data) Hardware() []Miner { return append([]Miner(nil), d.miners...) }

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// ---- parsing ----

const dateLayout = "2006-01-02"

// rowError is a validation error naming file, line and rule.
type rowError struct {
	File string
	Line int
	Msg  string
}

func (e *rowError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

func errf(file string, line int, format string, a ...any) error {
	return &rowError{File: file, Line: line, Msg: fmt.Sprintf(format, a...)}
}

type record struct {
	line int
	f    map[string]string
	col  map[string]int // column name → 1-based column number in the file
}

// date parses the column col of r as a YYYY-MM-DD day; the error names file, line and column.
func (r record) date(file, col string) (time.Time, error) {
	s := r.f[col]
	t, err := time.Parse(dateLayout, s)
	if err != nil {
		return time.Time{}, errf(file, r.line, "column %d (%s): %q is not a YYYY-MM-DD date", r.col[col], col, s)
	}
	return t, nil
}

// readCSV reads a CSV whose header is exactly want or, if given, one of the older headers
// also accepted (a subset of want's columns; the missing ones read as ""), and returns its
// rows keyed by want's column names. Blank lines and lines starting with '#' are skipped.
func readCSV(file string, data []byte, want []string, older ...[]string) ([]record, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.Comment = '#'
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err == io.EOF {
		return nil, errf(file, 1, "empty file, want header %s", strings.Join(want, ","))
	}
	if err != nil {
		return nil, csvErr(file, err)
	}
	hl, _ := r.FieldPos(0)
	// the accepted header the file's matches, else one with its column count (for a
	// column-by-column error), else want
	cols := want
	if len(header) != len(want) {
		for _, o := range older {
			if len(o) == len(header) {
				cols = o
				if sameHeader(header, o) {
					break
				}
			}
		}
	}
	if len(header) != len(cols) {
		return nil, errf(file, hl, "header has %d columns, want %s", len(header), strings.Join(want, ","))
	}
	for i := range cols {
		if strings.TrimSpace(header[i]) != cols[i] {
			return nil, errf(file, hl, "header column %d is %q, want %q", i+1, header[i], cols[i])
		}
	}
	colNo := make(map[string]int, len(cols))
	for i, k := range cols {
		colNo[k] = i + 1
	}
	var out []record
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, csvErr(file, err)
		}
		line, _ := r.FieldPos(0)
		if len(rec) != len(cols) {
			return nil, errf(file, line, "row has %d columns, want %d (%s)", len(rec), len(cols), strings.Join(cols, ","))
		}
		m := make(map[string]string, len(cols))
		for i, k := range cols {
			m[k] = strings.TrimSpace(rec[i])
		}
		if m["source"] == "" {
			return nil, errf(file, line, "missing source citation")
		}
		out = append(out, record{line: line, f: m, col: colNo})
	}
}

func sameHeader(header, cols []string) bool {
	if len(header) != len(cols) {
		return false
	}
	for i := range cols {
		if strings.TrimSpace(header[i]) != cols[i] {
			return false
		}
	}
	return true
}

func csvErr(file string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return errf(file, pe.Line, "malformed CSV: %v", pe.Err)
	}
	return fmt.Errorf("%s: %w", file, err)
}

func isSlug(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func parseNum(file string, line int, col, s string, positive bool) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, errf(file, line, "%s %q is not a number", col, s)
	}
	if v < 0 || positive && v == 0 {
		want := "≥ 0"
		if positive {
			want = "> 0"
		}
		return 0, errf(file, line, "%s is %v, want %s", col, v, want)
	}
	return v, nil
}

// allocationHeader is allocation.csv's header. Files with the header of model data before
// the published column (allocationHeaderV1; e.g. an operator's own --model.data-dir table)
// are accepted: their rows' published date is their valid_from.
var (
	allocationHeader   = []string{"pool_slug", "country", "share", "kappa", "valid_from", "valid_to", "published", "source"}
	allocationHeaderV1 = []string{"pool_slug", "country", "share", "kappa", "valid_from", "valid_to", "source"}
)

func (d *Data) parseAllocation(data []byte) error {
	const file = AllocationFile
	recs, err := readCSV(file, data, allocationHeader, allocationHeaderV1)
	if err != nil {
		return err
	}
	type key struct {
		pool, from, to string
	}
	groups := map[key]*Allocation{}
	var order []key
	for _, r := range recs {
		f := r.f
		pool := f["pool_slug"]
		if !isSlug(pool) {
			return errf(file, r.line, "pool_slug %q is not a lower-case slug", pool)
		}
		c := f["country"]
		if !IsCountry(c) {
			return errf(file, r.line, "country %q is not an ISO 3166-1 alpha-2 code", c)
		}
		share, err := parseNum(file, r.line, "share", f["share"], false)
		if err != nil {
			return err
		}
		if share > 1 {
			return errf(file, r.line, "share is %v, want ≤ 1", share)
		}
		kappa, err := parseNum(file, r.line, "kappa", f["kappa"], true)
		if err != nil {
			return err
		}
		from, err := r.date(file, "valid_from")
		if err != nil {
			return err
		}
		var to time.Time
		if f["valid_to"] != "" {
			if to, err = r.date(file, "valid_to"); err != nil {
				return err
			}
			if to.Before(from) {
				return errf(file, r.line, "valid_to %s is before valid_from %s", f["valid_to"], f["valid_from"])
			}
		}
		published := from // a file without the published column
		if _, ok := r.col["published"]; ok {
			if published, err = r.date(file, "published"); err != nil {
				return err
			}
		}
		k := key{pool, f["valid_from"], f["valid_to"]}
		a := groups[k]
		if a == nil {
			a = &Allocation{Pool: pool, Period: Period{from, to}, Published: published, Shares: map[string]float64{}, Kappa: kappa, Line: r.line}
			groups[k] = a
			order = append(order, k)
		} else if a.Kappa != kappa {
			return errf(file, r.line, "kappa of pool %s for %s is %v, but line %d says %v; one kappa per pool and period", pool, a.Period, kappa, a.Line, a.Kappa)
		} else if !a.Published.Equal(published) {
			return errf(file, r.line, "published of pool %s for %s is %s, but line %d says %s; one published date per pool and period",
				pool, a.Period, published.Format(dateLayout), a.Line, a.Published.Format(dateLayout))
		}
		if _, dup := a.Shares[c]; dup {
			return errf(file, r.line, "country %s appears twice for pool %s in %s", c, pool, a.Period)
		}
		a.Shares[c] = share
		a.Sources = append(a.Sources, f["source"])
	}
	for _, k := range order {
		a := groups[k]
		sum := 0.0
		for _, c := range sortedKeys(a.Shares) {
			sum += a.Shares[c]
		}
		if math.Abs(sum-1) > ShareSumTol {
			return errf(file, a.Line, "shares of pool %s for %s sum to %v, want 1", a.Pool, a.Period, sum)
		}
		for _, b := range d.alloc[a.Pool] {
			if a.Period.overlaps(b.Period) {
				return errf(file, a.Line, "validity %s of pool %s overlaps %s at line %d", a.Period, a.Pool, b.Period, b.Line)
			}
		}
		d.alloc[a.Pool] = append(d.alloc[a.Pool], *a)
	}
	for _, as := range d.alloc {
		sort.Slice(as, func(i, j int) bool { return as[i].Period.From.Before(as[j].Period.From) })
	}
	return nil
}

var hqHeader = []string{"pool_slug", "hq_country", "region", "source"}

func (d *Data) parseHQ(data []byte) error {
	const file = HQFile
	recs, err := readCSV(file, data, hqHeader)
	if err != nil {
		return err
	}
	lines := map[string]int{}
	for _, r := range recs {
		f := r.f
		pool := f["pool_slug"]
		if !isSlug(pool) {
			return errf(file, r.line, "pool_slug %q is not a lower-case slug", pool)
		}
		if l, dup := lines[pool]; dup {
			return errf(file, r.line, "pool %s already has an HQ row at line %d", pool, l)
		}
		c := f["hq_country"]
		if !IsCountry(c) && c != "XX" {
			return errf(file, r.line, "hq_country %q is not an ISO 3166-1 alpha-2 code (or XX for unknown)", c)
		}
		reg := f["region"]
		known := false
		for _, x := range Regions {
			known = known || reg == x
		}
		if !known {
			return errf(file, r.line, "unknown region %q, want one of %s", reg, strings.Join(Regions, ", "))
		}
		if (c == "XX") != (reg == "Unknown") {
			return errf(file, r.line, "hq_country %s and region %s disagree: XX goes with Unknown and only with it", c, reg)
		}
		lines[pool] = r.line
		d.hq[pool] = PoolHQ{Pool: pool, Country: c, Region: reg, Source: f["source"]}
	}
	return nil
}

var hardwareHeader = []string{"model", "maker", "release_date", "ths", "watts", "j_per_th", "source"}

func (d *Data) parseHardware(data []byte) error {
	const file = HardwareFile
	recs, err := readCSV(file, data, hardwareHeader)
	if err != nil {
		return err
	}
	lines := map[string]int{}
	for _, r := range recs {
		f := r.f
		m := Miner{Model: f["model"], Maker: f["maker"], Source: f["source"]}
		if m.Model == "" || m.Maker == "" {
			return errf(file, r.line, "model and maker must not be empty")
		}
		if l, dup := lines[m.Model]; dup {
			return errf(file, r.line, "model %q already listed at line %d", m.Model, l)
		}
		if m.Released, err = r.date(file, "release_date"); err != nil {
			return err
		}
		if m.THs, err = parseNum(file, r.line, "ths", f["ths"], true); err != nil {
			return err
		}
		if m.Watts, err = parseNum(file, r.line, "watts", f["watts"], true); err != nil {
			return err
		}
		if m.JPerTH, err = parseNum(file, r.line, "j_per_th", f["j_per_th"], true); err != nil {
			return err
		}
		if calc := m.Watts / m.THs; math.Abs(m.JPerTH-calc) > JPerTHTol*calc {
			return errf(file, r.line, "j_per_th of %s is %v but watts/ths = %.3f; want within 2%%", m.Model, m.JPerTH, calc)
		}
		lines[m.Model] = r.line
		d.miners = append(d.miners, m)
	}
	sort.SliceStable(d.miners, func(i, j int) bool {
		a, b := d.miners[i], d.miners[j]
		if !a.Released.Equal(b.Released) {
			return a.Released.Before(b.Released)
		}
		return a.Model < b.Model
	})
	return nil
}

// LoadDir reads the tables from dir: allocation.csv, pool_hq.csv, hardware.csv,
// references.csv and sites.csv, each optional (a missing file means the built-in one). Errors name the file, row and rule.
func LoadDir(dir string) (*Data, error) {
	files := []struct {
		name string
		data *[]byte
	}{{AllocationFile, new([]byte)}, {HQFile, new([]byte)}, {HardwareFile, new([]byte)}, {ReferencesFile, new([]byte)}, {SitesFile, new([]byte)}}
	builtIn := [][]byte{allocationCSV, hqCSV, hardwareCSV, referencesCSV, sitesCSV}
	found := 0
	for i, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f.name))
		switch {
		case err == nil:
			*f.data = b
			found++
		case errors.Is(err, fs.ErrNotExist):
			*f.data = builtIn[i]
		default:
			return nil, fmt.Errorf("model data: %w", err)
		}
	}
	if found == 0 {
		return nil, fmt.Errorf("model data directory %s holds none of allocation.csv, pool_hq.csv, hardware.csv, references.csv, sites.csv", dir)
	}
	d, err := ParseAll(*files[0].data, *files[1].data, *files[2].data, *files[3].data, *files[4].data)
	if err != nil {
		return nil, fmt.Errorf("model data in %s: %w", dir, err)
	}
	return d, nil
}
