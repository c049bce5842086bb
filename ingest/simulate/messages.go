package simulate

import (
	"iter"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
)

// Summary counts what a world publishes.
type Summary struct {
	Seed             uint64
	Start, End       time.Time
	Blocks           int
	Epochs           int
	GridObservations int
	PoolStats        int
	// FirstHeight and LastHeight are the heights of the first and last block (LastHeight is
	// FirstHeight − 1 when there is no block).
	FirstHeight, LastHeight int64
}

// Summary returns the message counts and span of the world.
func (w *World) Summary() Summary {
	return Summary{
		Seed: w.cfg.Seed, Start: w.cfg.Start, End: w.cfg.End,
		Blocks: len(w.blocks), Epochs: len(w.epochs),
		GridObservations: 2 * len(w.regions) * w.hours,
		PoolStats:        w.days * w.reportingPools(),
		FirstHeight:      w.cfg.StartHeight, LastHeight: w.cfg.StartHeight + int64(len(w.blocks)) - 1,
	}
}

func (w *World) reportingPools() int {
	n := 0
	for _, p := range w.pools {
		if p.Slug != schemas.PoolUnknown {
			n++
		}
	}
	return n
}

// block returns block i (height StartHeight + i) as a message: a simulated block has no hash,
// header or coinbase (schemas.Block allows that for attribution method "simulated"); its
// ObservedAt is its arrival time, so that the message is the same on every run.
func (w *World) block(i int) schemas.Block {
	b := w.blocks[i]
	ep := &w.epochs[i/EpochBlocks]
	return schemas.Block{
		Schema:            schemas.SchemaBlock,
		Height:            w.cfg.StartHeight + int64(i),
		Time:              time.Unix(b.time, 0).UTC(),
		Bits:              ep.hex,
		Difficulty:        ep.difficulty,
		Work:              ep.work,
		Pool:              w.pools[b.pool].Slug,
		AttributionMethod: schemas.AttributionSimulated,
		Source:            Source,
		ObservedAt:        time.Unix(b.arrival, 0).UTC(),
	}
}

func (w *World) epoch(e int) schemas.DifficultyEpoch {
	ep := &w.epochs[e]
	first := time.Unix(ep.firstTime, 0).UTC()
	start := w.cfg.StartHeight + int64(e)*EpochBlocks
	return schemas.DifficultyEpoch{
		Schema:         schemas.SchemaDifficultyEpoch,
		Epoch:          start / EpochBlocks,
		StartHeight:    start,
		Bits:           ep.hex,
		Difficulty:     ep.difficulty,
		FirstBlockTime: &first,
		Source:         Source,
	}
}

func (w *World) grid(r *regionState, h int, emergency bool) schemas.GridObservation {
	o := schemas.GridObservation{
		Schema:          schemas.SchemaGridObservation,
		Region:          r.Code,
		Country:         r.Country,
		Time:            w.cfg.Start.Add(time.Duration(h) * time.Hour).UTC(),
		IntervalSeconds: hourSeconds,
		Metric:          schemas.GridDemand,
		Value:           r.demand[h],
		Unit:            schemas.UnitMW,
		Source:          Source,
	}
	if emergency {
		o.Metric, o.Unit, o.Value = schemas.GridEmergency, schemas.UnitFlag, 0
		if r.stress[h] {
			o.Value = 1
		}
	}
	return o
}

func (w *World) poolStats(d, k int) schemas.PoolStats {
	v := w.poolStatsHS[d*len(w.pools)+k]
	return schemas.PoolStats{
		Schema:          schemas.SchemaPoolStats,
		Pool:            w.pools[k].Slug,
		Time:            w.cfg.Start.AddDate(0, 0, d).UTC(),
		IntervalSeconds: 86400,
		HashrateHS:      &v,
		Source:          Source,
	}
}

// Blocks returns every block in height order.
func (w *World) Blocks() []schemas.Block {
	out := make([]schemas.Block, len(w.blocks))
	for i := range out {
		out[i] = w.block(i)
	}
	return out
}

// Epochs returns every difficulty epoch that holds a block, in height order; the last may be
// incomplete.
func (w *World) Epochs() []schemas.DifficultyEpoch {
	out := make([]schemas.DifficultyEpoch, len(w.epochs))
	for i := range out {
		out[i] = w.epoch(i)
	}
	return out
}

// GridObservations returns every region's hourly observations, region by region in Config
// order, hour by hour, "demand" (MW) then "emergency" (flag 1 in stressed hours, else 0).
func (w *World) GridObservations() []schemas.GridObservation {
	out := make([]schemas.GridObservation, 0, 2*len(w.regions)*w.hours)
	for i := range w.regions {
		for h := 0; h < w.hours; h++ {
			out = append(out, w.grid(&w.regions[i], h, false), w.grid(&w.regions[i], h, true))
		}
	}
	return out
}

// PoolStats returns the daily hashrate every pool but "unknown" reports, day by day in Config
// pool order: the pool's true mean hashrate that day times a log-normal error of mean one and
// standard deviation about Config.PoolStatsNoise.
func (w *World) PoolStats() []schemas.PoolStats {
	out := make([]schemas.PoolStats, 0, w.days*w.reportingPools())
	for d := 0; d < w.days; d++ {
		for k := range w.pools {
			if w.pools[k].Slug != schemas.PoolUnknown {
				out = append(out, w.poolStats(d, k))
			}
		}
	}
	return out
}

// Messages yields every message of the world, as values (schemas.Block, not *schemas.Block),
// in a fixed order: each difficulty epoch followed by its blocks, then the grid observations
// (as GridObservations), then the pool stats (as PoolStats). Every message is valid.
func (w *World) Messages() iter.Seq[schemas.Message] {
	return func(yield func(schemas.Message) bool) {
		for i := range w.blocks {
			if i%EpochBlocks == 0 && !yield(w.epoch(i/EpochBlocks)) {
				return
			}
			if !yield(w.block(i)) {
				return
			}
		}
		for i := range w.regions {
			for h := 0; h < w.hours; h++ {
				if !yield(w.grid(&w.regions[i], h, false)) || !yield(w.grid(&w.regions[i], h, true)) {
					return
				}
			}
		}
		for d := 0; d < w.days; d++ {
			for k := range w.pools {
				if w.pools[k].Slug != schemas.PoolUnknown && !yield(w.poolStats(d, k)) {
					return
				}
			}
		}
	}
}
