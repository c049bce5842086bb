package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/hashatlas/hashatlas/estimate"
	"github.com/hashatlas/hashatlas/schemas"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
)

// Column lists of the tables EstimateStore writes, in the order its rows are built.
var (
	blocksColumns = []string{"height", "hash", "prev_hash", "time", "bits", "difficulty", "work", "work_f64", "tx_count",
		"coinbase_script_hex", "coinbase_ascii", "coinbase_addresses", "pool", "pool_registry_version",
		"attribution_method", "source", "observed_at", "version"}
	epochsColumns   = []string{"start_height", "bits", "difficulty", "first_block_time", "source", "version"}
	orphansColumns  = []string{"height", "hash", "replaced_by", "detected_at", "version"}
	frameColumns    = []string{"window", "window_start", "window_end"}
	provenance      = []string{"final", "blocks", "model_version", "method", "inputs_digest", "computed_at", "version"}
	networkColumns  = concat(frameColumns, []string{"hashrate_hs", "hashrate_hs_lower", "hashrate_hs_upper", "luck", "luck_lower", "luck_upper", "expected_blocks"}, provenance)
	poolRateColumns = concat(frameColumns, []string{"pool", "share", "share_lower", "share_upper", "hashrate_hs", "hashrate_hs_lower", "hashrate_hs_upper"}, provenance)
	countryColumns  = concat(frameColumns, []string{"country", "hashrate_hs", "hashrate_hs_lower", "hashrate_hs_upper", "share", "share_lower", "share_upper",
		"power_gw_low", "power_gw_best", "power_gw_high", "energy_twh_year_low", "energy_twh_year_best", "energy_twh_year_high"}, provenance)
	regionColumns = concat(frameColumns, []string{"region", "share", "share_lower", "share_upper"}, provenance)
	signalColumns = concat(frameColumns, []string{"signal", "pool", "region", "country", "beta", "beta_lower", "beta_upper", "p_value", "events",
		"shed_hashrate_hs", "shed_power_gw"}, provenance)
	chainStressColumns = []string{"day", "region", "reference_pools", "blocks", "reference_blocks", "reference_expected", "baseline_rate",
		"dispersion", "share_drop", "share_drop_lower", "share_drop_upper", "p_value", "q_value", "shortfall_hs", "shortfall_hs_lower",
		"shortfall_hs_upper", "shortfall_gw", "final", "model_version", "method", "inputs_digest", "computed_at", "version"}
	poolStatsColumns = []string{"pool", "time", "interval_seconds", "hashrate_hs", "blocks", "hashrate_reported", "blocks_reported", "source", "version"}
	gridColumns      = []string{"region", "country", "time", "interval_seconds", "metric", "value", "unit", "source", "version"}
)

func concat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// EstimateStore writes the estimator's results (estimate.Results) to ClickHouse: raw blocks,
// difficulty epochs and orphans, and the network_hashrate and pool_hashrate tables. It
// implements estimate.Store. Rows of one call are flushed before it returns; on error they are
// discarded from the buffers (the estimator keeps the results and writes them again), so a
// retry never doubles the buffered rows. A call returns by the time its context ends, whatever
// the database does (a batch still being sent then is abandoned: Writer.Discard). Not safe for
// concurrent use.
type EstimateStore struct {
	blocks, epochs, orphans, network, pools *Writer
	countries, regions, signals, stress     *Writer
	poolStats, grid                         *Writer
	all                                     []*Writer
	db                                      *DB // for Checkpoint
}

// NewEstimateStore opens the writers (checking that the tables and columns exist).
func NewEstimateStore(ctx context.Context, db *DB, cfg WriterConfig, log logrus.FieldLogger, reg prometheus.Registerer) (*EstimateStore, error) {
	s := &EstimateStore{db: db}
	for _, t := range []struct {
		w       **Writer
		table   string
		columns []string
	}{
		{&s.blocks, "blocks", blocksColumns},
		{&s.epochs, "difficulty_epochs", epochsColumns},
		{&s.orphans, "orphaned_blocks", orphansColumns},
		{&s.stress, "chain_stress", chainStressColumns},
		{&s.pools, "pool_hashrate", poolRateColumns},
		{&s.countries, "country_hashrate", countryColumns},
		{&s.regions, "region_block_share", regionColumns},
		{&s.signals, "energy_signals", signalColumns},
		// network_hashrate after every other estimate table: a restart trusts a window whose
		// network row it finds (estimate.Restore, Checkpoint), so the row is written only once
		// the rest of its flush is.
		{&s.network, "network_hashrate", networkColumns},
		{&s.poolStats, "pool_stats", poolStatsColumns},
		{&s.grid, "grid_observations", gridColumns},
	} {
		w, err := NewWriter(ctx, db, t.table, t.columns, cfg, log, reg)
		if err != nil {
			_ = s.Close(ctx)
			return nil, err
		}
		*t.w = w
		s.all = append(s.all, w)
	}
	return s, nil
}

// WriteResults adds every row of r and flushes all tables. A nil error means every row is
// acknowledged by the database. The tables are written one after the other, each flushed
// before the next one's rows are added, in the order of s.all (network_hashrate last): a
// replay's results are a quarter of a million rows, and buffering every table's at once would
// hold them all twice (the results, and the buffers) at the peak of its memory.
func (s *EstimateStore) WriteResults(ctx context.Context, r estimate.Results) error {
	adds := s.adders(r)
	for _, w := range s.all {
		if add := adds[w]; add != nil {
			if err := add(ctx); err != nil {
				s.discard(ctx)
				return err
			}
		}
		if err := w.Flush(ctx); err != nil {
			s.discard(ctx)
			return err
		}
	}
	return nil
}

// discard drops what the writers hold after a failed call, waiting for batches in flight only
// as long as ctx lasts (it has often ended already: that is why the call failed).
func (s *EstimateStore) discard(ctx context.Context) {
	for _, w := range s.all {
		w.Discard(ctx)
	}
}

// adders returns, per writer, what adds r's rows to it (nil: r has none for it).
func (s *EstimateStore) adders(r estimate.Results) map[*Writer]func(context.Context) error {
	version := uint64(r.ComputedAt.UnixNano())
	out := map[*Writer]func(context.Context) error{}
	if len(r.Raw) > 0 {
		// every raw kind at once, at the turn of blocks: one message may feed any of four
		// tables, each flushed at its own turn
		out[s.blocks] = func(ctx context.Context) error {
			for _, m := range r.Raw {
				var err error
				switch v := m.(type) {
				case schemas.Block:
					err = s.addBlock(ctx, v, version)
				case *schemas.Block:
					err = s.addBlock(ctx, *v, version)
				case schemas.DifficultyEpoch:
					err = s.addEpoch(ctx, v, version)
				case *schemas.DifficultyEpoch:
					err = s.addEpoch(ctx, *v, version)
				case schemas.PoolStats:
					err = s.addPoolStats(ctx, v, version)
				case *schemas.PoolStats:
					err = s.addPoolStats(ctx, *v, version)
				case schemas.GridObservation:
					err = s.addGrid(ctx, v, version)
				case *schemas.GridObservation:
					err = s.addGrid(ctx, *v, version)
				}
				if err != nil {
					return err
				}
			}
			return nil
		}
	}
	if len(r.Orphans) > 0 {
		out[s.orphans] = func(ctx context.Context) error {
			for _, o := range r.Orphans {
				if err := s.orphans.Add(ctx, o.Height, o.Hash, o.ReplacedBy, o.DetectedAt, version); err != nil {
					return err
				}
			}
			return nil
		}
	}
	if len(r.Pools) > 0 {
		out[s.pools] = func(ctx context.Context) error {
			for _, p := range r.Pools {
				err := s.pools.Add(ctx, string(p.Window.Kind), p.Window.Start, p.Window.End, p.Pool,
					p.Share.Value, p.Share.Lower, p.Share.Upper, p.Hashrate.Value, p.Hashrate.Lower, p.Hashrate.Upper,
					p.Final, p.Blocks, p.ModelVersion, p.Method, p.InputsDigest, r.ComputedAt, version)
				if err != nil {
					return err
				}
			}
			return nil
		}
	}
	if len(r.Countries) > 0 {
		out[s.countries] = func(ctx context.Context) error {
			for _, c := range r.Countries {
				err := s.countries.Add(ctx, string(c.Window.Kind), c.Window.Start, c.Window.End, c.Country,
					c.Hashrate.Value, c.Hashrate.Lower, c.Hashrate.Upper, c.Share.Value, c.Share.Lower, c.Share.Upper,
					c.Power.GWLow, c.Power.GWBest, c.Power.GWHigh, c.Power.TWhLow, c.Power.TWhBest, c.Power.TWhHigh,
					c.Final, c.Blocks, c.ModelVersion, c.Method, c.InputsDigest, r.ComputedAt, version)
				if err != nil {
					return err
				}
			}
			return nil
		}
	}
	if len(r.Regions) > 0 {
		out[s.regions] = func(ctx context.Context) error {
			for _, g := range r.Regions {
				err := s.regions.Add(ctx, string(g.Window.Kind), g.Window.Start, g.Window.End, g.Region,
					g.Share.Value, g.Share.Lower, g.Share.Upper, g.Final, g.Blocks, g.ModelVersion, g.Method, g.InputsDigest, r.ComputedAt, version)
				if err != nil {
					return err
				}
			}
			return nil
		}
	}
	if len(r.ChainStress) > 0 {
		out[s.stress] = func(ctx context.Context) error {
			for _, d := range r.ChainStress {
				err := s.stress.Add(ctx, d.Window.Start, d.Region, d.Reference, d.Blocks, d.RefBlocks, d.RefExpected, d.BaselineShare,
					d.Dispersion, d.Drop.Value, d.Drop.Lower, d.Drop.Upper, d.PValue, d.QValue, d.Shortfall.Value, d.Shortfall.Lower,
					d.Shortfall.Upper, d.ShortfallGW.Value, d.Final, d.ModelVersion, d.Method, d.InputsDigest, r.ComputedAt, version)
				if err != nil {
					return err
				}
			}
			return nil
		}
	}
	if len(r.Signals) > 0 {
		out[s.signals] = func(ctx context.Context) error {
			for _, sg := range r.Signals {
				err := s.signals.Add(ctx, string(sg.Window.Kind), sg.Window.Start, sg.Window.End, sg.Signal, sg.Pool, sg.Region, sg.Country,
					sg.Beta.Value, sg.Beta.Lower, sg.Beta.Upper, sg.PValue, sg.Events, sg.Shed.Value, sg.ShedPower.Value,
					sg.Final, sg.Blocks, sg.ModelVersion, sg.Method, sg.InputsDigest, r.ComputedAt, version)
				if err != nil {
					return err
				}
			}
			return nil
		}
	}
	if len(r.Network) > 0 || r.Recent != nil {
		out[s.network] = func(ctx context.Context) error {
			for _, n := range r.Network {
				luck := n.LuckInterval()
				err := s.network.Add(ctx, string(n.Window.Kind), n.Window.Start, n.Window.End,
					n.Hashrate.Value, n.Hashrate.Lower, n.Hashrate.Upper, luck.Value, luck.Lower, luck.Upper, n.ExpectedBlocks,
					n.Final, n.Blocks, n.ModelVersion, n.Method, n.InputsDigest, r.ComputedAt, version)
				if err != nil {
					return err
				}
			}
			if rec := r.Recent; rec != nil {
				expected := rec.To.Sub(rec.From).Seconds() / estimate.BlockSeconds
				luck, lo, hi := 0.0, 0.0, 0.0
				if expected > 0 {
					luck = float64(rec.N) / expected
					scale := luck / rec.Hashrate.Value
					lo, hi = rec.Hashrate.Lower*scale, rec.Hashrate.Upper*scale
				}
				err := s.network.Add(ctx, schemas.WindowLastN, rec.From, rec.To,
					rec.Hashrate.Value, rec.Hashrate.Lower, rec.Hashrate.Upper, luck, lo, hi, expected,
					false, rec.N+1, rec.ModelVersion, rec.Method, rec.InputsDigest, r.ComputedAt, version)
				if err != nil {
					return err
				}
			}
			return nil
		}
	}
	return out
}

// addPoolStats stores a pool-statistics observation; a figure the source did not report is
// stored as 0 with its *_reported flag 0.
func (s *EstimateStore) addPoolStats(ctx context.Context, p schemas.PoolStats, version uint64) error {
	var hs float64
	var blocks int64
	if p.HashrateHS != nil {
		hs = *p.HashrateHS
	}
	if p.Blocks != nil {
		blocks = *p.Blocks
	}
	return s.poolStats.Add(ctx, p.Pool, p.Time, p.IntervalSeconds, hs, blocks, p.HashrateHS != nil, p.Blocks != nil, p.Source, version)
}

func (s *EstimateStore) addGrid(ctx context.Context, g schemas.GridObservation, version uint64) error {
	return s.grid.Add(ctx, g.Region, g.Country, g.Time, g.IntervalSeconds, g.Metric, g.Value, g.Unit, g.Source, version)
}

func (s *EstimateStore) addBlock(ctx context.Context, b schemas.Block, version uint64) error {
	bits, err := strconv.ParseUint(b.Bits, 16, 32)
	if err != nil {
		return fmt.Errorf("block %d: bits %q: %w", b.Height, b.Bits, err)
	}
	workF, err := strconv.ParseFloat(b.Work, 64)
	if err != nil {
		return fmt.Errorf("block %d: work %q: %w", b.Height, b.Work, err)
	}
	addrs := b.CoinbaseAddresses
	if addrs == nil {
		addrs = []string{}
	}
	return s.blocks.Add(ctx, b.Height, b.Hash, b.PrevHash, b.Time, uint32(bits), b.Difficulty, b.Work, workF, b.TxCount,
		b.CoinbaseScriptHex, b.CoinbaseASCII, addrs, b.Pool, b.PoolRegistryVersion, b.AttributionMethod, b.Source,
		b.ObservedAt, version)
}

func (s *EstimateStore) addEpoch(ctx context.Context, e schemas.DifficultyEpoch, version uint64) error {
	bits, err := strconv.ParseUint(e.Bits, 16, 32)
	if err != nil {
		return fmt.Errorf("epoch %d: bits %q: %w", e.StartHeight, e.Bits, err)
	}
	// first_block_time is unknown for an epoch entered mid-way: 1970-01-01 marks "unknown" (the
	// column is not Nullable on the 18.16 server), documented in the migration.
	var first any = int64(0)
	if e.FirstBlockTime != nil {
		first = *e.FirstBlockTime
	}
	return s.epochs.Add(ctx, e.StartHeight, uint32(bits), e.Difficulty, first, e.Source, version)
}

// Close closes every writer, flushing what is buffered. It returns by the time ctx ends, with
// the rows not written by then still buffered (Writer.Close).
func (s *EstimateStore) Close(ctx context.Context) error {
	var errs []error
	for _, w := range s.all {
		errs = append(errs, w.Close(ctx))
	}
	return errors.Join(errs...)
}
