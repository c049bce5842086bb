package charts

import (
	"fmt"
	"io"
	"slices"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// UnknownRegion is the region of blocks whose pool has no HQ row.
const UnknownRegion = "unknown"

// intervalKey is the legend entry that explains the shaded bands of a line chart.
const intervalKey = "shaded: 95 % interval"

// RegionBlockShare draws, for each region, the share of blocks found by the pools run from
// it (fractions 0–1, drawn in %) as a step line over the windows with its 95 % interval as
// a translucent band. Regions are ordered by their mean share, largest first; "unknown" is
// drawn in grey. Every region gets a line: there are few of them.
func RegionBlockShare(w io.Writer, f Format, m Meta, regions []Series) error {
	const chart = "region block share"
	if err := checkSeries(chart, regions); err != nil {
		return err
	}
	for _, s := range regions {
		for _, p := range s.Points {
			if p.Value > 1 || p.Lower > 1 || p.Upper > 1 {
				return fmt.Errorf("%s chart: series %q, window %s: a share above 1 (want fractions 0-1)", chart, s.Name, p.Start.UTC().Format("2006-01-02"))
			}
		}
	}
	starts := distinctStarts(regions)
	spans := windowSpans(m.Window, starts)
	bands := stackBands(regions, starts, "", "", "", len(regions))
	// stackBands ranks by summed share; a region absent from some windows sums less, which
	// is what "largest" should mean here too.
	slices.SortStableFunc(bands, func(a, b band) int {
		if (a.name == UnknownRegion) != (b.name == UnknownRegion) {
			if a.name == UnknownRegion {
				return 1
			}
			return -1
		}
		return 0
	})

	p := newPlot(title("Block share by pool HQ region", m), "window start (UTC)", "share of blocks (%)")
	p.X.Tick.Marker = calendarTicks{maxTicks: 8}
	p.Add(grid())
	legend := newLegend()
	var entries []string
	colour := 0
	for _, b := range bands {
		c := unallocatedColor
		if b.name != UnknownRegion {
			c = paletteColor(colour)
			colour++
		}
		pct := func(v []float64) []float64 {
			out := make([]float64, len(v))
			for i := range v {
				out[i] = 100 * v[i]
			}
			return out
		}
		iv := &area{spans: spans, present: b.present, lo: pct(b.lower), hi: pct(b.upper), fill: withAlpha(c, 0x38)}
		line := &step{spans: spans, present: b.present, vals: pct(b.vals), style: draw.LineStyle{Color: darker(c, 0.9), Width: vg.Points(1.5)}}
		p.Add(iv, line)
		legend.Add(b.name, iv, line)
		entries = append(entries, b.name)
	}
	legend.Add(intervalKey, &area{fill: withAlpha(unallocatedColor, 0x38)})
	entries = append(entries, intervalKey)
	entries = addOpenShade(p, &legend, entries, m, starts, spans)
	p.Y.Min = 0
	return render(w, f, p, legend, entries)
}
