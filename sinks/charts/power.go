package charts

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// PowerBars is how many of the largest countries get a bar of their own in CountryPower;
// the rest are summed into "other".
const PowerBars = 10

// CountryPower draws the electric power drawn by mining in each country (GW) in the latest
// window of the series that is not open (Meta.Open) — the latest one, titled "partial", when
// every window is open: a bar at the best estimate with a whisker from the low to the high
// scenario (estimate/METHOD.md §7.3: Estimate.Value is best, Lower is low, Upper is high). The
// PowerBars largest countries by best estimate get a bar each, the rest are summed into "other"
// (scenario bounds add: every country's low uses the same fleet and PUE), and XX
// (unallocated) always gets its own bar, last.
func CountryPower(w io.Writer, f Format, m Meta, countries []Series) error {
	const chart = "country power"
	if err := checkSeries(chart, countries); err != nil {
		return err
	}
	var latest, latestClosed time.Time
	for _, s := range countries {
		for _, p := range s.Points {
			if p.Start.After(latest) {
				latest = p.Start
			}
			if !m.isOpen(p.Start) && p.Start.After(latestClosed) {
				latestClosed = p.Start
			}
		}
	}
	partial := latestClosed.IsZero()
	if !partial {
		latest = latestClosed
	}
	type bar struct {
		name string
		Estimate
	}
	var ranked []bar
	var pinned *bar
	for _, s := range countries {
		for _, p := range s.Points {
			if !p.Start.Equal(latest) {
				continue
			}
			b := bar{s.Name, p.Estimate}
			if s.Name == Unallocated {
				b.name = Unallocated + " (unallocated)"
				pinned = &b
				continue
			}
			ranked = append(ranked, b)
		}
	}
	slices.SortStableFunc(ranked, func(a, b bar) int {
		switch {
		case a.Value > b.Value:
			return -1
		case a.Value < b.Value:
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	top := PowerBars
	if len(ranked) == top+1 {
		top++
	}
	bars := ranked[:min(top, len(ranked))]
	if rest := ranked[len(bars):]; len(rest) > 0 {
		o := bar{name: fmt.Sprintf("other (%d)", len(rest))}
		for _, b := range rest {
			o.Value += b.Value
			o.Lower += b.Lower
			o.Upper += b.Upper
		}
		bars = append(bars, o)
	}
	if pinned != nil {
		bars = append(bars, *pinned)
	}

	p := newPlot(powerTitle(m, latest, partial), "country", "power (GW)")
	p.Add(grid())
	// Bars take about 60 % of their slot in a plot area some 540 pt wide, at most 1 inch.
	width := min(vg.Points(72), vg.Points(0.6*540/float64(len(bars))))
	names := make([]string, len(bars))
	errs := struct {
		plotter.XYs
		plotter.YErrors
	}{make(plotter.XYs, len(bars)), make(plotter.YErrors, len(bars))}
	var best *plotter.BarChart
	for i, b := range bars {
		names[i] = b.name
		bc, err := plotter.NewBarChart(plotter.Values{b.Value}, width)
		if err != nil {
			return fmt.Errorf("%s chart: bar %s: %w", chart, b.name, err)
		}
		bc.XMin = float64(i)
		bc.Color = palette[0]
		switch {
		case strings.HasPrefix(b.name, Unallocated+" "):
			bc.Color = unallocatedColor
		case strings.HasPrefix(b.name, "other ("):
			bc.Color = otherColor
		default:
			best = bc
		}
		bc.LineStyle.Width = 0
		p.Add(bc)
		errs.XYs[i] = plotter.XY{X: float64(i), Y: b.Value}
		errs.YErrors[i].Low, errs.YErrors[i].High = max(0, b.Value-b.Lower), max(0, b.Upper-b.Value)
	}
	whiskers, err := plotter.NewYErrorBars(errs)
	if err != nil {
		return fmt.Errorf("%s chart: whiskers: %w", chart, err)
	}
	whiskers.LineStyle = draw.LineStyle{Color: darker(palette[0], 0.4), Width: vg.Points(1)}
	whiskers.CapWidth = width / 2
	p.Add(whiskers)
	p.NominalX(names...)
	p.Y.Min = 0

	legend := newLegend()
	entries := []string{"best estimate", "low–high scenario"}
	if best == nil { // only XX or other: show the legend in the colour actually drawn
		best, _ = plotter.NewBarChart(plotter.Values{0}, width)
		best.Color = otherColor
	}
	legend.Add(entries[0], best)
	legend.Add(entries[1], &step{style: whiskers.LineStyle})
	return render(w, f, p, legend, entries)
}

// powerTitle names the single window the power chart shows: "…, monthly window 2025-06",
// with "(partial, data to 2025-06-12)" when it is still open.
func powerTitle(m Meta, start time.Time, partial bool) string {
	layout := "2006-01-02"
	switch m.Window {
	case "month":
		layout = "2006-01"
	case "year":
		layout = "2006"
	case "lastn":
		layout = "2006-01-02 15:04 UTC"
	}
	what := "Power drawn by mining per country"
	if m.Method != "" {
		what += " (" + m.Method + ")"
	}
	t := what + ", " + windowAdjective(m.Window) + " window " + start.UTC().Format(layout)
	if partial {
		t += " (partial"
		if !m.DataEnd.IsZero() {
			t += ", data to " + m.DataEnd.UTC().Format("2006-01-02")
		}
		t += ")"
	}
	if m.ModelVersion != "" {
		t += " — model " + m.ModelVersion
	}
	return t
}
