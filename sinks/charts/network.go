package charts

import (
	"io"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// networkColor is the colour of the network hashrate line and its band.
var networkColor = palette[0]

// NetworkHashrate draws the network hashrate (H/s) of each window as a step line with its
// 95 % interval as a shaded band; the unit (EH/s, …) is chosen from the data.
func NetworkHashrate(w io.Writer, f Format, m Meta, network []Point) error {
	const chart = "network hashrate"
	if err := checkSeries(chart, []Series{{Name: "network", Points: network}}); err != nil {
		return err
	}
	pts := sortedPoints(network)
	starts := distinctStarts([]Series{{Points: pts}})
	spans := windowSpans(m.Window, starts)
	peak := 0.0
	for _, p := range pts {
		peak = max(peak, p.Upper, p.Value)
	}
	scale, unit := hashUnit(peak)
	val, lo, hi := make([]float64, len(pts)), make([]float64, len(pts)), make([]float64, len(pts))
	for i, p := range pts {
		val[i], lo[i], hi[i] = p.Value/scale, p.Lower/scale, p.Upper/scale
	}

	p := newPlot(title("Network hashrate", m), "window start (UTC)", "hashrate ("+unit+")")
	p.X.Tick.Marker = calendarTicks{maxTicks: 8}
	band := &area{spans: spans, lo: lo, hi: hi, fill: withAlpha(networkColor, 0x50)}
	line := &step{spans: spans, vals: val, style: draw.LineStyle{Color: darker(networkColor, 0.8), Width: vg.Points(1.5)}}
	p.Add(grid(), band, line)
	p.Y.Min = 0
	legend := newLegend()
	entries := []string{"network hashrate", "95 % interval"}
	legend.Add(entries[0], line)
	legend.Add(entries[1], band)
	entries = addOpenShade(p, &legend, entries, m, starts, spans)
	return render(w, f, p, legend, entries)
}
