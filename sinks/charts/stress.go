package charts

import (
	"fmt"
	"image/color"
	"io"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// StressSeries is one chain-stress region's days (estimate/METHOD.md §8.11): each Point is a
// UTC day, its Value the reference pools' blocks as a fraction of the blocks their baseline
// rate expects (1: a usual day; 1 − the share drop), Lower and Upper its 95 % interval;
// Events are the days found as grid stress (each one of the Points).
type StressSeries struct {
	Series
	Events []time.Time
}

// StressAxisMax is the top of the chain-stress chart's axis, in % of the expected blocks.
const StressAxisMax = 300

// noEventKey is the legend entry of a chart without event days.
const noEventKey = "no event day (q < 0.01)"

// eventColor marks the event days: vermillion, apart from the region lines' blues.
var eventColor = color.NRGBA{0xD5, 0x5E, 0x00, 0xFF}

// ChainStress draws, for each region, the daily rate of its reference pools against their
// baseline (in %, 100 % = a usual day) as a step line with its 95 % interval as a band, a
// dashed line at 100 %, and each event day marked by a vertical line across the plot and a
// dot on the region's line. m.Window is taken as "day". The y axis stops at StressAxisMax.
func ChainStress(w io.Writer, f Format, m Meta, regions []StressSeries) error {
	const chart = "chain stress"
	series := make([]Series, len(regions))
	for i, r := range regions {
		series[i] = r.Series
	}
	if err := checkSeries(chart, series); err != nil {
		return err
	}
	for _, r := range regions {
		for _, e := range r.Events {
			if !slices.ContainsFunc(r.Points, func(p Point) bool { return p.Start.Equal(e) }) {
				return fmt.Errorf("%s chart: region %q: event day %s is not one of its days", chart, r.Name, e.UTC().Format("2006-01-02"))
			}
		}
	}
	m.Window = "day"
	starts := distinctStarts(series)
	spans := windowSpans(m.Window, starts)
	at := map[int64]int{}
	for i, s := range starts {
		at[s.Unix()] = i
	}

	p := newPlot(title("Grid stress read from the chain", m), "day (UTC)", "blocks of the reference pools (% of expected)")
	p.X.Tick.Marker = calendarTicks{maxTicks: 8}
	p.Add(grid())
	legend := newLegend()
	var entries []string
	events := 0
	var marks plotter.XYs
	var lines []float64
	for k, r := range regions {
		c := paletteColor(k)
		present := make([]bool, len(starts))
		val, lo, hi := make([]float64, len(starts)), make([]float64, len(starts)), make([]float64, len(starts))
		for _, pt := range r.Points {
			i := at[pt.Start.Unix()]
			present[i] = true
			val[i], lo[i], hi[i] = 100*pt.Value, 100*pt.Lower, 100*pt.Upper
		}
		iv := &area{spans: spans, present: present, lo: lo, hi: hi, fill: withAlpha(c, 0x38)}
		line := &step{spans: spans, present: present, vals: val, style: draw.LineStyle{Color: darker(c, 0.9), Width: vg.Points(1)}}
		p.Add(iv, line)
		legend.Add(r.Name, iv, line)
		entries = append(entries, r.Name)
		for _, e := range r.Events {
			i := at[e.Unix()]
			mid := (spans[i].start + spans[i].end) / 2
			marks = append(marks, plotter.XY{X: mid, Y: val[i]})
			lines = append(lines, mid)
			events++
		}
	}
	legend.Add(intervalKey, &area{fill: withAlpha(unallocatedColor, 0x38)})
	entries = append(entries, intervalKey)
	base := &hline{y: 100, x0: spans[0].start, x1: spans[len(spans)-1].end, style: draw.LineStyle{Color: color.NRGBA{0x40, 0x40, 0x40, 0xFF}, Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}}
	p.Add(base)
	legend.Add("100 %: the baseline rate", base)
	entries = append(entries, "100 %: the baseline rate")
	if events == 0 {
		legend.Add(noEventKey)
		entries = append(entries, noEventKey)
	} else {
		eventLabel := fmt.Sprintf("event day (q < 0.01): %d", events)
		vl := &vlines{xs: lines, style: draw.LineStyle{Color: withAlpha(eventColor, 0x90), Width: vg.Points(0.8)}}
		dots, err := plotter.NewScatter(marks)
		if err != nil {
			return fmt.Errorf("%s chart: %w", chart, err)
		}
		dots.GlyphStyle = draw.GlyphStyle{Color: eventColor, Radius: vg.Points(3), Shape: draw.CircleGlyph{}}
		p.Add(vl, dots)
		legend.Add(eventLabel, vl, dots)
		entries = append(entries, eventLabel)
	}
	entries = addOpenShade(p, &legend, entries, m, starts, spans)
	p.Y.Min = 0
	// Days of few expected blocks (a young baseline) have wide intervals; the axis stops at
	// StressAxisMax so that the drops stay readable, and the legend says so.
	if p.Y.Max > StressAxisMax {
		p.Y.Max = StressAxisMax
		clipped := fmt.Sprintf("axis cut at %.0f %%", float64(StressAxisMax))
		legend.Add(clipped)
		entries = append(entries, clipped)
	}
	return render(w, f, p, legend, entries)
}

// hline is a plot.Plotter drawing a horizontal line across the plot at y.
type hline struct {
	y, x0, x1 float64
	style     draw.LineStyle
}

// Plot implements plot.Plotter.
func (h *hline) Plot(c draw.Canvas, p *plot.Plot) {
	_, trY := p.Transforms(&c)
	y := trY(h.y)
	c.StrokeLines(h.style, c.ClipLinesY([]vg.Point{{X: c.Min.X, Y: y}, {X: c.Max.X, Y: y}})...)
}

// DataRange implements plot.DataRanger, so that the line is always in view.
func (h *hline) DataRange() (xmin, xmax, ymin, ymax float64) {
	return h.x0, h.x1, h.y, h.y
}

// Thumbnail implements plot.Thumbnailer.
func (h *hline) Thumbnail(c *draw.Canvas) {
	y := c.Center().Y
	c.StrokeLine2(h.style, c.Min.X, y, c.Max.X, y)
}

// vlines is a plot.Plotter drawing a vertical line across the plot at each x.
type vlines struct {
	xs    []float64
	style draw.LineStyle
}

// Plot implements plot.Plotter.
func (v *vlines) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	for _, x := range v.xs {
		X := trX(x)
		c.StrokeLines(v.style, c.ClipLinesX([]vg.Point{{X: X, Y: c.Min.Y}, {X: X, Y: c.Max.Y}})...)
	}
}

// Thumbnail implements plot.Thumbnailer.
func (v *vlines) Thumbnail(c *draw.Canvas) {
	x := c.Center().X
	c.StrokeLine2(v.style, x, c.Min.Y, x, c.Max.Y)
}
