package simulate

import (
	"math"
	"math/rand/v2"
)

// Independent random streams of one world, all seeded by Config.Seed: changing how one part
// draws (say, the grid) leaves the others (the blocks) unchanged.
const (
	streamMix uint64 = iota + 0x51a0
	streamStress
	streamDemand
	streamBlocks
	streamJitter
	streamPoolStats
	streamMaps
)

func newRand(seed, stream uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, stream)) }

// gammaDraw draws from Gamma(shape, rate 1) by Marsaglia and Tsang's method ("A simple method
// for generating gamma variables", ACM TOMS 26(3), 2000), boosting shapes below 1 with
// U^(1/shape).
func gammaDraw(shape float64, rng *rand.Rand) float64 {
	boost := 1.0
	if shape < 1 {
		boost = math.Pow(rng.Float64(), 1/shape)
		shape++
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return boost * d * v
		}
	}
}

// dirichletDraw draws p ~ Dirichlet(alpha) by normalised Gamma variates.
func dirichletDraw(alpha []float64, rng *rand.Rand) []float64 {
	p := make([]float64, len(alpha))
	sum := 0.0
	for i, a := range alpha {
		p[i] = gammaDraw(a, rng)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}
