package estimate

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrNoMinerModel is FleetOn's error when no hardware model counts on the day (before the
// first model of the table is 60 days old, or 5 years after the last one's release).
var ErrNoMinerModel = errors.New("no miner model counts")

// MinerModel is what the power model needs of a hardware table row: when a model was
// released and how many joules it spends per terahash.
type MinerModel struct {
	Model    string
	Released time.Time
	JPerTH   float64
}

// Fleet is the efficiency of the mining fleet on a day, in J/TH: the most efficient counted
// model (Low), the age-weighted mean (Best) and the least efficient counted model (High).
type Fleet struct {
	Low, Best, High float64
	Models          int // models counted
}

// Power-model constants of METHOD.md §7.2–7.4.
const (
	// MinAgeDays is how long after its release a model starts to count.
	MinAgeDays = 60
	// MaxAgeYears is the age at which a model stops counting.
	MaxAgeYears = 5
	// PUELow, PUEBest and PUEHigh are the power usage effectiveness of each bound.
	PUELow, PUEBest, PUEHigh = 1.01, 1.10, 1.20
	// HoursPerYear annualises power into energy (a Julian year: 365.25 days).
	HoursPerYear = 8766
)

// ageWeights weigh a model by its full years of age (0 to 4).
var ageWeights = [MaxAgeYears]float64{1.0, 0.8, 0.6, 0.4, 0.2}

// FleetOn returns the fleet efficiency on day t from the hardware table: a model counts if it
// was released at least 60 days before t and is younger than 5 years; when revenuePerTH (USD
// per TH) and pricePerJ (USD per joule) are both positive it must also be profitable
// (J/TH < revenue per TH / price per J). Weights are 1.0, 0.8, 0.6, 0.4, 0.2 by full years of
// age. It fails when no model counts.
func FleetOn(t time.Time, models []MinerModel, revenuePerTH, pricePerJ float64) (Fleet, error) {
	f := Fleet{Low: math.Inf(1), High: math.Inf(-1)}
	var wsum, esum float64
	for _, m := range models {
		age := t.Sub(m.Released)
		if age < MinAgeDays*24*time.Hour {
			continue
		}
		years := int(age.Hours() / (24 * 365.25))
		if years >= MaxAgeYears {
			continue
		}
		if revenuePerTH > 0 && pricePerJ > 0 && !(m.JPerTH < revenuePerTH/pricePerJ) {
			continue
		}
		w := ageWeights[years]
		wsum += w
		esum += w * m.JPerTH
		f.Low = math.Min(f.Low, m.JPerTH)
		f.High = math.Max(f.High, m.JPerTH)
		f.Models++
	}
	if f.Models == 0 {
		return Fleet{}, fmt.Errorf("%w on %s (released 60 days to 5 years before, and profitable)", ErrNoMinerModel, t.Format("2006-01-02"))
	}
	f.Best = esum / wsum
	return f, nil
}

// UnknownFleet is the fleet of a day no hardware model counts on: its efficiencies are NaN, so
// the power computed with it is NaN too — unknown, never a made-up figure.
var UnknownFleet = Fleet{Low: math.NaN(), Best: math.NaN(), High: math.NaN()}

// Known reports whether the fleet's efficiency is known.
func (f Fleet) Known() bool { return f.Models > 0 }

// Power is the electric power behind a hashrate, low/best/high, in GW, and the same
// annualised in TWh per year.
type Power struct {
	GWLow, GWBest, GWHigh    float64
	TWhLow, TWhBest, TWhHigh float64
}

// Known reports whether the power is known (the fleet of its window was): unknown power is NaN
// in the tables and left out of the estimates topic.
func (p Power) Known() bool { return !math.IsNaN(p.GWBest) }

// PowerOf converts a hashrate interval (H/s) into power with the fleet's efficiency: the low
// bound takes the lower hashrate, the most efficient model and PUE 1.01; the best the estimate,
// the weighted mean and PUE 1.10; the high the upper hashrate, the least efficient model and
// PUE 1.20 (METHOD.md §7.3, P = H × η × PUE).
func PowerOf(h Interval, f Fleet) Power {
	gw := func(hs, jPerTH, pue float64) float64 { return hs / 1e12 * jPerTH * pue / 1e9 }
	p := Power{
		GWLow:  gw(h.Lower, f.Low, PUELow),
		GWBest: gw(h.Value, f.Best, PUEBest),
		GWHigh: gw(h.Upper, f.High, PUEHigh),
	}
	p.TWhLow, p.TWhBest, p.TWhHigh = p.GWLow*HoursPerYear/1000, p.GWBest*HoursPerYear/1000, p.GWHigh*HoursPerYear/1000
	return p
}
