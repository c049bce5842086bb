package charts

import (
	"errors"
	"fmt"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// ScoredPoint is one published share scored against the model (a backtest point): the
// published share, the model's estimate with its 95 % interval (fractions), and whether the
// interval holds the published share.
type ScoredPoint struct {
	Source, Country     string
	Reference           float64
	Value, Lower, Upper float64
	Inside              bool
}

// pctTicks marks an axis in % every 5 points, labelled every 10 (every 20 beyond 100).
type pctTicks struct{}

// Ticks implements plot.Ticker.
func (pctTicks) Ticks(lo, hi float64) []plot.Tick {
	label := 10.0
	if hi-lo > 100 {
		label = 20
	}
	var out []plot.Tick
	for v := math.Ceil(lo/5) * 5; v <= hi; v += 5 {
		t := plot.Tick{Value: v}
		if math.Mod(v, label) == 0 {
			t.Label = fmt.Sprintf("%.0f", v)
		}
		out = append(out, t)
	}
	return out
}

// scoredErrs is the points of one source with the distances to their interval's bounds.
type scoredErrs struct {
	plotter.XYs
	plotter.YErrors
}

// Backtest draws scored points: each published share (x) against the model's estimate (y)
// with its 95 % interval as a bar, one colour per source, a filled dot when the published
// share is inside the interval and a ring when not, the country beside the misses and the
// larger shares, and the diagonal where the two agree.
func Backtest(w io.Writer, f Format, m Meta, points []ScoredPoint) error {
	if len(points) == 0 {
		return errors.New("backtest chart: no scored point to draw (every point was skipped)")
	}
	p := newPlot("Published country shares against the model's, leave-one-source-out — model "+m.ModelVersion,
		"published share (%)", "model's share as of the period's end, 95 % interval (%)")
	p.X.Tick.Marker, p.Y.Tick.Marker = pctTicks{}, pctTicks{}
	p.Add(plotter.NewGrid())
	legend := newLegend()
	var entries []string
	var order []string
	by := map[string][]ScoredPoint{}
	top := 0.0
	for _, pt := range points {
		if by[pt.Source] == nil {
			order = append(order, pt.Source)
		}
		by[pt.Source] = append(by[pt.Source], pt)
		top = math.Max(top, 100*math.Max(pt.Reference, pt.Upper))
	}
	top = math.Max(1, top*1.05)
	diag, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: top, Y: top}})
	if err != nil {
		return err
	}
	diag.LineStyle = draw.LineStyle{Color: darker(otherColor, 0.3), Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
	p.Add(diag)
	legend.Add("estimate = published", diag)
	entries = append(entries, "estimate = published")
	for i, src := range order {
		c := paletteColor(i)
		var in, out plotter.XYs
		errs := scoredErrs{}
		labels := plotter.XYLabels{}
		for _, pt := range by[src] {
			xy := plotter.XY{X: 100 * pt.Reference, Y: 100 * pt.Value}
			errs.XYs = append(errs.XYs, xy)
			errs.YErrors = append(errs.YErrors, struct{ Low, High float64 }{100 * (pt.Value - pt.Lower), 100 * (pt.Upper - pt.Value)})
			if !pt.Inside || math.Max(pt.Reference, pt.Value) >= 0.1 {
				// the misses and the larger shares; the crowd near 0 stays unlabelled
				labels.XYs = append(labels.XYs, xy)
				labels.Labels = append(labels.Labels, pt.Country)
			}
			if pt.Inside {
				in = append(in, xy)
			} else {
				out = append(out, xy)
			}
		}
		bars, err := plotter.NewYErrorBars(errs)
		if err != nil {
			return err
		}
		bars.LineStyle = draw.LineStyle{Color: c, Width: vg.Points(1)}
		bars.CapWidth = vg.Points(5)
		p.Add(bars)
		var glyphs []plot.Thumbnailer
		for _, set := range []struct {
			xys   plotter.XYs
			shape draw.GlyphDrawer
		}{{in, draw.CircleGlyph{}}, {out, draw.RingGlyph{}}} {
			if len(set.xys) == 0 {
				continue
			}
			s, err := plotter.NewScatter(set.xys)
			if err != nil {
				return err
			}
			s.GlyphStyle = draw.GlyphStyle{Color: c, Radius: vg.Points(3), Shape: set.shape}
			p.Add(s)
			glyphs = append(glyphs, s)
		}
		if len(labels.Labels) > 0 {
			lb, err := plotter.NewLabels(labels)
			if err != nil {
				return err
			}
			for i := range lb.TextStyle {
				lb.TextStyle[i].Font = font.From(sansSerif, 8)
				lb.TextStyle[i].Color = darker(otherColor, 0.3)
			}
			lb.Offset = vg.Point{X: vg.Points(4), Y: vg.Points(-3)}
			p.Add(lb)
		}
		name := fmt.Sprintf("%s (%d)", src, len(by[src]))
		legend.Add(name, glyphs...)
		entries = append(entries, name)
	}
	for _, e := range []string{"dot: published share inside the interval", "ring: outside it"} {
		legend.Add(e)
		entries = append(entries, e)
	}
	p.X.Min, p.Y.Min, p.X.Max, p.Y.Max = 0, 0, top, top
	return render(w, f, p, legend, entries)
}
