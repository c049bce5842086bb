// Package charts draws hashatlas' estimates as PNG or SVG charts. Its functions are pure:
// typed series in, one image out to an io.Writer, the same bytes for the same input (no
// clock, no randomness, no map order). It knows nothing of ClickHouse or Kafka: callers turn
// report rows into Series.
//
// Every chart has a title that says what it shows, the window kind and the model version;
// axes labelled with their units (the SI prefix of hashrates is chosen from the data); UTC
// calendar dates on the time axis; and a legend beside the plot with one entry per drawn
// series. Estimates are drawn as steps over their windows — a window's estimate holds for the
// whole window — and their 95 % intervals as translucent bands.
//
// Rendering uses gonum.org/v1/plot with its vgsvg and vgimg back ends and the Liberation
// fonts bundled with it, so no system fonts are needed.
package charts

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Format is an image format a chart can be written in.
type Format string

// The formats of the chart functions.
const (
	PNG Format = "png" // 960×540 pixels (10×5.625 in at 96 dpi)
	SVG Format = "svg" // 720×405 pt, text kept as <text> elements
)

// ParseFormat returns the Format named s ("png" or "svg").
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case PNG, SVG:
		return f, nil
	}
	return "", fmt.Errorf("unknown chart format %q: want png or svg", s)
}

// Size of every chart.
const (
	Width  = 10 * vg.Inch
	Height = 5.625 * vg.Inch
	// DPI is the resolution of PNG charts: Width×Height become 960×540 pixels.
	DPI = 96
)

// ErrNoData is returned when there is nothing to draw.
var ErrNoData = errors.New("no estimates to draw")

// Meta says what produced the estimates of a chart; it goes into the title.
type Meta struct {
	// Window is the window kind of the estimates: day, week, month, year or lastn.
	Window string
	// ModelVersion is the version of the model that produced them, e.g. "1.1.0".
	ModelVersion string
	// Method is the estimation method, e.g. "pool-allocation"; empty: not shown.
	Method string
	// Open are the starts of the windows still open (final = false: the data end inside
	// them, and their estimates will change). Time-series charts shade them and say so in
	// the legend; the power chart shows the latest window that is not open.
	Open []time.Time
	// DataEnd is when the data end (the time of the last block), shown with the open windows;
	// zero: not known.
	DataEnd time.Time
}

// isOpen reports whether the window starting at t is one of m.Open.
func (m Meta) isOpen(t time.Time) bool {
	for _, o := range m.Open {
		if o.Equal(t) {
			return true
		}
	}
	return false
}

// openLabel is the legend entry of the shaded open windows.
func (m Meta) openLabel() string {
	if m.DataEnd.IsZero() {
		return "partial window (still open)"
	}
	return "partial window (data to " + m.DataEnd.UTC().Format("2006-01-02") + ")"
}

// Estimate is a point estimate with the bounds of its interval (95 % unless a chart says
// otherwise), all in the unit the chart function documents.
type Estimate struct {
	Value, Lower, Upper float64
}

// Point is the estimate of one window, keyed by the window's start.
type Point struct {
	Start time.Time
	Estimate
}

// Series is the estimates of one entity (a country, pool or region), one Point per window,
// in any order. The chart functions do not modify or keep it.
type Series struct {
	Name   string
	Points []Point
}

// windowAdjective describes a window kind for a title ("monthly windows").
func windowAdjective(kind string) string {
	switch kind {
	case "day":
		return "daily"
	case "week":
		return "weekly"
	case "month":
		return "monthly"
	case "year":
		return "yearly"
	case "lastn":
		return "last-N-blocks"
	}
	return kind
}

// title builds "What (method), monthly windows — model 1.1.0".
func title(what string, m Meta) string {
	var b strings.Builder
	b.WriteString(what)
	if m.Method != "" {
		b.WriteString(" (" + m.Method + ")")
	}
	b.WriteString(", " + windowAdjective(m.Window) + " windows")
	if m.ModelVersion != "" {
		b.WriteString(" — model " + m.ModelVersion)
	}
	return b.String()
}

// checkSeries rejects input that cannot be drawn honestly: no series, a series without a
// name, a window twice in one series, non-finite numbers, or negative values where the
// quantity cannot be negative.
func checkSeries(chart string, series []Series) error {
	if len(series) == 0 {
		return fmt.Errorf("%s chart: %w", chart, ErrNoData)
	}
	names := map[string]bool{}
	points := 0
	for _, s := range series {
		if s.Name == "" {
			return fmt.Errorf("%s chart: a series has no name", chart)
		}
		if names[s.Name] {
			return fmt.Errorf("%s chart: series %q given twice", chart, s.Name)
		}
		names[s.Name] = true
		if err := checkPoints(chart, s.Name, s.Points); err != nil {
			return err
		}
		points += len(s.Points)
	}
	if points == 0 {
		return fmt.Errorf("%s chart: %w", chart, ErrNoData)
	}
	return nil
}

func checkPoints(chart, name string, pts []Point) error {
	seen := map[int64]bool{}
	for _, p := range pts {
		at := p.Start.UTC().Format(time.RFC3339)
		if seen[p.Start.Unix()] {
			return fmt.Errorf("%s chart: series %q has window %s twice", chart, name, at)
		}
		seen[p.Start.Unix()] = true
		for _, v := range []struct {
			field string
			x     float64
		}{{"value", p.Value}, {"lower", p.Lower}, {"upper", p.Upper}} {
			if math.IsNaN(v.x) || math.IsInf(v.x, 0) {
				return fmt.Errorf("%s chart: series %q, window %s: %s %v is not a finite number", chart, name, at, v.field, v.x)
			}
			if v.x < 0 {
				return fmt.Errorf("%s chart: series %q, window %s: %s %v is negative", chart, name, at, v.field, v.x)
			}
		}
	}
	return nil
}

// sortedPoints returns a copy of pts ordered by window start.
func sortedPoints(pts []Point) []Point {
	out := slices.Clone(pts)
	slices.SortStableFunc(out, func(a, b Point) int { return a.Start.Compare(b.Start) })
	return out
}

// Fonts: the sans-serif Liberation face bundled with gonum/plot.
var sansSerif = font.Font{Typeface: "Liberation", Variant: "Sans"}

// newPlot returns a plot with the house style: sans-serif text, a bold-size title, labelled
// axes, white background.
func newPlot(titleText, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = titleText
	p.Title.TextStyle.Font = font.From(sansSerif, 13)
	p.Title.Padding = vg.Points(8)
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sansSerif, 11)
		a.Tick.Label.Font = font.From(sansSerif, 9)
	}
	p.Y.Tick.Marker = valueTicks{maxTicks: 8}
	return p
}

// newLegend returns an empty legend in the house style, drawn to the right of the plot.
func newLegend() plot.Legend {
	l := plot.NewLegend()
	l.TextStyle.Font = font.From(sansSerif, 10)
	l.Top, l.Left = true, true
	l.ThumbnailWidth = vg.Points(18)
	l.Padding = vg.Points(2)
	return l
}

// render draws p with the legend in a column to its right, and writes the image.
func render(w io.Writer, f Format, p *plot.Plot, legend plot.Legend, entries []string) error {
	var c vg.CanvasWriterTo
	switch f {
	case SVG:
		c = vgsvg.NewWith(vgsvg.UseWH(Width, Height))
	case PNG:
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(Width, Height), vgimg.UseDPI(DPI))}
	default:
		return fmt.Errorf("unknown chart format %q: want png or svg", f)
	}
	dc := draw.New(c)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())

	var widest vg.Length
	for _, e := range entries {
		widest = max(widest, legend.TextStyle.Width(e))
	}
	gap := vg.Points(12)
	legendWidth := legend.ThumbnailWidth + legend.TextStyle.Width(" ") + widest + gap
	legendWidth = min(legendWidth, Width/2)
	if p.Y.Max > p.Y.Min { // headroom, so that the highest band or whisker does not touch the frame
		p.Y.Max += 0.04 * (p.Y.Max - p.Y.Min)
	}
	p.Draw(draw.Crop(dc, 0, -legendWidth, 0, 0))
	top := p.Title.TextStyle.Rectangle(p.Title.Text).Size().Y + p.Title.Padding + vg.Points(6)
	legend.Draw(draw.Crop(dc, Width-legendWidth+gap/2, 0, 0, -top))

	if _, err := c.WriteTo(w); err != nil {
		return fmt.Errorf("write %s chart: %w", f, err)
	}
	return nil
}

// palette is the Okabe–Ito colour-blind-safe palette (Okabe & Ito, "Color Universal
// Design", https://jfly.uni-koeln.de/color/), without its black, in an order that keeps
// neighbouring bands apart.
var palette = []color.NRGBA{
	{0x00, 0x72, 0xB2, 0xFF}, // blue
	{0xE6, 0x9F, 0x00, 0xFF}, // orange
	{0x00, 0x9E, 0x73, 0xFF}, // bluish green
	{0xCC, 0x79, 0xA7, 0xFF}, // reddish purple
	{0x56, 0xB4, 0xE9, 0xFF}, // sky blue
	{0xD5, 0x5E, 0x00, 0xFF}, // vermillion
	{0xF0, 0xE4, 0x42, 0xFF}, // yellow
}

var (
	otherColor       = color.NRGBA{0xC8, 0xC8, 0xC8, 0xFF} // the sum of the smaller entities
	unallocatedColor = color.NRGBA{0x80, 0x80, 0x80, 0xFF} // XX / unknown: never hidden
)

// paletteColor is the i-th colour of the palette, cycling.
func paletteColor(i int) color.NRGBA { return palette[i%len(palette)] }

// withAlpha returns c with opacity a (0–255).
func withAlpha(c color.NRGBA, a uint8) color.NRGBA { c.A = a; return c }

// darker returns c with its channels scaled by f (0–1).
func darker(c color.NRGBA, f float64) color.NRGBA {
	return color.NRGBA{uint8(float64(c.R) * f), uint8(float64(c.G) * f), uint8(float64(c.B) * f), c.A}
}
