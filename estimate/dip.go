package estimate

import (
	"fmt"

	"gonum.org/v1/gonum/stat/distuv"
)

// Dip is a day's block count against the count the difficulty predicts (METHOD.md §8.8): the
// lower-tail Poisson probability of seeing so few blocks, and the hashrate that would explain
// the shortfall.
type Dip struct {
	Blocks   int
	Expected float64
	// PValue is P(X <= Blocks) for X ~ Poisson(Expected): small when the day is a real dip.
	PValue float64
	// ShedHashrate is (Expected − Blocks) / Expected × the difficulty-implied hashrate (H/s),
	// zero when no block is missing.
	ShedHashrate float64
}

// NetworkDip evaluates one day: blocks found, blocks expected from difficulty (86,400 / 600 =
// 144 for a full day), and the hashrate the difficulty implies (difficulty × 2^32 / 600, H/s).
// A dip that coincides with grid stress attributes ShedHashrate (and its power, PowerOf) to
// the stressed region.
func NetworkDip(blocks int, expected, impliedHashrate float64) (Dip, error) {
	if blocks < 0 || expected <= 0 || impliedHashrate <= 0 {
		return Dip{}, fmt.Errorf("dip of %d blocks against %g expected at %g H/s: need blocks >= 0 and positive expectations", blocks, expected, impliedHashrate)
	}
	d := Dip{Blocks: blocks, Expected: expected, PValue: distuv.Poisson{Lambda: expected}.CDF(float64(blocks))}
	if float64(blocks) < expected {
		d.ShedHashrate = (expected - float64(blocks)) / expected * impliedHashrate
	}
	return d, nil
}
