package charts

import (
	"math"
	"strconv"

	"gonum.org/v1/plot"
)

// hashUnits are the SI multiples of hashes per second, smallest first.
var hashUnits = []struct {
	scale float64
	name  string
}{
	{1, "H/s"}, {1e3, "kH/s"}, {1e6, "MH/s"}, {1e9, "GH/s"}, {1e12, "TH/s"},
	{1e15, "PH/s"}, {1e18, "EH/s"}, {1e21, "ZH/s"}, {1e24, "YH/s"},
}

// maxHashUnit is the largest unit a chart uses: EH/s, the unit of the reports and the demo's
// summary, so that a chart of 1,200 EH/s reads 1200 EH/s rather than 1.2 ZH/s.
const maxHashUnit = 1e18

// hashUnit returns the largest SI unit of hashrate, up to EH/s, in which max (H/s) is at
// least 1, so that the axis reads e.g. 0–800 EH/s rather than 0–8e20 H/s; H/s for max below 1.
func hashUnit(max float64) (scale float64, name string) {
	scale, name = hashUnits[0].scale, hashUnits[0].name
	for _, u := range hashUnits {
		if max >= u.scale && u.scale <= maxHashUnit {
			scale, name = u.scale, u.name
		}
	}
	return scale, name
}

// valueTicks marks a value axis at round numbers — 1, 2, 2.5 or 5 times a power of ten —
// with the finest such step that gives at most maxTicks labelled ticks.
type valueTicks struct{ maxTicks int }

// Ticks implements plot.Ticker.
func (v valueTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || math.IsInf(hi-lo, 0) {
		return nil
	}
	maxTicks := max(v.maxTicks, 2)
	mag := math.Pow(10, math.Floor(math.Log10((hi-lo)/float64(maxTicks))))
	var step float64
	var decimals int
	for _, m := range []float64{1, 2, 2.5, 5, 10, 20} {
		step = m * mag
		if math.Floor(hi/step)-math.Ceil(lo/step)+1 <= float64(maxTicks) {
			break
		}
	}
	// Enough decimals to tell the ticks apart: those of the step itself.
	for d := step; d < 1 && decimals < 12; d *= 10 {
		decimals++
	}
	if math.Mod(step*math.Pow(10, float64(decimals)), 1) != 0 && decimals < 12 {
		decimals++ // 2.5 × 10^k needs one more
	}
	var ticks []plot.Tick
	for i := math.Ceil(lo / step); i*step <= hi*(1+1e-12); i++ {
		x := i * step
		ticks = append(ticks, plot.Tick{Value: x, Label: strconv.FormatFloat(x, 'f', decimals, 64)})
	}
	return ticks
}
