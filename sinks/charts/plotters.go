package charts

import (
	"image/color"
	"math"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// area is a plot.Plotter that fills the region between a lower and an upper step edge: over
// each window's span the edges are flat at that window's lo and hi. Windows that are absent
// (present[i] false) or not contiguous with the previous one start a new piece. Edge lines
// along the top and bottom are stroked when edge.Width > 0.
type area struct {
	spans   []span
	lo, hi  []float64
	present []bool // nil: every window is present
	fill    color.Color
	edge    draw.LineStyle
}

// step is a plot.Plotter that draws a step line: flat at vals[i] over window i's span.
type step struct {
	spans   []span
	vals    []float64
	present []bool
	style   draw.LineStyle
}

// pieces returns the index ranges [from, to) of contiguous present windows.
func pieces(spans []span, present []bool) [][2]int {
	var out [][2]int
	for _, r := range runs(spans) {
		from := -1
		for i := r[0]; i <= r[1]; i++ {
			in := i < r[1] && (present == nil || present[i])
			switch {
			case in && from < 0:
				from = i
			case !in && from >= 0:
				out = append(out, [2]int{from, i})
				from = -1
			}
		}
	}
	return out
}

// edgePath returns the step edge of vals over windows [from, to), left to right.
func edgePath(trX, trY func(float64) vg.Length, spans []span, vals []float64, from, to int) []vg.Point {
	pts := make([]vg.Point, 0, 2*(to-from))
	for i := from; i < to; i++ {
		y := trY(vals[i])
		pts = append(pts, vg.Point{X: trX(spans[i].start), Y: y}, vg.Point{X: trX(spans[i].end), Y: y})
	}
	return pts
}

// Plot implements plot.Plotter.
func (a *area) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for _, pc := range pieces(a.spans, a.present) {
		top := edgePath(trX, trY, a.spans, a.hi, pc[0], pc[1])
		bottom := edgePath(trX, trY, a.spans, a.lo, pc[0], pc[1])
		if a.fill != nil {
			ring := make([]vg.Point, 0, len(top)+len(bottom))
			ring = append(ring, top...)
			for i := len(bottom) - 1; i >= 0; i-- {
				ring = append(ring, bottom[i])
			}
			c.FillPolygon(a.fill, c.ClipPolygonXY(ring))
		}
		if a.edge.Width > 0 {
			c.StrokeLines(a.edge, c.ClipLinesXY(top)...)
			c.StrokeLines(a.edge, c.ClipLinesXY(bottom)...)
		}
	}
}

// DataRange implements plot.DataRanger.
func (a *area) DataRange() (xmin, xmax, ymin, ymax float64) {
	return dataRange(a.spans, a.present, a.lo, a.hi)
}

// Thumbnail implements plot.Thumbnailer: the fill, with its edges when it has them.
func (a *area) Thumbnail(c *draw.Canvas) {
	r := []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Min.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Min.Y}}
	if a.fill != nil {
		c.FillPolygon(a.fill, c.ClipPolygonY(r))
	}
	if a.edge.Width > 0 {
		c.StrokeLine2(a.edge, c.Min.X, c.Min.Y, c.Max.X, c.Min.Y)
		c.StrokeLine2(a.edge, c.Min.X, c.Max.Y, c.Max.X, c.Max.Y)
	}
}

// Plot implements plot.Plotter.
func (s *step) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for _, pc := range pieces(s.spans, s.present) {
		c.StrokeLines(s.style, c.ClipLinesXY(edgePath(trX, trY, s.spans, s.vals, pc[0], pc[1]))...)
	}
}

// DataRange implements plot.DataRanger.
func (s *step) DataRange() (xmin, xmax, ymin, ymax float64) {
	return dataRange(s.spans, s.present, s.vals, s.vals)
}

// Thumbnail implements plot.Thumbnailer: a horizontal line.
func (s *step) Thumbnail(c *draw.Canvas) {
	y := c.Center().Y
	c.StrokeLine2(s.style, c.Min.X, y, c.Max.X, y)
}

func dataRange(spans []span, present []bool, lo, hi []float64) (xmin, xmax, ymin, ymax float64) {
	xmin, ymin = math.Inf(1), math.Inf(1)
	xmax, ymax = math.Inf(-1), math.Inf(-1)
	for i, s := range spans {
		if present != nil && !present[i] {
			continue
		}
		xmin, xmax = math.Min(xmin, s.start), math.Max(xmax, s.end)
		ymin, ymax = math.Min(ymin, lo[i]), math.Max(ymax, hi[i])
	}
	return xmin, xmax, ymin, ymax
}

// openShade is a plot.Plotter that marks open windows (estimates that will change): each
// is veiled in translucent white over the whole height of the plot, with a dashed line where
// it begins. It has no data range of its own.
type openShade struct {
	spans []span
	open  []bool
}

var (
	openVeil = color.NRGBA{0xFF, 0xFF, 0xFF, 0xA0}
	openEdge = draw.LineStyle{Color: color.NRGBA{0x40, 0x40, 0x40, 0xFF}, Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(3), vg.Points(2)}}
)

// Plot implements plot.Plotter.
func (o *openShade) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	for i, s := range o.spans {
		if !o.open[i] {
			continue
		}
		x0, x1 := trX(s.start), trX(s.end)
		r := []vg.Point{{X: x0, Y: c.Min.Y}, {X: x0, Y: c.Max.Y}, {X: x1, Y: c.Max.Y}, {X: x1, Y: c.Min.Y}}
		c.FillPolygon(openVeil, c.ClipPolygonX(r))
		if i == 0 || !o.open[i-1] {
			c.StrokeLines(openEdge, c.ClipLinesX([]vg.Point{{X: x0, Y: c.Min.Y}, {X: x0, Y: c.Max.Y}})...)
		}
	}
}

// Thumbnail implements plot.Thumbnailer: a veiled box with the dashed edge.
func (o *openShade) Thumbnail(c *draw.Canvas) {
	r := []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Min.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Min.Y}}
	c.FillPolygon(color.NRGBA{0xE8, 0xE8, 0xE8, 0xFF}, r)
	c.StrokeLine2(openEdge, c.Min.X, c.Min.Y, c.Min.X, c.Max.Y)
}

// addOpenShade veils the open windows of m among starts (with their spans) and adds its
// legend entry; it does nothing when no window drawn is open.
func addOpenShade(p *plot.Plot, legend *plot.Legend, entries []string, m Meta, starts []time.Time, spans []span) []string {
	open := make([]bool, len(starts))
	some := false
	for i, t := range starts {
		open[i] = m.isOpen(t)
		some = some || open[i]
	}
	if !some {
		return entries
	}
	shade := &openShade{spans: spans, open: open}
	p.Add(shade)
	legend.Add(m.openLabel(), shade)
	return append(entries, m.openLabel())
}
