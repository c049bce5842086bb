package estimate

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
	"github.com/sirupsen/logrus"
)

// Checkpoint is what a restart trusts instead of replaying and recomputing the whole input
// log: the state the store already holds durably — the canonical blocks and the hourly grid
// observations written before the last offset commit (and maybe a few after it) — and, for
// every window, the inputs digest and finality of the estimates stored for this model version.
type Checkpoint struct {
	Blocks []BlockObs
	Grid   []schemas.GridObservation
	// Stored is, per window, what the store holds of this model version's estimate of it.
	Stored map[Window]StoredWindow
}

// StoredWindow is what the store holds of one window's estimates.
type StoredWindow struct {
	Digest string
	Final  bool
}

// CheckpointStore is a Store that can give back what it holds as a Checkpoint.
type CheckpointStore interface {
	Store
	Checkpoint(ctx context.Context, modelVersion string) (*Checkpoint, error)
}

// RestoreStats says what Restore found.
type RestoreStats struct {
	Blocks, Grid int
	// Windows is the number of windows the restored blocks fall in; Stale those of them whose
	// stored estimates do not match the state (another model version, a write cut short, inputs
	// the store holds but the estimates do not reflect): they are recomputed at the next Flush.
	Windows, Stale int
	Duration       time.Duration
}

// Restore loads a checkpoint into an empty service: its blocks and grid observations become the
// state without being written again (they came from the store), and every window whose stored
// estimates match the state — same inputs digest, same finality, this model version — counts as
// written; the others are marked for recompute. The energy signals are refitted from the
// restored grid observations (the energy-adjusted estimates of recomputed windows need them)
// but not written: their inputs are unchanged. Inputs applied afterwards (the part of the input
// log after the committed offsets) are handled as usual: only what they change is recomputed,
// written and published.
func (s *Service) Restore(cp *Checkpoint) (RestoreStats, error) {
	start := time.Now()
	st := RestoreStats{Blocks: len(cp.Blocks), Grid: len(cp.Grid)}
	// In height order: consecutive blocks then share their windows, which Chain.Add finds
	// without a lookup. A store gives them so (sinks/clickhouse asks for it); another order is
	// sorted here, in the checkpoint's slice.
	byHeight := func(a, b BlockObs) int { return cmp.Compare(a.Height, b.Height) }
	if !slices.IsSortedFunc(cp.Blocks, byHeight) {
		slices.SortFunc(cp.Blocks, byHeight)
	}
	for _, b := range cp.Blocks {
		if _, err := s.chain.Add(b); err != nil {
			return st, err
		}
	}
	for _, g := range cp.Grid {
		s.grid.Add(g)
	}
	// Every window holding blocks is dirty now; keep only those the store does not match.
	stale := s.chain.Settle(cp.Stored)
	st.Windows, st.Stale = s.chain.WindowCount(), len(stale)
	years := s.grid.Touched()
	if len(years) > 0 && len(s.grid.Regions()) > 0 {
		sigs, err := s.cfg.Model.ComputeSignals(s.chain, s.grid, years)
		if err != nil {
			return st, err
		}
		clear(s.signals)
		for _, sg := range sigs {
			y := sg.Window.Start.Year()
			s.signals[y] = append(s.signals[y], sg)
		}
	}
	// The grid exposures the chain's stress events give (they adjust recomputed windows' energy-
	// adjusted rows), refitted but not written: their inputs are the restored blocks.
	days, exposures := s.cfg.Model.ComputeChainStress(s.chain)
	if st.Stale == 0 {
		// Every window's stored estimate matches the state, so the flushes that wrote them
		// wrote their chain-stress rows too (the store writes those before the network rows):
		// the store holds these, and only rows a later recompute changes are written again.
		s.changedStress(days)
	}
	clear(s.exposures)
	for _, e := range exposures {
		y := e.Window.Start.Year()
		s.exposures[y] = append(s.exposures[y], e)
	}
	// The last-n estimate of this tip was written with the blocks (if it was not, the next
	// block's brings it up to date).
	s.lastTip = s.chain.Tip()
	st.Duration = time.Since(start)
	return st, nil
}

// Settle keeps the recompute marks of only those windows whose aggregate differs from what the
// store holds (stored: per window, the digest and finality of its stored estimates), records
// every window's finality as of now, and returns the windows left marked.
func (c *Chain) Settle(stored map[Window]StoredWindow) []Window {
	ws := make([]Window, 0, len(c.members))
	for w, m := range c.members {
		if len(*m) > 0 {
			ws = append(ws, w)
		}
	}
	digests := make([]string, len(ws))
	parallelFor(len(ws), func(i int) { digests[i] = c.Stats(ws[i]).Digest })
	var stale []Window
	for i, w := range ws {
		final := c.IsFinal(w)
		c.final[w] = final
		if sw, ok := stored[w]; ok && sw.Digest == digests[i] && sw.Final == final {
			delete(c.dirty, w)
			c.unmark()
			continue
		}
		c.dirty[w] = struct{}{}
		stale = append(stale, w)
	}
	return stale
}

// WindowCount is the number of windows holding blocks.
func (c *Chain) WindowCount() int {
	n := 0
	for _, m := range c.members {
		if len(*m) > 0 {
			n++
		}
	}
	return n
}

// ResumableSource is a Source whose consumer group's commits mark what the store holds: it can
// check a checkpoint against them and replay only what follows them.
type ResumableSource interface {
	Source
	// CheckCheckpoint returns nil when cp holds the last committed block of every partition
	// (so the store holds the committed part of the log), else why it cannot be trusted.
	CheckCheckpoint(ctx context.Context, cp *Checkpoint) error
	// ReplayUncommitted is Replay from the consumer group's committed offsets.
	ReplayUncommitted(ctx context.Context, fn func(schemas.Message) error) (int, error)
}

// resumeOrReplay returns how Run rebuilds the state: from the store's checkpoint and the part of
// the log after the committed offsets when the store and the source allow it and the checkpoint
// checks out against the commits — a restart then reads, computes, writes and publishes only
// what changed — else by replaying the whole log into the empty state (the first start, a store
// or source without checkpoints, a store emptied or behind the commits).
func resumeOrReplay(ctx context.Context, svc *Service, src Source, log logrus.FieldLogger) func(context.Context, func(schemas.Message) error) (int, error) {
	rs, ok1 := src.(ResumableSource)
	cs, ok2 := svc.store.(CheckpointStore)
	if !ok1 || !ok2 || svc.cfg.FullRebuild {
		return src.Replay
	}
	cp, err := cs.Checkpoint(ctx, svc.ModelVersion())
	if err == nil {
		err = rs.CheckCheckpoint(ctx, cp)
	}
	if err != nil {
		log.WithError(err).Warn("the store's checkpoint cannot be trusted: rebuilding from the whole input log")
		return src.Replay
	}
	st, err := svc.Restore(cp)
	if err != nil {
		log.WithError(err).Warn("restoring the store's checkpoint failed: rebuilding from the whole input log")
		svc.Reset()
		return src.Replay
	}
	log.WithFields(logrus.Fields{"blocks": st.Blocks, "grid_observations": st.Grid, "windows": st.Windows,
		"windows_to_recompute": st.Stale, "duration_seconds": st.Duration.Seconds()}).Info("state restored from the store; replaying the input log from the committed offsets")
	return rs.ReplayUncommitted
}
