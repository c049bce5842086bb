package estimate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
	"github.com/sirupsen/logrus"
)

// Checkpoint is what a restart trusts instead of replaying and recomputing the whole input
// log: the state the store already holds durably — the canonical blocks and the hourly grid
// observations written before the last offset commit (and maybe a few after it) — and, for
// every window, the inputs digest and finality of the estimates stored for this model version.
// A recent checkpoint (From set) holds only the blocks and observations timed at or after From
// and the windows starting at or after it.
type Checkpoint struct {
	// From is where a recent checkpoint starts; zero for the whole history.
	From   time.Time
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
	// Checkpoint gives what the store holds from from on (zero: everything): blocks and hourly
	// grid observations timed at or after it, stored estimates of windows starting at or after it.
	Checkpoint(ctx context.Context, modelVersion string, from time.Time) (*Checkpoint, error)
	// BlockSpan is the earliest and the latest time of a stored block; false when none is.
	BlockSpan(ctx context.Context) (first, last time.Time, ok bool, err error)
}

// RecentDays is how far before the last stored block a restart's recent checkpoint reaches at
// least (RestoreHorizon): the inputs after the committed offsets that a restart replays — what
// the last run applied but had not committed — are about that recent, so they find their blocks
// in the state and change nothing.
const RecentDays = 7

// RestoreHorizon is where a restart's recent checkpoint starts, given the time of the last
// stored block: the start of the week holding the first day of the month of RecentDays before
// it. Every day, week and month starting there or later is whole in the checkpoint (a month
// starting earlier is not, and is left alone until the whole history is loaded); the span is
// 5 to 7 weeks, whatever the history's length.
func RestoreHorizon(last time.Time) time.Time {
	month := WindowOf(Month, last.UTC().AddDate(0, 0, -RecentDays)).Start
	return WindowOf(Week, month).Start
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
//
// A recent checkpoint (cp.From set) restores only the windows starting at or after From and
// refits nothing: the service then holds the recent part of the history, enough to tell that a
// replayed input changes nothing. Use RestoreRecent for it, which says how to load the rest.
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
	stale := s.chain.Settle(cp.Stored, cp.From)
	st.Windows, st.Stale = s.chain.WindowCount(), len(stale)
	// The last-n estimate of this tip was written with the blocks (if it was not, the next
	// block's brings it up to date).
	s.lastTip = s.chain.Tip()
	years := s.grid.Touched() // read here also to clear them: they are the store's
	if !cp.From.IsZero() {
		// Nothing is computed from a recent state: the signals and chain stress are refitted
		// when the whole history is loaded, before anything changes.
		st.Duration = time.Since(start)
		return st, nil
	}
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
	st.Duration = time.Since(start)
	return st, nil
}

// coldHistory is the part of the history a recently restored service does not hold yet.
type coldHistory struct {
	from time.Time
	// load gives the store's whole checkpoint.
	load func() (*Checkpoint, error)
}

// RestoreRecent restores a recent checkpoint (cp.From set) and remembers load, which gives the
// store's whole checkpoint: the service loads it — and restores from it as from a whole
// checkpoint — before the first input that would change the state (a new or replaced block, a
// new grid observation, one older than cp.From) and before computing anything. A restart with
// nothing new therefore reads and holds only the recent weeks, whatever the history's length.
// When a restored window's stored estimate does not match (a write cut short) the whole history
// is loaded at once, since that window is recomputed at the next Flush.
func (s *Service) RestoreRecent(cp *Checkpoint, load func() (*Checkpoint, error)) (RestoreStats, error) {
	if cp.From.IsZero() {
		return RestoreStats{}, errors.New("restore recent: the checkpoint is whole (no From)")
	}
	st, err := s.Restore(cp)
	if err != nil {
		return st, err
	}
	s.cold = &coldHistory{from: cp.From, load: load}
	if st.Stale > 0 {
		whole, err := s.loadCold()
		return whole, err
	}
	return st, nil
}

// loadCold replaces a recent state by the store's whole checkpoint, restored (Restore). The
// recent state holds no change of its own (loadCold runs before any), so nothing is lost.
func (s *Service) loadCold() (RestoreStats, error) {
	c := s.cold
	cp, err := c.load()
	if err != nil {
		return RestoreStats{}, fmt.Errorf("load the history before %s from the store: %w", c.from.Format(time.DateOnly), err)
	}
	s.cold = nil
	s.clearState()
	st, err := s.Restore(cp)
	if err != nil {
		// The state is part of the history now: the next input loads it again (from scratch),
		// and until then nothing is computed from it (compute refuses a cold state's windows).
		s.cold = c
		return st, fmt.Errorf("restore the history before %s: %w", c.from.Format(time.DateOnly), err)
	}
	s.log.WithFields(logrus.Fields{"blocks": st.Blocks, "grid_observations": st.Grid, "windows": st.Windows,
		"windows_to_recompute": st.Stale, "duration_seconds": st.Duration.Seconds()}).Info("the whole history loaded from the store")
	return st, nil
}

// changesState reports whether applying m to a recent state could change it: a block or hourly
// grid observation the state does not hold as it is, or one older than the state reaches.
func (s *Service) changesState(m schemas.Message) bool {
	switch v := m.(type) {
	case *schemas.Block:
		return s.changesState(*v)
	case *schemas.GridObservation:
		return s.changesState(*v)
	case schemas.Block:
		b, err := blockObs(v)
		if err != nil {
			return false // refused by applyBlock
		}
		return b.Time.Before(s.cold.from) || !s.chain.Holds(b)
	case schemas.GridObservation:
		return v.Time.Before(s.cold.from) || s.grid.Changes(v)
	}
	return false
}

// Settle keeps the recompute marks of only those windows whose aggregate differs from what the
// store holds (stored: per window, the digest and finality of its stored estimates), records
// every window's finality as of now, and returns the windows left marked.
//
// Windows starting before from (zero: none) are not whole in a recent state: they are unmarked
// and left out.
func (c *Chain) Settle(stored map[Window]StoredWindow, from time.Time) []Window {
	ws := make([]Window, 0, len(c.members))
	for w, m := range c.members {
		if len(*m) == 0 {
			continue
		}
		if w.Start.Before(from) {
			if _, ok := c.dirty[w]; ok {
				delete(c.dirty, w)
				c.unmark()
			}
			continue
		}
		ws = append(ws, w)
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
//
// The checkpoint a restart reads is the recent one (RestoreHorizon, RestoreRecent): the rest of
// the history is loaded when an input changes the state. When the recent checkpoint does not
// reach back to a committed block (a partition whose last commit is older), the whole one is
// read and checked instead.
func resumeOrReplay(ctx context.Context, svc *Service, src Source, log logrus.FieldLogger) func(context.Context, func(schemas.Message) error) (int, error) {
	rs, ok1 := src.(ResumableSource)
	cs, ok2 := svc.store.(CheckpointStore)
	if !ok1 || !ok2 || svc.cfg.FullRebuild {
		return src.Replay
	}
	whole := func() (*Checkpoint, error) { return cs.Checkpoint(ctx, svc.ModelVersion(), time.Time{}) }
	cp, err := recentCheckpoint(ctx, cs, svc.ModelVersion())
	if err == nil {
		err = rs.CheckCheckpoint(ctx, cp)
		if err != nil && !cp.From.IsZero() {
			log.WithError(err).Info("the recent checkpoint does not hold a committed block: reading the whole one")
			if cp, err = whole(); err == nil {
				err = rs.CheckCheckpoint(ctx, cp)
			}
		}
	}
	if err != nil {
		log.WithError(err).Warn("the store's checkpoint cannot be trusted: rebuilding from the whole input log")
		return src.Replay
	}
	var st RestoreStats
	if cp.From.IsZero() {
		st, err = svc.Restore(cp)
	} else {
		st, err = svc.RestoreRecent(cp, whole)
	}
	if err != nil {
		log.WithError(err).Warn("restoring the store's checkpoint failed: rebuilding from the whole input log")
		svc.Reset()
		return src.Replay
	}
	log.WithFields(logrus.Fields{"blocks": st.Blocks, "grid_observations": st.Grid, "windows": st.Windows,
		"windows_to_recompute": st.Stale, "from": orWhole(cp.From), "duration_seconds": st.Duration.Seconds()}).Info("state restored from the store; replaying the input log from the committed offsets")
	return rs.ReplayUncommitted
}

// recentCheckpoint reads the store's checkpoint from RestoreHorizon of its last block on; the
// whole one when its blocks start after that (or it holds none).
func recentCheckpoint(ctx context.Context, cs CheckpointStore, modelVersion string) (*Checkpoint, error) {
	first, last, ok, err := cs.BlockSpan(ctx)
	if err != nil {
		return nil, err
	}
	var from time.Time
	if h := RestoreHorizon(last); ok && first.Before(h) {
		from = h
	}
	return cs.Checkpoint(ctx, modelVersion, from)
}

// orWhole names where a checkpoint starts, for logs.
func orWhole(from time.Time) string {
	if from.IsZero() {
		return "the first block"
	}
	return from.Format(time.DateOnly)
}
