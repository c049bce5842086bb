package charts

import (
	"bytes"
	"image/png"
	"io"
	"strings"
	"testing"
	"time"
)

// stressDays are 60 days of a region whose reference pools find their usual rate, but for a
// day at a quarter of it (the event), and the last day still open.
func stressDays() (Meta, []StressSeries) {
	start := time.Date(2022, 11, 1, 0, 0, 0, 0, time.UTC)
	event := start.AddDate(0, 0, 53)
	s := StressSeries{Series: Series{Name: "north-america"}, Events: []time.Time{event}}
	for i := range 60 {
		d := start.AddDate(0, 0, i)
		v := 0.9 + 0.2*float64(i%5)/4
		if d.Equal(event) {
			v = 0.25
		}
		s.Points = append(s.Points, Point{Start: d, Estimate: Estimate{Value: v, Lower: v * 0.6, Upper: v * 1.5}})
	}
	last := start.AddDate(0, 0, 59)
	return Meta{ModelVersion: "1.1.0", Open: []time.Time{last}, DataEnd: last.Add(20 * time.Hour)}, []StressSeries{s}
}

// TestChainStressChartMarksTheEventDays (issue 14, item 3): the daily reference-pool rate
// per region, with the model version in the title, the event days marked and counted in the
// legend, the baseline line, and the open day marked as the other charts do; an event that
// is not one of the region's days is refused.
func TestChainStressChartMarksTheEventDays(t *testing.T) {
	m, regions := stressDays()
	var svg bytes.Buffer
	if err := ChainStress(&svg, SVG, m, regions); err != nil {
		t.Fatal(err)
	}
	texts := svgTexts(t, svg.Bytes())
	for _, want := range []string{
		"Grid stress read from the chain, daily windows — model 1.1.0",
		"day (UTC)", "blocks of the reference pools (% of expected)",
		"north-america", intervalKey, "100 %: the baseline rate", "event day (q < 0.01): 1",
		"partial window (data to 2022-12-30)",
	} {
		if count(texts, want) != 1 {
			t.Errorf("the SVG has %q %d times, want once (texts: %q)", want, count(texts, want), texts)
		}
	}
	// The event is drawn: a vermillion dot and line in the PNG; none without events.
	var img bytes.Buffer
	if err := ChainStress(&img, PNG, m, regions); err != nil {
		t.Fatal(err)
	}
	decoded, err := png.Decode(&img)
	if err != nil {
		t.Fatal(err)
	}
	if n := countNear(decoded, eventColor); n < 20 {
		t.Errorf("%d pixels of the event colour, want the event marked", n)
	}
	quiet := []StressSeries{{Series: regions[0].Series}}
	img.Reset()
	if err := ChainStress(&img, PNG, Meta{ModelVersion: "1.1.0"}, quiet); err != nil {
		t.Fatal(err)
	}
	if decoded, err = png.Decode(&img); err != nil {
		t.Fatal(err)
	}
	if n := countNear(decoded, eventColor); n > 0 {
		t.Errorf("%d pixels of the event colour without any event", n)
	}
	var quietSVG bytes.Buffer
	if err := ChainStress(&quietSVG, SVG, Meta{ModelVersion: "1.1.0"}, quiet); err != nil || count(svgTexts(t, quietSVG.Bytes()), noEventKey) != 1 {
		t.Errorf("a chart without events does not say so (err %v)", err)
	}
	// Same input, same bytes.
	var again bytes.Buffer
	if err := ChainStress(&again, SVG, m, regions); err != nil || !bytes.Equal(again.Bytes(), svg.Bytes()) {
		t.Errorf("a second drawing differs (err %v)", err)
	}
	bad := []StressSeries{{Series: regions[0].Series, Events: []time.Time{time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}}}
	if err := ChainStress(io.Discard, SVG, m, bad); err == nil || !strings.Contains(err.Error(), "event day 2030-01-01 is not one of its days") {
		t.Errorf("an event outside the days: %v", err)
	}
	if err := ChainStress(io.Discard, SVG, m, nil); err == nil {
		t.Error("no regions drawn without an error")
	}
}

// TestBacktestChartNamesSourcesAndMisses: the backtest chart is titled with the model version,
// lists each source with its number of points, labels a miss with its country, and refuses an
// empty set of points.
func TestBacktestChartNamesSourcesAndMisses(t *testing.T) {
	pts := []ScoredPoint{
		{Source: "map-a", Country: "US", Reference: 0.38, Value: 0.35, Lower: 0.24, Upper: 0.47, Inside: true},
		{Source: "map-a", Country: "CN", Reference: 0.21, Value: 0.09, Lower: 0.03, Upper: 0.17},
		{Source: "model-b", Country: "RU", Reference: 0.004, Value: 0.003, Lower: 0, Upper: 0.02, Inside: true},
	}
	var svg bytes.Buffer
	if err := Backtest(&svg, SVG, Meta{ModelVersion: "2.0.0"}, pts); err != nil {
		t.Fatal(err)
	}
	texts := svgTexts(t, svg.Bytes())
	for _, want := range []string{"Published country shares against the model's, leave-one-source-out — model 2.0.0", "map-a (2)", "model-b (1)", "CN", "US", "ring: outside it"} {
		if count(texts, want) != 1 {
			t.Errorf("chart text %q appears %d times, want once", want, count(texts, want))
		}
	}
	if count(texts, "RU") != 0 {
		t.Error("a small share inside its interval is labelled: the crowd near 0 should stay unlabelled")
	}
	if err := Backtest(&svg, SVG, Meta{ModelVersion: "2.0.0"}, nil); err == nil {
		t.Error("no error for a chart without points")
	}
}
