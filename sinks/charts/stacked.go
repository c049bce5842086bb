package charts

import (
	"fmt"
	"image/color"
	"io"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Entities that are never folded into "other".
const (
	// Unallocated is the country of hashrate no allocation row places (estimate/METHOD.md §6.4).
	Unallocated = "XX"
	// UnknownPool is the pool of blocks no registry entry attributes.
	UnknownPool = "unknown"
)

// Limits of the stacked charts.
const (
	// StackedBands is how many of the largest entities get a band of their own; the rest are
	// summed into one "other" band.
	StackedBands = 6
	// IntervalBands is how many of the largest entities have their interval drawn.
	IntervalBands = 3
)

// band is one layer of a stacked chart.
type band struct {
	name    string // legend label
	color   color.NRGBA
	vals    []float64 // thickness at each window (H/s); 0 where absent
	present []bool    // whether the entity has an estimate in each window
	lower   []float64 // interval bounds of the entity itself (nil for "other")
	upper   []float64
	ranked  bool // one of the largest entities (the interval candidates)
}

// stackBands lays series out over the windows starts: the `top` largest entities (by the
// sum of their estimates over all windows, ties by name) each get a band, largest at the
// bottom; the rest are summed into one "other (N nouns)" band; the pinned entity, when
// present, is never folded and is stacked last, labelled pinnedLabel. A lone leftover
// entity keeps its own band rather than becoming "other (1 …)".
func stackBands(series []Series, starts []time.Time, pinned, pinnedLabel, noun string, top int) []band {
	index := map[int64]int{}
	for i, t := range starts {
		index[t.Unix()] = i
	}
	toBand := func(s Series) band {
		b := band{name: s.Name, vals: make([]float64, len(starts)), present: make([]bool, len(starts)),
			lower: make([]float64, len(starts)), upper: make([]float64, len(starts))}
		for _, p := range s.Points {
			i := index[p.Start.Unix()]
			b.vals[i], b.lower[i], b.upper[i], b.present[i] = p.Value, p.Lower, p.Upper, true
		}
		return b
	}
	total := func(s Series) float64 {
		var t float64
		for _, p := range s.Points {
			t += p.Value
		}
		return t
	}
	var ranked []Series
	var pin *Series
	for i := range series {
		if series[i].Name == pinned {
			pin = &series[i]
			continue
		}
		ranked = append(ranked, series[i])
	}
	slices.SortStableFunc(ranked, func(a, b Series) int {
		ta, tb := total(a), total(b)
		switch {
		case ta > tb:
			return -1
		case ta < tb:
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	if len(ranked) == top+1 {
		top++
	}
	var out []band
	for i, s := range ranked {
		if i >= top {
			break
		}
		b := toBand(s)
		b.color, b.ranked = paletteColor(i), true
		out = append(out, b)
	}
	if rest := ranked[min(top, len(ranked)):]; len(rest) > 0 {
		other := band{name: fmt.Sprintf("other (%d %s)", len(rest), noun), color: otherColor,
			vals: make([]float64, len(starts)), present: make([]bool, len(starts))}
		for _, s := range rest {
			b := toBand(s)
			for i := range starts {
				other.vals[i] += b.vals[i]
				other.present[i] = other.present[i] || b.present[i]
			}
		}
		out = append(out, other)
	}
	if pin != nil {
		b := toBand(*pin)
		b.name, b.color = pinnedLabel, unallocatedColor
		out = append(out, b)
	}
	return out
}

// CountryHashrate draws the hashrate located in each country (H/s) over time as stacked
// areas: the StackedBands largest countries each in a band (largest at the bottom), the
// others summed into "other", and XX (unallocated) always its own band on top. Over the
// stack it draws the 95 % interval of the IntervalBands largest countries: the band that
// country's upper edge would span if its hashrate were at its lower or upper bound, all
// else equal. Series names are ISO country codes.
func CountryHashrate(w io.Writer, f Format, m Meta, countries []Series) error {
	return stackedHashrate(w, f, m, countries, stackedText{
		chart: "country hashrate", title: "Country hashrate",
		pinned: Unallocated, pinnedLabel: Unallocated + " (unallocated)", noun: "countries",
	})
}

// PoolHashrate draws the block-based hashrate of each mining pool (H/s) over time like
// CountryHashrate: the largest pools in bands, the rest as "other", "unknown" (blocks no
// registry entry attributes) always its own band, and the 95 % intervals of the largest.
func PoolHashrate(w io.Writer, f Format, m Meta, pools []Series) error {
	return stackedHashrate(w, f, m, pools, stackedText{
		chart: "pool hashrate", title: "Pool hashrate (from blocks found)",
		pinned: UnknownPool, pinnedLabel: UnknownPool + " (unattributed)", noun: "pools",
	})
}

type stackedText struct {
	chart, title        string
	pinned, pinnedLabel string
	noun                string
}

func stackedHashrate(w io.Writer, f Format, m Meta, series []Series, t stackedText) error {
	if err := checkSeries(t.chart, series); err != nil {
		return err
	}
	starts := distinctStarts(series)
	spans := windowSpans(m.Window, starts)
	bands := stackBands(series, starts, t.pinned, t.pinnedLabel, t.noun, StackedBands)

	base, peak := stackBases(bands, len(starts))
	scale, unit := hashUnit(peak)

	p := newPlot(title(t.title, m), "window start (UTC)", "hashrate ("+unit+")")
	p.X.Tick.Marker = calendarTicks{maxTicks: 8}
	legend := newLegend()
	var entries []string
	scaled := func(v []float64, add []float64) []float64 {
		out := make([]float64, len(v))
		for i := range v {
			out[i] = (v[i] + add[i]) / scale
		}
		return out
	}
	layers := make([]*area, len(bands))
	for k, b := range bands {
		top := make([]float64, len(starts))
		for i := range starts {
			top[i] = base[k][i] + b.vals[i]
		}
		layers[k] = &area{spans: spans, lo: scaled(base[k], zeros(len(starts))), hi: scaled(top, zeros(len(starts))), fill: b.color}
		p.Add(layers[k])
	}
	// Legend from the top of the stack down, as the bands appear.
	for k := len(bands) - 1; k >= 0; k-- {
		legend.Add(bands[k].name, layers[k])
		entries = append(entries, bands[k].name)
	}
	for k, b := range bands {
		if !drawsInterval(b, k) {
			continue
		}
		iv := &area{spans: spans, present: b.present,
			lo: scaled(b.lower, base[k]), hi: scaled(b.upper, base[k]),
			fill: withAlpha(darker(b.color, 0.45), 0x40),
			edge: draw.LineStyle{Color: darker(b.color, 0.45), Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(3), vg.Points(2)}}}
		p.Add(iv)
		name := b.name + " 95 % interval"
		legend.Add(name, iv)
		entries = append(entries, name)
	}
	entries = addOpenShade(p, &legend, entries, m, starts, spans)
	p.Add(grid())
	p.Y.Min = 0
	return render(w, f, p, legend, entries)
}

// stackBases returns, for each band, the height it is stacked on in each of n windows (the
// sum of the bands below it), and the largest value the axis must show: the top of the
// stack or the upper end of a drawn interval, whichever is higher.
func stackBases(bands []band, n int) (base [][]float64, peak float64) {
	base = make([][]float64, len(bands))
	cum := make([]float64, n)
	for k, b := range bands {
		base[k] = slices.Clone(cum)
		for i := range n {
			cum[i] += b.vals[i]
			peak = max(peak, cum[i])
			if drawsInterval(b, k) && b.present[i] {
				peak = max(peak, base[k][i]+b.upper[i])
			}
		}
	}
	return base, peak
}

// drawsInterval reports whether the k-th band from the bottom has its interval drawn: one
// of the IntervalBands largest entities.
func drawsInterval(b band, k int) bool { return b.ranked && k < IntervalBands }

func zeros(n int) []float64 { return make([]float64, n) }

// grid returns light grid lines at the major ticks, translucent so that bands show through
// when it is drawn over them.
func grid() plot.Plotter {
	g := plotter.NewGrid()
	for _, s := range []*draw.LineStyle{&g.Vertical, &g.Horizontal} {
		s.Color = color.NRGBA{0x40, 0x40, 0x40, 0x30}
		s.Width = vg.Points(0.5)
		s.Dashes = nil
	}
	return g
}
