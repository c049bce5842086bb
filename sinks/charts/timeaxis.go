package charts

import (
	"slices"
	"sort"
	"time"

	"gonum.org/v1/plot"
)

// span is the time a window covers, [start, end), in Unix seconds.
type span struct{ start, end float64 }

// windowSpans returns the span of each window start (sorted, distinct, UTC). Calendar
// windows (day, week, month, year) end where the calendar says; a last-N-blocks window ends
// where the next begins, the last one after the median gap between starts (one day when
// there is only one). A window never reaches past the start of the next one.
func windowSpans(kind string, starts []time.Time) []span {
	out := make([]span, len(starts))
	var gaps []time.Duration
	for i := 1; i < len(starts); i++ {
		gaps = append(gaps, starts[i].Sub(starts[i-1]))
	}
	lastGap := 24 * time.Hour
	if len(gaps) > 0 {
		s := slices.Clone(gaps)
		slices.Sort(s)
		lastGap = s[len(s)/2]
	}
	for i, st := range starts {
		st = st.UTC()
		var end time.Time
		switch kind {
		case "day":
			end = st.AddDate(0, 0, 1)
		case "week":
			end = st.AddDate(0, 0, 7)
		case "month":
			end = st.AddDate(0, 1, 0)
		case "year":
			end = st.AddDate(1, 0, 0)
		default:
			if i+1 < len(starts) {
				end = starts[i+1]
			} else {
				end = st.Add(lastGap)
			}
		}
		if i+1 < len(starts) && end.After(starts[i+1]) {
			end = starts[i+1]
		}
		out[i] = span{float64(st.Unix()), float64(end.Unix())}
	}
	return out
}

// distinctStarts returns the window starts present in any series, sorted.
func distinctStarts(series []Series) []time.Time {
	seen := map[int64]bool{}
	var out []time.Time
	for _, s := range series {
		for _, p := range s.Points {
			if !seen[p.Start.Unix()] {
				seen[p.Start.Unix()] = true
				out = append(out, time.Unix(p.Start.Unix(), 0).UTC())
			}
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// runs splits spans into maximal runs of contiguous windows (each ends where the next
// starts), as index ranges [from, to).
func runs(spans []span) [][2]int {
	var out [][2]int
	from := 0
	for i := 1; i <= len(spans); i++ {
		if i == len(spans) || spans[i].start != spans[i-1].end {
			out = append(out, [2]int{from, i})
			from = i
		}
	}
	return out
}

// calendarTicks marks a time axis (Unix seconds) at UTC calendar boundaries — hours, days,
// Mondays, months, quarters, years — with the coarsest-to-finest step that gives at most
// maxTicks labelled ticks, labelled "2006-01-02 15:04", "2006-01-02", "2006-01" or "2006".
type calendarTicks struct{ maxTicks int }

// tickStep is one candidate spacing of calendar ticks.
type tickStep struct {
	approx time.Duration // nominal length, to count ticks
	format string
	// first returns the first tick at or after t; next the tick after t.
	first func(t time.Time) time.Time
	next  func(t time.Time) time.Time
}

func hourStep(n int) tickStep {
	d := time.Duration(n) * time.Hour
	return tickStep{d, "2006-01-02 15:04",
		func(t time.Time) time.Time { return ceilTo(t, d) },
		func(t time.Time) time.Time { return t.Add(d) }}
}

func dayStep(n int) tickStep {
	return tickStep{time.Duration(n) * 24 * time.Hour, "2006-01-02",
		func(t time.Time) time.Time {
			d := ceilTo(t, 24*time.Hour)
			for (d.Day()-1)%n != 0 {
				d = d.AddDate(0, 0, 1)
			}
			return d
		},
		func(t time.Time) time.Time { return t.AddDate(0, 0, n) }}
}

func weekStep() tickStep {
	return tickStep{7 * 24 * time.Hour, "2006-01-02",
		func(t time.Time) time.Time {
			d := ceilTo(t, 24*time.Hour)
			for d.Weekday() != time.Monday {
				d = d.AddDate(0, 0, 1)
			}
			return d
		},
		func(t time.Time) time.Time { return t.AddDate(0, 0, 7) }}
}

func monthStep(n int) tickStep {
	return tickStep{time.Duration(n) * 30 * 24 * time.Hour, "2006-01",
		func(t time.Time) time.Time {
			m := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
			if m.Before(t) {
				m = m.AddDate(0, 1, 0)
			}
			for (int(m.Month())-1)%n != 0 {
				m = m.AddDate(0, 1, 0)
			}
			return m
		},
		func(t time.Time) time.Time { return t.AddDate(0, n, 0) }}
}

func yearStep(n int) tickStep {
	return tickStep{time.Duration(n) * 365 * 24 * time.Hour, "2006",
		func(t time.Time) time.Time {
			y := time.Date(t.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
			if y.Before(t) {
				y = y.AddDate(1, 0, 0)
			}
			for y.Year()%n != 0 {
				y = y.AddDate(1, 0, 0)
			}
			return y
		},
		func(t time.Time) time.Time { return t.AddDate(n, 0, 0) }}
}

// ceilTo rounds t up to a multiple of d since the Unix epoch (UTC).
func ceilTo(t time.Time, d time.Duration) time.Time {
	r := t.Truncate(d)
	if r.Before(t) {
		r = r.Add(d)
	}
	return r.UTC()
}

var tickSteps = []tickStep{
	hourStep(1), hourStep(3), hourStep(6), hourStep(12),
	dayStep(1), dayStep(2), weekStep(),
	monthStep(1), monthStep(2), monthStep(3), monthStep(6),
	yearStep(1), yearStep(2), yearStep(5), yearStep(10), yearStep(20), yearStep(50),
}

// Ticks implements plot.Ticker.
func (c calendarTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		return nil
	}
	maxTicks := c.maxTicks
	if maxTicks < 2 {
		maxTicks = 2
	}
	from := time.Unix(int64(lo), 0).UTC()
	to := time.Unix(int64(hi), 0).UTC()
	span := to.Sub(from)
	step := tickSteps[len(tickSteps)-1]
	i := sort.Search(len(tickSteps), func(i int) bool {
		return span/tickSteps[i].approx+1 <= time.Duration(maxTicks)
	})
	if i < len(tickSteps) {
		step = tickSteps[i]
	}
	var ticks []plot.Tick
	for t := step.first(from); !t.After(to); t = step.next(t) {
		ticks = append(ticks, plot.Tick{Value: float64(t.Unix()), Label: t.Format(step.format)})
	}
	return ticks
}
