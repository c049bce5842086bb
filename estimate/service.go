package estimate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
	"github.com/sirupsen/logrus"
)

// Results is what one Flush produced: every recomputed window's network and pool results,
// the "now" estimate when the tip moved, and the raw inputs applied since the last Flush
// (which the store keeps for audit and ad-hoc SQL).
type Results struct {
	Orphans   []Orphan
	Network   []NetworkResult
	Pools     []PoolResult
	Countries []CountryWindowResult
	Regions   []RegionResult
	Signals   []Signal
	// ChainStress is every day tested for grid stress from the chain (recomputed whole when a
	// day changed: its q-values depend on every day).
	ChainStress []ChainStressDay
	Recent      *RecentResult
	Raw         []schemas.Message
	ComputedAt  time.Time
}

// Orphan is a block that left the best chain: another block replaced it at its height.
type Orphan struct {
	Height     int64
	Hash       string
	ReplacedBy string
	DetectedAt time.Time
}

// Empty reports whether there is nothing to write.
func (r Results) Empty() bool {
	return len(r.Network) == 0 && len(r.Pools) == 0 && len(r.Countries) == 0 && len(r.Regions) == 0 &&
		len(r.Signals) == 0 && len(r.ChainStress) == 0 && r.Recent == nil && len(r.Raw) == 0 && len(r.Orphans) == 0
}

// Store keeps results durably. WriteResults must return nil only once every row is
// acknowledged by the database, so that the inputs behind them may be committed. Writing the
// same result twice replaces it (rows are keyed by their natural key and model version). It
// must return when ctx ends. The store must not keep r's slices after it returns.
type Store interface {
	WriteResults(ctx context.Context, r Results) error
}

// Publisher sends estimates to the output topic. A nil error means all were acknowledged.
type Publisher interface {
	Publish(ctx context.Context, msgs ...schemas.Message) error
}

// ServiceConfig tunes the estimator service.
type ServiceConfig struct {
	// Model computes the results. Default: NewModel().
	Model Model
	// RecentBlocks is n of the last-n-blocks "now" estimate. Default: 144 (about a day).
	RecentBlocks int
	// Now is the clock for computed_at. Default: time.Now.
	Now func() time.Time
	// FullRebuild makes Run rebuild the state from the whole input log and recompute every
	// window, even when the store holds a checkpoint it could restart from (Restore).
	FullRebuild bool
}

// Service is the estimator: it applies input messages to the windowed state and, on Flush,
// recomputes what changed, writes it to the store and publishes it. It is not safe for
// concurrent use: one goroutine applies and flushes.
type Service struct {
	cfg     ServiceConfig
	chain   *Chain
	grid    *GridState
	signals map[int][]Signal // the latest energy signals of each year
	// exposures are the latest grid exposures of each year (from the chain's stress events).
	exposures map[int][]Signal
	// stressed is what the store holds of the chain-stress test of each day and region: only
	// the rows a recompute changes are written again.
	stressed map[stressKey]ChainStressDay
	store    Store
	pub      Publisher
	log      logrus.FieldLogger
	raw      []schemas.Message
	inflight *rawFlight // a background write of raw inputs (FlushRaw)
	orphans  []Orphan
	pending  *Results // computed but not yet stored and published
	lastTip  int64
	partial  bool // the state lacks inputs others consume: write raw inputs only (SetPartial)
	// cold is set while the state holds only the recent part of the store's history
	// (RestoreRecent): the rest is loaded before anything changes.
	cold *coldHistory

	rebuildFrom int // len(raw) at the last Reset
}

// NewService returns an estimator writing to store and publishing to pub (nil: no topic).
func NewService(cfg ServiceConfig, store Store, pub Publisher, log logrus.FieldLogger) *Service {
	if cfg.Model.Version == "" {
		cfg.Model = NewModel()
	}
	if cfg.RecentBlocks <= 0 {
		cfg.RecentBlocks = 144
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = l
	}
	return &Service{cfg: cfg, chain: NewChain(), grid: NewGridState(), signals: map[int][]Signal{}, exposures: map[int][]Signal{},
		stressed: map[stressKey]ChainStressDay{},
		store:    store, pub: pub, log: log, lastTip: -1}
}

// SetPartial tells the service whether its state holds only part of the inputs (an estimator
// that shares its consumer group with another instance sees only its partitions' new
// messages). While partial, Flush writes the raw inputs but no estimate: a window computed from
// part of its blocks would overwrite the right one. Leave the partial state with Reset and a
// replay of the whole input log.
func (s *Service) SetPartial(partial bool) { s.partial = partial }

// Partial reports whether the service is in the partial state.
func (s *Service) Partial() bool { return s.partial }

// Reset drops the state (blocks, grid observations, signals) so that a replay of the input
// log can rebuild it; unwritten results and raw inputs are kept for the next Flush.
func (s *Service) Reset() {
	s.clearState()
	s.cold = nil
	s.rebuildFrom = len(s.raw)
}

// clearState empties the state: blocks, grid observations, signals, exposures, stress rows.
func (s *Service) clearState() {
	s.chain, s.grid, s.signals, s.exposures, s.lastTip = NewChain(), NewGridState(), map[int][]Signal{}, map[int][]Signal{}, -1
	s.stressed = map[stressKey]ChainStressDay{}
}

// DropRebuiltRaw forgets the raw inputs applied since Reset: a rebuild from inputs already
// stored must not write them again.
func (s *Service) DropRebuiltRaw() {
	clear(s.raw[s.rebuildFrom:])
	s.raw = s.raw[:s.rebuildFrom]
}

// ModelVersion is the version every result of this service carries.
func (s *Service) ModelVersion() string { return s.cfg.Model.Version }

// Chain exposes the state, for reports and tests. Do not modify it. After RestoreRecent, until
// an input changed the state, it holds the recent weeks only.
func (s *Service) Chain() *Chain { return s.chain }

// InvalidInput marks a message the estimator cannot use although it passed its schema's
// validation (it should go to the dead-letter topic, not be retried).
type InvalidInput struct{ Err error }

func (e *InvalidInput) Error() string { return e.Err.Error() }
func (e *InvalidInput) Unwrap() error { return e.Err }

// Apply adds one input message to the state. Blocks update their windows; grid observations
// update the stress series of the energy signals; difficulty epochs and pool statistics are
// kept as raw data only (every block carries its own work; pool-reported hashrate is stored
// beside the block-based estimate, never mixed into it). Other messages are ignored.
//
// On a recently restored state (RestoreRecent), an input that would change it first loads the
// whole history from the store; that load's failure is returned (not an *InvalidInput: retry).
func (s *Service) Apply(m schemas.Message) error {
	if s.cold != nil && s.changesState(m) {
		if _, err := s.loadCold(); err != nil {
			return err
		}
	}
	switch v := m.(type) {
	case schemas.Block:
		return s.applyBlock(v)
	case *schemas.Block:
		return s.applyBlock(*v)
	case schemas.GridObservation:
		s.grid.Add(v)
		s.raw = append(s.raw, m)
	case *schemas.GridObservation:
		s.grid.Add(*v)
		s.raw = append(s.raw, m)
	case schemas.DifficultyEpoch, *schemas.DifficultyEpoch, schemas.PoolStats, *schemas.PoolStats:
		s.raw = append(s.raw, m)
	}
	return nil
}

// blockObs is what the model keeps of b; an *InvalidInput when its work is not a positive number.
func blockObs(b schemas.Block) (BlockObs, error) {
	work, err := strconv.ParseFloat(b.Work, 64)
	if err != nil || !(work > 0) {
		return BlockObs{}, &InvalidInput{fmt.Errorf("block %d: work %q is not a positive number", b.Height, b.Work)}
	}
	return BlockObs{Height: b.Height, Time: b.Time, Work: work, Pool: b.Pool, Hash: b.Hash}, nil
}

func (s *Service) applyBlock(b schemas.Block) error {
	obs, err := blockObs(b)
	if err != nil {
		return err
	}
	old, had := s.chain.Block(b.Height)
	changed, err := s.chain.Add(obs)
	if err != nil {
		return &InvalidInput{err}
	}
	// A block replaced by one with another hash left the best chain — a hash-less one (a file
	// replay or a simulation) replaced by one read from a node included: its row would otherwise
	// stay beside the new one in blocks_canonical, which filters by (height, hash).
	if had && changed && old.Hash != b.Hash {
		s.orphans = append(s.orphans, Orphan{Height: b.Height, Hash: old.Hash, ReplacedBy: b.Hash, DetectedAt: s.cfg.Now().UTC()})
		s.log.WithFields(logrus.Fields{"height": b.Height, "hash": old.Hash, "replaced_by": b.Hash}).Info("block replaced by a reorg")
	}
	if changed {
		s.raw = append(s.raw, b)
	}
	return nil
}

// Flush recomputes every window that changed since the last Flush, writes the results (and
// the raw inputs) to the store, then publishes the estimates. A nil error means all of that is
// durable: inputs applied before the call may be committed. On error the results are kept and
// the next Flush tries them again (with anything newer recomputed on top).
func (s *Service) Flush(ctx context.Context) (Results, error) {
	if err := s.waitRaw(); err != nil {
		return Results{}, err
	}
	if s.pending == nil {
		r, err := s.compute()
		if err != nil {
			return Results{}, err
		}
		s.pending = &r
	} else if more, err := s.compute(); err != nil {
		return Results{}, err
	} else {
		s.pending = mergeResults(*s.pending, more)
	}
	r := *s.pending
	if r.Empty() {
		s.pending = nil
		return r, nil
	}
	start := time.Now()
	// The store and the topic are independent: write both at once, and keep the results for the
	// next Flush unless both succeeded (a second write of either replaces by key).
	pubErr := make(chan error, 1)
	go func() { pubErr <- s.publish(ctx, r) }()
	storeErr := s.store.WriteResults(ctx, r)
	if storeErr != nil {
		storeErr = fmt.Errorf("store estimates: %w", storeErr)
	}
	if err := errors.Join(storeErr, <-pubErr); err != nil {
		return Results{}, err
	}
	s.pending = nil
	s.log.WithFields(logrus.Fields{
		"windows": len(r.Network), "pool_rows": len(r.Pools), "raw": len(r.Raw), "tip": s.chain.Tip(),
		"duration_seconds": time.Since(start).Seconds(),
	}).Debug("estimates flushed")
	return r, nil
}

// RawPending is the number of raw input messages applied but not yet handed to the store.
func (s *Service) RawPending() int { return len(s.raw) }

// rawFlight is a write of raw inputs running in the background.
type rawFlight struct {
	done chan struct{}
	raw  []schemas.Message
	err  error
}

// FlushRaw hands the raw inputs applied so far (blocks and epochs, for audit and SQL) to the
// store in the background, without recomputing any window, so that a long replay neither holds
// every input nor waits for each write: applying goes on while the store writes. At most one
// such write runs; FlushRaw and Flush first wait for it, and if it failed its inputs are taken
// back (nothing is lost) and its error returned.
func (s *Service) FlushRaw(ctx context.Context) error {
	if err := s.waitRaw(); err != nil {
		return err
	}
	if len(s.raw) == 0 {
		return nil
	}
	f := &rawFlight{done: make(chan struct{}), raw: s.raw}
	s.raw = nil
	r := Results{Raw: f.raw, ComputedAt: s.cfg.Now().UTC()}
	s.inflight = f
	go func() {
		defer close(f.done)
		if err := s.store.WriteResults(ctx, r); err != nil {
			f.err = fmt.Errorf("store %d raw inputs: %w", len(f.raw), err)
		}
	}()
	return nil
}

// waitRaw waits for the background write of raw inputs, if any; on its failure the inputs
// go back in front of those applied since.
func (s *Service) waitRaw() error {
	f := s.inflight
	if f == nil {
		return nil
	}
	<-f.done
	s.inflight = nil
	if f.err != nil {
		s.raw = append(f.raw, s.raw...)
		return f.err
	}
	return nil
}

// compute recomputes what changed since the last compute. It is all or nothing: when it fails,
// the batch — raw inputs, orphans, the windows to recompute, the years whose signals to refit
// and the signals themselves — is left as it was, so that the next Flush computes it again and
// nothing applied is committed without its results.
func (s *Service) compute() (Results, error) {
	r := Results{ComputedAt: s.cfg.Now().UTC(), Raw: s.raw, Orphans: s.orphans}
	if s.partial {
		s.raw, s.orphans = nil, nil
		return r, nil // raw inputs only; the windows stay marked for after the rebuild
	}
	stats := s.chain.Changed()
	if s.cold != nil && len(stats) > 0 {
		// RestoreRecent loads the whole history before any window is marked: a window
		// computed from the recent part alone would be wrong.
		s.chain.Remark(stats)
		return Results{}, errors.New("estimate: windows to recompute on a state without its older history")
	}
	signalsBefore, exposuresBefore, stressedBefore := maps.Clone(s.signals), maps.Clone(s.exposures), maps.Clone(s.stressed)
	var touched []int
	fail := func(err error) (Results, error) {
		s.chain.Remark(stats)
		s.grid.Retouch(touched)
		s.signals, s.exposures, s.stressed = signalsBefore, exposuresBefore, stressedBefore
		return Results{}, err
	}
	sigs, more, touched, err := s.computeSignals(stats)
	if err != nil {
		return fail(err)
	}
	r.Signals = sigs
	stress, exposures, moreExposed := s.computeChainStress(stats, append(stats, more...))
	r.ChainStress = stress
	r.Signals = append(r.Signals, exposures...)
	stats = append(append(stats, more...), moreExposed...)
	all, err := s.cfg.Model.ComputeAll(stats, s.adjustments)
	if err != nil {
		return fail(err)
	}
	s.raw, s.orphans = nil, nil
	// Sized first: a replay's results are a quarter of a million rows, and growing them by
	// appending would hold up to twice that at the peak of its memory.
	var nw, np, nc, nr int
	for _, wr := range all {
		if wr.Network.Blocks != 0 {
			nw, np, nc, nr = nw+1, np+len(wr.Pools), nc+len(wr.Countries), nr+len(wr.Regions)
		}
	}
	r.Network = slices.Grow(r.Network, nw)
	r.Pools = slices.Grow(r.Pools, np)
	r.Countries = slices.Grow(r.Countries, nc)
	r.Regions = slices.Grow(r.Regions, nr)
	for i, wr := range all {
		all[i] = WindowResults{} // its rows are copied: let them go
		if wr.Network.Blocks == 0 {
			continue // every block of the window moved away (a reorg): nothing to estimate
		}
		r.Network = append(r.Network, wr.Network)
		r.Pools = append(r.Pools, wr.Pools...)
		r.Countries = append(r.Countries, wr.Countries...)
		r.Regions = append(r.Regions, wr.Regions...)
	}
	if tip := s.chain.Tip(); tip != s.lastTip && s.chain.Len() > s.cfg.RecentBlocks {
		rec, err := s.cfg.Model.ComputeRecent(s.chain, s.cfg.RecentBlocks)
		if err == nil {
			r.Recent = &rec
			s.lastTip = tip
		} else {
			s.log.WithField("err", err).Debug("no last-n estimate yet")
		}
	}
	return r, nil
}

// computeSignals recomputes the energy signals of every year whose blocks or grid
// observations changed, and returns them with the windows to recompute beyond those changed:
// every window of a year whose significant curtailment fits changed (its energy-adjusted
// country estimates depend on them). It also returns the years whose grid observations changed
// (taken from the grid state: a failed compute gives them back).
func (s *Service) computeSignals(changed []WindowStats) ([]Signal, []WindowStats, []int, error) {
	touched := s.grid.Touched()
	yearSet := map[int]bool{}
	for _, y := range touched {
		yearSet[y] = true
	}
	if len(s.grid.Regions()) == 0 {
		return nil, nil, touched, nil
	}
	for _, st := range changed {
		if st.Window.Kind == Day {
			yearSet[st.Window.Start.Year()] = true
			// a day is in the baseline of the next BaselineDays, which may be next year
			yearSet[st.Window.Start.AddDate(0, 0, BaselineDays).Year()] = true
		}
	}
	if len(yearSet) == 0 {
		return nil, nil, touched, nil
	}
	years := make([]int, 0, len(yearSet))
	for y := range yearSet {
		years = append(years, y)
	}
	sort.Ints(years)
	sigs, err := s.cfg.Model.ComputeSignals(s.chain, s.grid, years)
	if err != nil {
		return nil, nil, touched, err
	}
	byYear := map[int][]Signal{}
	for _, sg := range sigs {
		y := sg.Window.Start.Year()
		byYear[y] = append(byYear[y], sg)
	}
	skip := map[Window]bool{}
	for _, st := range changed {
		skip[st.Window] = true
	}
	var more []WindowStats
	for _, y := range years {
		ref := WindowOf(Year, time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC))
		before := adjustmentKey(Adjustments(s.signals, ref))
		s.signals[y] = byYear[y]
		if adjustmentKey(Adjustments(s.signals, ref)) != before {
			more = append(more, s.chain.StatsIn(ref.Start, ref.End, skip)...)
		}
	}
	return sigs, more, touched, nil
}

// adjustments are the energy adjustments of a window: the significant curtailment fits of its
// year and the significant grid exposures the chain's stress events gave for it.
func (s *Service) adjustments(w Window) []Adjustment {
	return append(Adjustments(s.signals, w), Adjustments(s.exposures, w)...)
}

// computeChainStress runs the chain's stress test when a day changed (its q-values depend on
// every day, so all days are tested again) and returns the days, the grid exposures, and the
// windows to recompute beyond those in done: every window of a year whose significant exposures
// changed (its energy-adjusted country estimates depend on them).
func (s *Service) computeChainStress(changed, done []WindowStats) ([]ChainStressDay, []Signal, []WindowStats) {
	dayChanged := false
	for _, st := range changed {
		if st.Window.Kind == Day {
			dayChanged = true
			break
		}
	}
	if !dayChanged {
		return nil, nil, nil
	}
	days, exposures := s.cfg.Model.ComputeChainStress(s.chain)
	days = s.changedStress(days)
	byYear := map[int][]Signal{}
	for _, e := range exposures {
		y := e.Window.Start.Year()
		byYear[y] = append(byYear[y], e)
	}
	years := map[int]bool{}
	for y := range byYear {
		years[y] = true
	}
	for y := range s.exposures {
		years[y] = true
	}
	skip := map[Window]bool{}
	for _, st := range done {
		skip[st.Window] = true
	}
	var more []WindowStats
	for y := range years {
		ref := WindowOf(Year, time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC))
		before := adjustmentKey(Adjustments(s.exposures, ref))
		if len(byYear[y]) > 0 {
			s.exposures[y] = byYear[y]
		} else {
			delete(s.exposures, y)
		}
		if adjustmentKey(Adjustments(s.exposures, ref)) != before {
			for _, st := range s.chain.StatsIn(ref.Start, ref.End, skip) {
				skip[st.Window] = true
				more = append(more, st)
			}
		}
	}
	return days, exposures, more
}

// stressKey identifies a chain-stress row.
type stressKey struct {
	day    time.Time
	region string
}

// changedStress records days as what the store holds and returns those of them that differ from
// what it held. A block on a day already tested changes that day's test and the q-values its
// p-value moves past, a few rows; a new day changes the number of tests and so nearly every
// q-value (once a day).
func (s *Service) changedStress(days []ChainStressDay) []ChainStressDay {
	var out []ChainStressDay
	for _, d := range days {
		k := stressKey{d.Window.Start, d.Region}
		old, ok := s.stressed[k]
		if ok && old.InputsDigest == d.InputsDigest && old.QValue == d.QValue && old.Final == d.Final && old.ModelVersion == d.ModelVersion {
			continue
		}
		s.stressed[k] = d
		out = append(out, d)
	}
	return out
}

// adjustmentKey identifies a set of adjustments (order-independent).
func adjustmentKey(adj []Adjustment) string {
	keys := make([]string, len(adj))
	for i, a := range adj {
		keys[i] = fmt.Sprintf("%s|%s|%s|%.17g", a.Pool, a.Region, a.Country, a.Beta)
	}
	sort.Strings(keys)
	return strings.Join(keys, "\n")
}

// mergeResults appends newer results to older unsent ones; a window recomputed in both keeps
// the newer numbers (the store and the topic replace by key, so both orders are correct, but
// the newer last).
func mergeResults(old, newer Results) *Results {
	m := Results{
		Orphans:    append(old.Orphans, newer.Orphans...),
		Network:    append(old.Network, newer.Network...),
		Pools:      append(old.Pools, newer.Pools...),
		Countries:  append(old.Countries, newer.Countries...),
		Regions:    append(old.Regions, newer.Regions...),
		Signals:    append(old.Signals, newer.Signals...),
		Raw:        append(old.Raw, newer.Raw...),
		Recent:     old.Recent,
		ComputedAt: newer.ComputedAt,
	}
	if newer.Recent != nil {
		m.Recent = newer.Recent
	}
	m.ChainStress = old.ChainStress
	if newer.ChainStress != nil {
		m.ChainStress = newer.ChainStress // every day, recomputed whole
	}
	return &m
}

// publishChunk is how many estimates one Publish call carries. A replay of the 2021–2026
// history publishes 184,554 in one Flush: handed over at once, every message, its Kafka record
// and its encoding were alive together (about 100 MB of heap at the replay's peak). The replay's
// peak RSS is reached while the estimates are written and published, and a chunk's values
// buffer is part of it: 10,000 rather than 20,000 lowered it by 25 MB on average over four
// alternated pairs of replays (437–475 MB against 463–494), with the wall time no longer
// (7.3–8.0 s against 7.8–8.4 s on that day's machine). A chunk still fills the writer's batches
// (1,000 messages per partition, 6 partitions) more than once.
const publishChunk = 10000

// publish sends the estimates of r to the topic, in the order of EstimateMessages, publishChunk
// at a time. A nil error means all were acknowledged; on error some may have been (a second
// publish replaces them by key).
func (s *Service) publish(ctx context.Context, r Results) error {
	if s.pub == nil {
		return nil
	}
	total, sent := estimateCount(r), 0
	var chunk []schemas.Message
	send := func() error {
		if len(chunk) == 0 {
			return nil
		}
		if err := s.pub.Publish(ctx, chunk...); err != nil {
			return fmt.Errorf("publish estimates %d to %d: %w", sent+1, sent+len(chunk), err)
		}
		sent += len(chunk)
		chunk = nil // the publisher may keep the slice it was given
		return nil
	}
	for m := range estimateMessages(r) {
		if chunk == nil {
			chunk = make([]schemas.Message, 0, min(publishChunk, total-sent))
		}
		chunk = append(chunk, m)
		if len(chunk) == publishChunk {
			if err := send(); err != nil {
				return err
			}
		}
	}
	return send()
}

// EstimateMessages turns results into estimates-topic messages: per window the network
// hashrate and luck, per pool its share and hashrate, per country its hashrate, share, power
// and energy, per region its block share, the energy signals, and the last-n "now" estimate.
func EstimateMessages(r Results) []schemas.Message {
	return slices.AppendSeq(make([]schemas.Message, 0, estimateCount(r)), estimateMessages(r))
}

// estimateCount is at least the number of messages of EstimateMessages (a curtailment signal
// makes one, not two).
func estimateCount(r Results) int {
	return 2*len(r.Network) + 2*len(r.Pools) + 4*len(r.Countries) + len(r.Regions) + 2*len(r.Signals) + len(r.ChainStress) + 1
}

// estimateMessages yields the messages of EstimateMessages one at a time, so that a caller
// need not hold them all.
func estimateMessages(r Results) iter.Seq[schemas.Message] {
	return func(yield func(schemas.Message) bool) {
		emit := func(es ...schemas.Estimate) bool {
			for _, e := range es {
				if !yield(e) {
					return false
				}
			}
			return true
		}
		for _, n := range r.Network {
			base := schemas.Estimate{
				Window: string(n.Window.Kind), WindowStart: n.Window.Start, WindowEnd: n.Window.End,
				Entity: schemas.EntityNetwork, Blocks: int64(n.Blocks), Final: n.Final, Method: n.Method,
				ModelVersion: n.ModelVersion, ComputedAt: r.ComputedAt, InputsDigest: n.InputsDigest,
			}
			if !emit(withValue(base, schemas.MetricNetworkHashrate, schemas.UnitHashesPerSecond, n.Hashrate),
				withValue(base, schemas.MetricLuck, schemas.UnitRatio, n.LuckInterval())) {
				return
			}
		}
		for _, p := range r.Pools {
			base := schemas.Estimate{
				Window: string(p.Window.Kind), WindowStart: p.Window.Start, WindowEnd: p.Window.End,
				Entity: p.Pool, Blocks: int64(p.Blocks), Final: p.Final, Method: p.Method,
				ModelVersion: p.ModelVersion, ComputedAt: r.ComputedAt, InputsDigest: p.InputsDigest,
			}
			if !emit(withValue(base, schemas.MetricPoolShare, schemas.UnitRatio, p.Share),
				withValue(base, schemas.MetricPoolHashrate, schemas.UnitHashesPerSecond, p.Hashrate)) {
				return
			}
		}
		for _, c := range r.Countries {
			base := schemas.Estimate{
				Window: string(c.Window.Kind), WindowStart: c.Window.Start, WindowEnd: c.Window.End,
				Entity: c.Country, Blocks: int64(c.Blocks), Final: c.Final, Method: c.Method,
				ModelVersion: c.ModelVersion, ComputedAt: r.ComputedAt, InputsDigest: c.InputsDigest,
			}
			if !emit(withValue(base, schemas.MetricCountryHashrate, schemas.UnitHashesPerSecond, c.Hashrate),
				withValue(base, schemas.MetricCountryShare, schemas.UnitRatio, c.Share)) {
				return
			}
			if !c.Power.Known() {
				continue // no hardware model for the window: power and energy are unknown, not zero
			}
			ok := emit(
				withValue(base, schemas.MetricPowerGW, schemas.UnitGW, Interval{Value: c.Power.GWBest, Lower: c.Power.GWLow, Upper: c.Power.GWHigh}),
				withValue(base, schemas.MetricEnergyTWh, schemas.UnitTWhPerYear, Interval{Value: c.Power.TWhBest, Lower: c.Power.TWhLow, Upper: c.Power.TWhHigh}))
			if !ok {
				return
			}
		}
		for _, g := range r.Regions {
			ok := emit(withValue(schemas.Estimate{
				Window: string(g.Window.Kind), WindowStart: g.Window.Start, WindowEnd: g.Window.End,
				Entity: g.Region, Blocks: int64(g.Blocks), Final: g.Final, Method: g.Method,
				ModelVersion: g.ModelVersion, ComputedAt: r.ComputedAt, InputsDigest: g.InputsDigest,
			}, schemas.MetricRegionBlockShare, schemas.UnitRatio, g.Share))
			if !ok {
				return
			}
		}
		for _, d := range r.ChainStress {
			if !d.Event() {
				continue // every day is in the chain_stress table; the topic carries the events
			}
			if !emit(withValue(schemas.Estimate{
				Window: string(Day), WindowStart: d.Window.Start, WindowEnd: d.Window.End, Entity: d.Region,
				Blocks: int64(d.RefBlocks), Final: d.Final, Method: d.Method, ModelVersion: d.ModelVersion,
				ComputedAt: r.ComputedAt, InputsDigest: d.InputsDigest,
			}, schemas.MetricStressDrop, schemas.UnitRatio, d.Drop)) {
				return
			}
		}
		for _, sg := range r.Signals {
			base := schemas.Estimate{
				Window: string(sg.Window.Kind), WindowStart: sg.Window.Start, WindowEnd: sg.Window.End,
				Blocks: int64(sg.Blocks), Final: sg.Final, Method: sg.Method,
				ModelVersion: sg.ModelVersion, ComputedAt: r.ComputedAt, InputsDigest: sg.InputsDigest,
			}
			if sg.Signal == SignalCurtailment || sg.Signal == SignalGridExposure {
				base.Entity = sg.Pool + "/" + sg.Region
				metric := schemas.MetricEnergyBeta
				if sg.Signal == SignalGridExposure {
					metric = schemas.MetricGridExposure
				}
				if !emit(withValue(base, metric, schemas.UnitRatio, sg.Beta)) {
					return
				}
				continue
			}
			base.Entity = sg.Region
			if !emit(withValue(base, schemas.MetricShedHashrate, schemas.UnitHashesPerSecond, sg.Shed)) {
				return
			}
			if math.IsNaN(sg.ShedPower.Value) {
				continue // no hardware model for the day: the shed power is unknown
			}
			if !emit(withValue(base, schemas.MetricShedPowerGW, schemas.UnitGW, sg.ShedPower)) {
				return
			}
		}
		if rec := r.Recent; rec != nil {
			emit(schemas.Estimate{
				Metric: schemas.MetricNetworkHashrate, Window: schemas.WindowLastN, WindowStart: rec.From, WindowEnd: rec.To,
				Entity: schemas.EntityNetwork, Method: rec.Method, Value: rec.Hashrate.Value, Lower: rec.Hashrate.Lower,
				Upper: rec.Hashrate.Upper, Unit: schemas.UnitHashesPerSecond, Blocks: int64(rec.N + 1), Final: false,
				ModelVersion: rec.ModelVersion, ComputedAt: r.ComputedAt,
				InputsDigest: rec.InputsDigest,
			})
		}
	}
}

// withValue is base with a metric, its unit and its value and bounds.
func withValue(base schemas.Estimate, metric, unit string, iv Interval) schemas.Estimate {
	base.Metric, base.Unit = metric, unit
	base.Value, base.Lower, base.Upper = iv.Value, iv.Lower, iv.Upper
	return base
}
