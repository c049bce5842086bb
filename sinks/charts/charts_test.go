package charts

import (
	"bytes"
	"encoding/xml"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"
)

// world is a constructed set of estimates over 18 months from 2024-07: ten countries with
// fixed weights (XX the smallest, so that only pinning keeps it out of "other"), the network,
// three regions and the power of each country.
type world struct {
	countries, pools, regions, power []Series
	network                          []Point
}

var (
	worldStart     = time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)
	worldCountries = []string{"US", "CN", "RU", "KZ", "CA", "MY", "PY", "ET", "AR", "XX"}
	worldWeights   = []float64{0.36, 0.2, 0.12, 0.09, 0.07, 0.05, 0.04, 0.03, 0.025, 0.015}
)

const worldMonths = 18

func month(i int) time.Time { return worldStart.AddDate(0, i, 0) }

func networkAt(i int) float64 { return 600e18 + float64(i)*12e18 }

func newWorld() world {
	var w world
	for i := range worldMonths {
		h := networkAt(i)
		w.network = append(w.network, Point{month(i), Estimate{h, 0.97 * h, 1.03 * h}})
	}
	for k, name := range worldCountries {
		c, pw, pool := Series{Name: name}, Series{Name: name}, Series{Name: "pool-" + strings.ToLower(name)}
		if name == "XX" {
			pool.Name = UnknownPool
		}
		for i := range worldMonths {
			h := networkAt(i) * worldWeights[k] * (1 + 0.05*math.Sin(float64(i+k)))
			c.Points = append(c.Points, Point{month(i), Estimate{h, 0.8 * h, 1.2 * h}})
			pool.Points = append(pool.Points, Point{month(i), Estimate{h, 0.9 * h, 1.1 * h}})
			gw := h / 1e18 * 0.021
			pw.Points = append(pw.Points, Point{month(i), Estimate{gw, 0.7 * gw, 1.4 * gw}})
		}
		w.countries, w.power, w.pools = append(w.countries, c), append(w.power, pw), append(w.pools, pool)
	}
	for k, name := range []string{"north-america", "asia", UnknownRegion} {
		r := Series{Name: name}
		for i := range worldMonths {
			v := []float64{0.42, 0.38, 0.2}[k] + 0.01*math.Sin(float64(i))
			r.Points = append(r.Points, Point{month(i), Estimate{v, v - 0.03, v + 0.03}})
		}
		w.regions = append(w.regions, r)
	}
	return w
}

var (
	countryMeta = Meta{Window: "month", ModelVersion: "1.1.0", Method: "pool-allocation"}
	plainMeta   = Meta{Window: "month", ModelVersion: "1.1.0"}
)

// chartCase is one chart function with the text its SVG must contain.
type chartCase struct {
	name   string
	draw   func(w io.Writer, f Format) error
	title  string
	axes   []string // axis labels, with units
	legend []string // legend entries: each exactly once in the SVG text
	ticks  []string // tick labels that must appear
	time   bool     // a time axis: its labels are calendar dates
}

func chartCases() []chartCase {
	w := newWorld()
	return []chartCase{
		{
			name:  "country hashrate",
			draw:  func(o io.Writer, f Format) error { return CountryHashrate(o, f, countryMeta, w.countries) },
			title: "Country hashrate (pool-allocation), monthly windows — model 1.1.0",
			axes:  []string{"hashrate (EH/s)", "window start (UTC)"},
			// six largest, the other three summed, XX pinned although smallest, three intervals
			legend: []string{"US", "CN", "RU", "KZ", "CA", "MY", "other (3 countries)", "XX (unallocated)",
				"US 95 % interval", "CN 95 % interval", "RU 95 % interval"},
			ticks: []string{"2024-07", "2025-01"},
			time:  true,
		},
		{
			name: "pool hashrate",
			draw: func(o io.Writer, f Format) error {
				return PoolHashrate(o, f, Meta{Window: "month", ModelVersion: "1.1.0"}, w.pools)
			},
			title: "Pool hashrate (from blocks found), monthly windows — model 1.1.0",
			axes:  []string{"hashrate (EH/s)", "window start (UTC)"},
			legend: []string{"pool-us", "pool-cn", "pool-ru", "pool-kz", "pool-ca", "pool-my", "other (3 pools)",
				"unknown (unattributed)", "pool-us 95 % interval", "pool-cn 95 % interval", "pool-ru 95 % interval"},
			ticks: []string{"2024-07", "2025-01"},
			time:  true,
		},
		{
			name:   "network hashrate",
			draw:   func(o io.Writer, f Format) error { return NetworkHashrate(o, f, plainMeta, w.network) },
			title:  "Network hashrate, monthly windows — model 1.1.0",
			axes:   []string{"hashrate (EH/s)", "window start (UTC)"},
			legend: []string{"network hashrate", "95 % interval"},
			ticks:  []string{"2024-07", "2025-01"},
			time:   true,
		},
		{
			name:   "region block share",
			draw:   func(o io.Writer, f Format) error { return RegionBlockShare(o, f, plainMeta, w.regions) },
			title:  "Block share by pool HQ region, monthly windows — model 1.1.0",
			axes:   []string{"share of blocks (%)", "window start (UTC)"},
			legend: []string{"north-america", "asia", "unknown", intervalKey},
			ticks:  []string{"2024-07", "2025-01", "40"},
			time:   true,
		},
		{
			name:   "country power",
			draw:   func(o io.Writer, f Format) error { return CountryPower(o, f, countryMeta, w.power) },
			title:  "Power drawn by mining per country (pool-allocation), monthly window 2025-12 — model 1.1.0",
			axes:   []string{"power (GW)", "country"},
			legend: []string{"best estimate", "low–high scenario"},
			// nine countries get bars (fewer than PowerBars), XX its own, last
			ticks: []string{"US", "CN", "RU", "KZ", "CA", "MY", "PY", "ET", "AR", "XX (unallocated)"},
		},
	}
}

// svgTexts parses an SVG document and returns the text of its <text> elements in order. It
// fails the test when the document is not well-formed XML with an <svg> root.
func svgTexts(t *testing.T, doc []byte) []string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(doc))
	var texts []string
	var cur strings.Builder
	depth, inText, root := 0, false, ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				root = tok.Name.Local
			}
			depth++
			if tok.Name.Local == "text" {
				inText = true
				cur.Reset()
			}
		case xml.EndElement:
			depth--
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
	if root != "svg" || depth != 0 {
		t.Fatalf("root element %q, open elements at the end %d: want a closed <svg>", root, depth)
	}
	return texts
}

func count(texts []string, s string) int {
	n := 0
	for _, t := range texts {
		if t == s {
			n++
		}
	}
	return n
}

var (
	unixSecondsLabel = regexp.MustCompile(`^[0-9]{9,}(\.[0-9]+)?$|e\+`)
	valueLabel       = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
	calendarLabel    = regexp.MustCompile(`^[0-9]{4}(-[0-9]{2}(-[0-9]{2}( [0-9]{2}:[0-9]{2})?)?)?$`)
)

func TestSVGChartsCarryTitleWithWindowAndModelAxesWithUnitsAndOneLegendEntryPerSeries(t *testing.T) {
	for _, tc := range chartCases() {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tc.draw(&buf, SVG); err != nil {
				t.Fatal(err)
			}
			texts := svgTexts(t, buf.Bytes())
			if count(texts, tc.title) != 1 {
				t.Errorf("title %q not in the SVG text %q", tc.title, texts)
			}
			for _, a := range tc.axes {
				if count(texts, a) != 1 {
					t.Errorf("axis label %q appears %d times, want once", a, count(texts, a))
				}
			}
			for _, l := range tc.legend {
				if count(texts, l) != 1 {
					t.Errorf("legend entry %q appears %d times, want once; texts %q", l, count(texts, l), texts)
				}
			}
			for _, tick := range tc.ticks {
				if count(texts, tick) == 0 {
					t.Errorf("tick label %q missing; texts %q", tick, texts)
				}
			}
			// Nothing is printed in unix seconds or exponent notation.
			for _, s := range texts {
				if unixSecondsLabel.MatchString(s) {
					t.Errorf("label %q is not readable", s)
				}
			}
			if tc.time {
				// Every date tick label is a calendar date: the ticks are the labels that are
				// neither title, axis, legend nor a plain number.
				known := map[string]bool{tc.title: true}
				for _, s := range append(append([]string{}, tc.axes...), tc.legend...) {
					known[s] = true
				}
				dates := 0
				for _, s := range texts {
					if known[s] || valueLabel.MatchString(s) && len(s) <= 4 {
						continue
					}
					if !calendarLabel.MatchString(s) {
						t.Errorf("time tick label %q is not a calendar date", s)
					}
					dates++
				}
				if dates < 2 {
					t.Errorf("%d date labels on the time axis, want at least 2", dates)
				}
			}
		})
	}
}

func TestPNGChartsDecodeAtTheDocumentedSizeAndShowTheData(t *testing.T) {
	for _, tc := range chartCases() {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tc.draw(&buf, PNG); err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(&buf)
			if err != nil {
				t.Fatalf("not a PNG: %v", err)
			}
			if b := img.Bounds(); b.Dx() != 960 || b.Dy() != 540 {
				t.Fatalf("size %dx%d, want 960x540", b.Dx(), b.Dy())
			}
			// The largest entity (or the network, or the bars) is drawn in the first palette
			// colour, solid or translucent over white: count the pixels of its hue.
			if n := countNear(img, palette[0]); n < 2000 {
				t.Errorf("%d pixels in the colour of the first series, want at least 2000: the data is not drawn", n)
			}
		})
	}
}

// countNear counts pixels that are c, or c at some opacity over white.
func countNear(img image.Image, c color.NRGBA) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			px := [3]float64{float64(r >> 8), float64(g >> 8), float64(bl >> 8)}
			want := [3]float64{float64(c.R), float64(c.G), float64(c.B)}
			// px = a·want + (1−a)·255 for one a in (0.1, 1] on every channel.
			a := (255 - px[0]) / (255 - want[0] + 1e-9)
			if want[0] == 255 {
				a = (255 - px[2]) / (255 - want[2])
			}
			if a < 0.1 || a > 1.02 {
				continue
			}
			ok := true
			for i := range 3 {
				if math.Abs(a*want[i]+(1-a)*255-px[i]) > 3 {
					ok = false
				}
			}
			if ok {
				n++
			}
		}
	}
	return n
}

func TestSameInputGivesByteIdenticalCharts(t *testing.T) {
	for _, tc := range chartCases() {
		for _, f := range []Format{SVG, PNG} {
			t.Run(tc.name+"/"+string(f), func(t *testing.T) {
				var a, b bytes.Buffer
				if err := tc.draw(&a, f); err != nil {
					t.Fatal(err)
				}
				if err := tc.draw(&b, f); err != nil {
					t.Fatal(err)
				}
				if a.Len() == 0 || !bytes.Equal(a.Bytes(), b.Bytes()) {
					t.Fatalf("two renderings differ (%d and %d bytes)", a.Len(), b.Len())
				}
			})
		}
	}
}

func TestSeriesOrderDoesNotChangeTheChart(t *testing.T) {
	w := newWorld()
	var a, b bytes.Buffer
	if err := CountryHashrate(&a, SVG, countryMeta, w.countries); err != nil {
		t.Fatal(err)
	}
	rev := make([]Series, len(w.countries))
	for i, s := range w.countries {
		pts := make([]Point, len(s.Points))
		for j, p := range s.Points {
			pts[len(pts)-1-j] = p
		}
		rev[len(rev)-1-i] = Series{Name: s.Name, Points: pts}
	}
	if err := CountryHashrate(&b, SVG, countryMeta, rev); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("reversing the series and their points changed the SVG")
	}
}

func TestStackBandsFoldsTheSmallOnesIntoOtherAndNeverHidesXX(t *testing.T) {
	at := func(i int) time.Time { return worldStart.AddDate(0, i, 0) }
	pt := func(i int, v float64) Point { return Point{at(i), Estimate{v, v / 2, 2 * v}} }
	series := []Series{
		{Name: "XX", Points: []Point{pt(0, 1), pt(1, 1)}},    // the smallest: pinned anyway
		{Name: "B", Points: []Point{pt(0, 50), pt(1, 50)}},   // ties with C on total
		{Name: "C", Points: []Point{pt(0, 60), pt(1, 40)}},   // ties with B: B first by name
		{Name: "A", Points: []Point{pt(0, 200), pt(1, 200)}}, // largest: bottom
		{Name: "D", Points: []Point{pt(0, 10)}},              // absent from window 1
		{Name: "E", Points: []Point{pt(0, 5), pt(1, 7)}},     // folded with D
		{Name: "F", Points: []Point{pt(0, 3), pt(1, 2)}},     // folded too
	}
	starts := []time.Time{at(0), at(1)}
	bands := stackBands(series, starts, "XX", "XX (unallocated)", "countries", 3)
	var names []string
	for _, b := range bands {
		names = append(names, b.name)
	}
	if want := "A B C other (3 countries) XX (unallocated)"; strings.Join(names, " ") != want {
		t.Fatalf("bands bottom to top %q, want %q", strings.Join(names, " "), want)
	}
	other := bands[3]
	if other.vals[0] != 10+5+3 || other.vals[1] != 0+7+2 {
		t.Errorf("other = %v, want the sums [18 9]", other.vals)
	}
	if other.lower != nil || drawsInterval(other, 3) {
		t.Error("other has an interval: the bounds of a sum are not the sum of bounds")
	}
	if !drawsInterval(bands[0], 0) || !drawsInterval(bands[2], 2) || drawsInterval(bands[4], 4) {
		t.Error("the intervals drawn are not those of the three largest")
	}
	base, peak := stackBases(bands, 2)
	// C sits on A+B; its interval band is drawn from base+lower to base+upper.
	if base[2][0] != 250 || base[2][1] != 250 {
		t.Errorf("C's base %v, want [250 250]", base[2])
	}
	if base[4][0] != 200+50+60+18 {
		t.Errorf("XX's base in window 0 %v, want %v", base[4][0], 200+50+60+18)
	}
	// The top of the stack is 329 in window 0, C's upper bound reaches 250 + 120 = 370, and
	// A's (at the bottom) 400: the axis must reach the highest drawn interval.
	if peak != 400 {
		t.Errorf("peak %v, want 400 (A's upper bound)", peak)
	}

	// A single leftover entity keeps its own band.
	bands = stackBands(series[:5], starts, "XX", "XX (unallocated)", "countries", 3)
	if bands[3].name != "D" || !bands[3].ranked {
		t.Errorf("a lone leftover became %q, want its own band D", bands[3].name)
	}
}

func TestHashUnitChoosesTheSIPrefixFromTheDataUpToEHs(t *testing.T) {
	cases := []struct {
		max   float64
		scale float64
		name  string
	}{
		{0, 1, "H/s"},
		{999, 1, "H/s"},
		{1e15, 1e15, "PH/s"},
		{3e17, 1e15, "PH/s"},
		{8.5e20, 1e18, "EH/s"},
		{1.2e21, 1e18, "EH/s"}, // never ZH/s: the reports and the summary say EH/s
		{5e30, 1e18, "EH/s"},
	}
	for _, tc := range cases {
		scale, name := hashUnit(tc.max)
		if scale != tc.scale || name != tc.name {
			t.Errorf("hashUnit(%g) = %g %s, want %g %s", tc.max, scale, name, tc.scale, tc.name)
		}
	}
}

func TestCalendarTicksAreUTCDatesAtCalendarBoundaries(t *testing.T) {
	d := func(s string) float64 {
		tm, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return float64(tm.Unix())
	}
	cases := []struct {
		name     string
		from, to string
		want     []string
	}{
		{"two years of months ticks every six months", "2024-01-01 00:00", "2026-01-01 00:00",
			[]string{"2024-01", "2024-07", "2025-01", "2025-07", "2026-01"}},
		{"ten days ticks every two days at midnight", "2025-03-01 00:00", "2025-03-11 00:00",
			[]string{"2025-03-01", "2025-03-03", "2025-03-05", "2025-03-07", "2025-03-09", "2025-03-11"}},
		{"six weeks ticks on Mondays", "2025-03-01 00:00", "2025-04-12 00:00",
			[]string{"2025-03-03", "2025-03-10", "2025-03-17", "2025-03-24", "2025-03-31", "2025-04-07"}},
		{"a day ticks every six hours on the hour", "2025-03-01 10:00", "2025-03-02 10:00",
			[]string{"2025-03-01 12:00", "2025-03-01 18:00", "2025-03-02 00:00", "2025-03-02 06:00"}},
		{"twenty years ticks every five years", "2009-01-03 00:00", "2029-01-01 00:00",
			[]string{"2010", "2015", "2020", "2025"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, tk := range (calendarTicks{maxTicks: 8}).Ticks(d(tc.from), d(tc.to)) {
				got = append(got, tk.Label)
			}
			if strings.Join(got, " | ") != strings.Join(tc.want, " | ") {
				t.Fatalf("ticks %q, want %q", got, tc.want)
			}
		})
	}
}

func TestValueTicksAreRoundNumbers(t *testing.T) {
	cases := []struct {
		lo, hi float64
		want   string
	}{
		{0, 820, "0 200 400 600 800"},
		{0, 47, "0 10 20 30 40"},
		{0, 9.6, "0 2 4 6 8"},
		{0, 0.3, "0.00 0.05 0.10 0.15 0.20 0.25 0.30"},
		{0, 2.6, "0.0 0.5 1.0 1.5 2.0 2.5"},
	}
	for _, tc := range cases {
		var got []string
		for _, tk := range (valueTicks{maxTicks: 8}).Ticks(tc.lo, tc.hi) {
			got = append(got, tk.Label)
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("ticks on [%g, %g] = %q, want %q", tc.lo, tc.hi, strings.Join(got, " "), tc.want)
		}
	}
}

func TestWindowSpansFollowTheCalendarAndNeverOverlap(t *testing.T) {
	ts := func(s ...string) []time.Time {
		var out []time.Time
		for _, x := range s {
			tm, _ := time.Parse(time.DateOnly, x)
			out = append(out, tm)
		}
		return out
	}
	day := func(s string) float64 { return float64(ts(s)[0].Unix()) }
	cases := []struct {
		name   string
		kind   string
		starts []time.Time
		want   []span
	}{
		{"a month ends at the next month's start, February included", "month", ts("2024-01-01", "2024-02-01", "2024-04-01"),
			[]span{{day("2024-01-01"), day("2024-02-01")}, {day("2024-02-01"), day("2024-03-01")}, {day("2024-04-01"), day("2024-05-01")}}},
		{"a lone day window is one day", "day", ts("2024-03-10"), []span{{day("2024-03-10"), day("2024-03-11")}}},
		{"last-N windows end at the next start, the last after the median gap", "lastn", ts("2024-03-10", "2024-03-11", "2024-03-13", "2024-03-14"),
			[]span{{day("2024-03-10"), day("2024-03-11")}, {day("2024-03-11"), day("2024-03-13")}, {day("2024-03-13"), day("2024-03-14")}, {day("2024-03-14"), day("2024-03-15")}}},
		{"a week never reaches past the next start", "week", ts("2024-03-04", "2024-03-08"),
			[]span{{day("2024-03-04"), day("2024-03-08")}, {day("2024-03-08"), day("2024-03-15")}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := windowSpans(tc.kind, tc.starts)
			if len(got) != len(tc.want) {
				t.Fatalf("%d spans, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("span %d = %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestInputThatCannotBeDrawnHonestlyIsRefused(t *testing.T) {
	w := newWorld()
	bad := func(v float64) []Series {
		return []Series{{Name: "US", Points: []Point{{month(0), Estimate{v, 0, 1}}}}}
	}
	cases := []struct {
		name string
		draw func() error
		want string
	}{
		{"no series", func() error { return CountryHashrate(io.Discard, SVG, countryMeta, nil) }, "no estimates to draw"},
		{"series without points", func() error {
			return NetworkHashrate(io.Discard, SVG, plainMeta, nil)
		}, "no estimates to draw"},
		{"a NaN estimate names the series and window", func() error {
			return CountryHashrate(io.Discard, PNG, countryMeta, bad(math.NaN()))
		}, `series "US", window 2024-07-01T00:00:00Z: value NaN is not a finite number`},
		{"a negative hashrate", func() error { return CountryHashrate(io.Discard, SVG, countryMeta, bad(-1)) }, "value -1 is negative"},
		{"a window twice in one series", func() error {
			s := w.countries[0]
			s.Points = append(s.Points[:1:1], s.Points[0])
			return CountryHashrate(io.Discard, SVG, countryMeta, []Series{s})
		}, `series "US" has window 2024-07-01T00:00:00Z twice`},
		{"a series twice", func() error {
			return CountryPower(io.Discard, SVG, countryMeta, []Series{w.power[0], w.power[0]})
		}, `series "US" given twice`},
		{"a share above one", func() error {
			return RegionBlockShare(io.Discard, SVG, plainMeta, []Series{{Name: "asia", Points: []Point{{month(0), Estimate{40, 30, 50}}}}})
		}, "a share above 1"},
		{"an unknown format", func() error { return NetworkHashrate(io.Discard, Format("gif"), plainMeta, w.network) }, `unknown chart format "gif"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.draw()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := ParseFormat("jpeg"); err == nil {
		t.Error("ParseFormat accepted jpeg")
	}
	for _, f := range []string{"png", "svg"} {
		if got, err := ParseFormat(f); err != nil || string(got) != f {
			t.Errorf("ParseFormat(%q) = %q, %v", f, got, err)
		}
	}
}

func TestPowerChartFoldsCountriesBeyondTheBarLimitIntoOther(t *testing.T) {
	var series []Series
	for i := range PowerBars + 3 {
		gw := float64(20 - i)
		series = append(series, Series{Name: string(rune('A'+i)) + "Z", Points: []Point{{month(0), Estimate{gw, gw / 2, gw * 2}}}})
	}
	series = append(series, Series{Name: Unallocated, Points: []Point{{month(0), Estimate{0.1, 0.05, 0.2}}}})
	var buf bytes.Buffer
	if err := CountryPower(&buf, SVG, countryMeta, series); err != nil {
		t.Fatal(err)
	}
	texts := svgTexts(t, buf.Bytes())
	for _, want := range []string{"AZ", "JZ", "other (3)", "XX (unallocated)"} {
		if count(texts, want) != 1 {
			t.Errorf("bar label %q appears %d times, want once", want, count(texts, want))
		}
	}
	if count(texts, "KZ") != 0 {
		t.Error("the 11th country has its own bar, want it in other")
	}
}

// TestOpenWindowsAreMarked (issue 16, item 5): a window still open (final = false) is veiled
// and named in the legend of every time-series chart, only when there is one; the power chart
// shows the latest closed window, and titles an open one "partial" when nothing else is there.
func TestOpenWindowsAreMarked(t *testing.T) {
	w := newWorld()
	last := month(worldMonths - 1)
	end := last.AddDate(0, 0, 21).Add(21 * time.Hour)
	open := func(m Meta) Meta { m.Open, m.DataEnd = []time.Time{last}, end; return m }
	const label = "partial window (data to 2025-12-22)"
	draws := map[string]func(io.Writer, Meta) error{
		"network":   func(o io.Writer, m Meta) error { return NetworkHashrate(o, SVG, m, w.network) },
		"countries": func(o io.Writer, m Meta) error { return CountryHashrate(o, SVG, m, w.countries) },
		"pools":     func(o io.Writer, m Meta) error { return PoolHashrate(o, SVG, m, w.pools) },
		"regions":   func(o io.Writer, m Meta) error { return RegionBlockShare(o, SVG, m, w.regions) },
	}
	for name, draw := range draws {
		for _, m := range []Meta{countryMeta, open(countryMeta)} {
			var buf bytes.Buffer
			if err := draw(&buf, m); err != nil {
				t.Fatal(err)
			}
			if got, want := count(svgTexts(t, buf.Bytes()), label), len(m.Open); got != want {
				t.Errorf("%s chart with open windows %v: the legend says %q %d times, want %d", name, m.Open, label, got, want)
			}
		}
	}

	title := func(m Meta, series []Series) string {
		var buf bytes.Buffer
		if err := CountryPower(&buf, SVG, m, series); err != nil {
			t.Fatal(err)
		}
		return svgTexts(t, buf.Bytes())[0]
	}
	if got, want := title(open(countryMeta), w.power), "Power drawn by mining per country (pool-allocation), monthly window 2025-11 — model 1.1.0"; got != want {
		t.Errorf("power chart with December open: %q, want %q", got, want)
	}
	var lastOnly []Series
	for _, s := range w.power {
		lastOnly = append(lastOnly, Series{Name: s.Name, Points: s.Points[worldMonths-1:]})
	}
	if got, want := title(open(countryMeta), lastOnly), "Power drawn by mining per country (pool-allocation), monthly window 2025-12 (partial, data to 2025-12-22) — model 1.1.0"; got != want {
		t.Errorf("power chart of the open month only: %q, want %q", got, want)
	}
}
