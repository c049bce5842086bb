package estimate

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/estimate/modeldata"
)

// methodFile is the method's reference document, beside this test.
const methodFile = "METHOD.md"

var (
	// methodHeading is a numbered heading of METHOD.md: "## 6. Countries", "### 6.2 The Monte Carlo".
	methodHeading = regexp.MustCompile(`^#{2,4}\s+(\d+(?:\.\d+)*)\.?\s+\S`)
	// citedSections is what may follow "METHOD.md" (or "METHOD.md`"): "§6.2", "§6–8",
	// "§5.2, §6.1 and §7.2".
	citedSections = regexp.MustCompile("^`?" + `\s*§\s*\d+(?:\.\d+)*(?:\s*(?:[–-]|,|and|or)\s*§?\s*\d+(?:\.\d+)*)*`)
	// anySection is every "§n" or range end inside METHOD.md itself.
	anySection    = regexp.MustCompile(`§\s*\d+(?:\.\d+)*(?:\s*[–-]\s*\d+(?:\.\d+)*)?`)
	sectionNumber = regexp.MustCompile(`\d+(?:\.\d+)*`)
	// oldDesign is a citation of the design document that is not in the repository (written in
	// two parts so that this file does not match it).
	oldDesign = regexp.MustCompile(`\bMODEL` + `(?:\.md\b|\s*§)`)
)

// methodSections returns the section numbers of METHOD.md's numbered headings.
func methodSections(t *testing.T) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(methodFile)
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]bool{}
	for i, line := range strings.Split(string(data), "\n") {
		m := methodHeading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if sections[m[1]] {
			t.Errorf("%s:%d: section %s is numbered twice", methodFile, i+1, m[1])
		}
		sections[m[1]] = true
	}
	if len(sections) < 10 {
		t.Fatalf("%s has %d numbered headings: the test no longer reads them", methodFile, len(sections))
	}
	return sections
}

// repoRoot is the directory of go.mod above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the estimate package")
		}
		dir = parent
	}
}

// TestMethodCitationsResolve keeps the pointers into the method from rotting: no Go or
// Markdown file of the repository cites the original design document (it is not in the
// repository: METHOD.md is the method), and every "METHOD.md §n" names a numbered heading of
// METHOD.md, as does every "§n" inside METHOD.md.
func TestMethodCitationsResolve(t *testing.T) {
	sections := methodSections(t)
	root := repoRoot(t)
	methodPath, err := filepath.Abs(methodFile)
	if err != nil {
		t.Fatal(err)
	}
	files, citations := 0, 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "vendor" || name == "hashatlas-demo") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, ".md") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		rel, _ := filepath.Rel(root, path)
		self := path == methodPath
		for i, line := range strings.Split(string(data), "\n") {
			if oldDesign.MatchString(line) {
				t.Errorf("%s:%d cites the design document that is not in the repository; cite estimate/METHOD.md §n instead: %s", rel, i+1, strings.TrimSpace(line))
			}
			var cited []string
			if self {
				cited = anySection.FindAllString(line, -1)
			} else {
				for rest := line; ; {
					j := strings.Index(rest, "METHOD.md")
					if j < 0 {
						break
					}
					rest = rest[j+len("METHOD.md"):]
					if c := citedSections.FindString(rest); c != "" {
						cited = append(cited, c)
					}
				}
			}
			for _, c := range cited {
				for _, n := range sectionNumber.FindAllString(c, -1) {
					citations++
					if !sections[n] {
						t.Errorf("%s:%d cites METHOD.md §%s, which is not a section of %s: %s", rel, i+1, n, methodFile, strings.TrimSpace(line))
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 || citations < 30 {
		t.Fatalf("read %d files with %d citations: the walk no longer finds the repository's sources", files, citations)
	}
}

// methodTable returns the table lines that follow the marker "<!-- table: name -->" in
// METHOD.md.
func methodTable(t *testing.T, name string) []string {
	t.Helper()
	f, err := os.Open(methodFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	marker := "<!-- table: " + name + " -->"
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	found := false
	var out []string
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " ")
		if !found {
			found = strings.TrimSpace(line) == marker
			continue
		}
		if !strings.HasPrefix(line, "|") {
			if len(out) > 0 {
				break
			}
			continue
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatalf("%s has no %s", methodFile, marker)
	}
	return out
}

// cells splits a Markdown table row into its trimmed cells.
func cells(row string) []string {
	parts := strings.Split(strings.Trim(row, "|"), "|")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// checkTable compares a table of METHOD.md with the one the code gives, and shows the whole
// expected table when they differ, so that it can be pasted in.
func checkTable(t *testing.T, name string, want []string) {
	t.Helper()
	got := methodTable(t, name)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s, table %q, differs from the code; the code gives:\n%s", methodFile, name, strings.Join(want, "\n"))
	}
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// TestMethodConstantsMatchTheCode: every constant METHOD.md lists has the value the code uses.
func TestMethodConstantsMatchTheCode(t *testing.T) {
	weights := make([]string, len(ageWeights))
	for i, w := range ageWeights {
		weights[i] = formatFloat(w)
	}
	c := NewChain()
	if _, err := c.Add(BlockObs{Height: 1, Time: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), Work: 1, Pool: "p"}); err != nil {
		t.Fatal(err)
	}
	minSpan := c.Stats(WindowOf(Day, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))).Seconds
	svc := NewService(ServiceConfig{}, nil, nil, nil)
	want := map[string]string{
		"ModelVersion":                   ModelVersion,
		"modeldata.Version()":            modeldata.Version(),
		"Level":                          formatFloat(Level),
		"BlockSeconds":                   strconv.Itoa(BlockSeconds),
		"MaxTargetBits":                  fmt.Sprintf("0x%08x", MaxTargetBits),
		"Watermark":                      formatFloat(Watermark.Hours()) + " h",
		"minimum observed span":          formatFloat(minSpan) + " s",
		"ServiceConfig.RecentBlocks":     strconv.Itoa(svc.cfg.RecentBlocks),
		"DefaultDraws":                   strconv.Itoa(DefaultDraws),
		"Unallocated":                    Unallocated,
		"UnknownRegion":                  UnknownRegion,
		"MinAgeDays":                     strconv.Itoa(MinAgeDays),
		"MaxAgeYears":                    strconv.Itoa(MaxAgeYears),
		"ageWeights":                     strings.Join(weights, ", "),
		"PUELow":                         formatFloat(PUELow),
		"PUEBest":                        formatFloat(PUEBest),
		"PUEHigh":                        formatFloat(PUEHigh),
		"HoursPerYear":                   strconv.Itoa(HoursPerYear),
		"StressQuantile":                 formatFloat(StressQuantile),
		"StressTrailingDays":             strconv.Itoa(StressTrailingDays),
		"StressMinHistoryHours":          strconv.Itoa(StressMinHistoryHours),
		"BaselineDays":                   strconv.Itoa(BaselineDays),
		"BaselineMinDays":                strconv.Itoa(BaselineMinDays),
		"FitMinPoolShare":                formatFloat(FitMinPoolShare),
		"FitMinEvents":                   strconv.Itoa(FitMinEvents),
		"SignificanceLevel":              formatFloat(SignificanceLevel),
		"StressRefMinShare":              formatFloat(StressRefMinShare),
		"StressRefMinKappa":              formatFloat(StressRefMinKappa),
		"StressBaselineDays":             strconv.Itoa(StressBaselineDays),
		"StressBaselineMinDays":          strconv.Itoa(StressBaselineMinDays),
		"StressOutlierP":                 formatFloat(StressOutlierP),
		"StressFDR":                      formatFloat(StressFDR),
		"StressMaxDispersion":            formatFloat(StressMaxDispersion),
		"AdjustedRowKappa":               formatFloat(AdjustedRowKappa),
		"PriorKappaFresh":                formatFloat(PriorKappaFresh),
		"PriorDriftPerMonth":             formatFloat(PriorDriftPerMonth),
		"PriorKappaFloor":                formatFloat(PriorKappaFloor),
		"PriorMinCoverage":               formatFloat(PriorMinCoverage),
		"modeldata.ShareSumMax":          formatFloat(modeldata.ShareSumMax),
		"BacktestAlpha":                  formatFloat(BacktestAlpha),
		"modeldata.SiteMaxAge":           fmt.Sprintf("%d d", int(modeldata.SiteMaxAge.Hours()/24)),
		"modeldata.ShareSumTol":          formatFloat(modeldata.ShareSumTol),
		"modeldata.JPerTHTol":            formatFloat(modeldata.JPerTHTol),
		"modeldata.Unallocated":          modeldata.Unallocated,
		"len(modeldata.Regions)":         strconv.Itoa(len(modeldata.Regions)),
		"curtailment β search upper end": formatFloat(1 - 1e-12),
	}
	// The last one is a literal of FitBeta, not a named constant: β is searched in [0, 1 − 1e-12].
	fit, err := FitBeta([]StressDay{{Blocks: 0, Expected: 100, Stress: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if fit.Beta.Value != 1-1e-12 {
		t.Errorf("FitBeta with every block missing gives β = %v, not the upper end 1 − 1e-12 METHOD.md names", fit.Beta.Value)
	}
	seen := map[string]bool{}
	for _, row := range methodTable(t, "constants")[2:] {
		c := cells(row)
		if len(c) < 2 {
			t.Errorf("%s: constants row %q has fewer than 2 cells", methodFile, row)
			continue
		}
		name, value := strings.Trim(c[0], "`"), strings.Trim(c[1], "`")
		w, ok := want[name]
		switch {
		case !ok:
			t.Errorf("%s lists constant %q, which this test does not know: add it to the test's map", methodFile, name)
		case value != w:
			t.Errorf("%s says %s = %s; the code has %s", methodFile, name, value, w)
		}
		seen[name] = true
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("%s does not list constant %s (%s)", methodFile, name, want[name])
		}
	}
}

// TestMethodTablesMatchTheModelData: the built-in tables as METHOD.md shows them are the ones
// built into the binary, and so is the fleet efficiency they give.
func TestMethodTablesMatchTheModelData(t *testing.T) {
	d, err := modeldata.Load()
	if err != nil {
		t.Fatal(err)
	}

	hw := []string{"| model | maker | released | TH/s | W | J/TH |", "|---|---|---|---:|---:|---:|"}
	for _, m := range d.Hardware() {
		hw = append(hw, fmt.Sprintf("| %s | %s | %s | %s | %s | %s |", m.Model, m.Maker, m.Released.Format(time.DateOnly),
			formatFloat(m.THs), formatFloat(m.Watts), formatFloat(m.JPerTH)))
	}
	checkTable(t, "hardware", hw)

	alloc := []string{"| pool | valid from | valid to | κ | shares |", "|---|---|---|---:|---|"}
	for _, a := range d.Allocations() {
		codes := make([]string, 0, len(a.Shares))
		for c := range a.Shares {
			codes = append(codes, c)
		}
		sort.Slice(codes, func(i, j int) bool {
			if a.Shares[codes[i]] != a.Shares[codes[j]] {
				return a.Shares[codes[i]] > a.Shares[codes[j]]
			}
			return codes[i] < codes[j]
		})
		shares := make([]string, len(codes))
		for i, c := range codes {
			shares[i] = c + " " + formatFloat(a.Shares[c])
		}
		to := "open"
		if !a.Period.To.IsZero() {
			to = a.Period.To.Format(time.DateOnly)
		}
		alloc = append(alloc, fmt.Sprintf("| %s | %s | %s | %s | %s |", a.Pool, a.Period.From.Format(time.DateOnly), to,
			formatFloat(a.Kappa), strings.Join(shares, ", ")))
	}
	checkTable(t, "allocation", alloc)

	uncovered := []string{"| pool | why it has no allocation row |", "|---|---|"}
	pools := make([]string, 0, len(modeldata.Uncovered))
	for p := range modeldata.Uncovered {
		pools = append(pools, p)
	}
	sort.Strings(pools)
	for _, p := range pools {
		uncovered = append(uncovered, fmt.Sprintf("| %s | %s |", p, modeldata.Uncovered[p]))
	}
	checkTable(t, "uncovered", uncovered)

	hq := []string{"| pool | HQ country | region |", "|---|---|---|"}
	for _, h := range d.HQs() {
		hq = append(hq, fmt.Sprintf("| %s | %s | %s |", h.Pool, h.Country, h.Region))
	}
	checkTable(t, "hq", hq)

	m := NewModel()
	fleet := []string{"| day (12:00 UTC) | models counted | low J/TH | best J/TH | high J/TH |", "|---|---:|---:|---:|---:|"}
	days := []string{"2016-07-30", "2016-07-31"}
	for y := 2017; y <= 2026; y++ {
		days = append(days, fmt.Sprintf("%d-01-01", y))
	}
	for _, day := range days {
		t0, err := time.Parse(time.DateOnly, day)
		if err != nil {
			t.Fatal(err)
		}
		f := m.Fleet(t0.Add(12 * time.Hour))
		if !f.Known() {
			fleet = append(fleet, fmt.Sprintf("| %s | 0 | unknown | unknown | unknown |", day))
			continue
		}
		fleet = append(fleet, fmt.Sprintf("| %s | %d | %.2f | %.2f | %.2f |", day, f.Models, f.Low, f.Best, f.High))
	}
	checkTable(t, "fleet", fleet)
}
