// Package chain is the block and difficulty collector over any ingest.BlockSource (Bitcoin Core
// RPC, Esplora): it resumes after the last block in the blocks topic, checks prev-hash
// continuity against what it published, re-publishes the heights a reorg replaced, attributes
// each block to its pool, and derives difficulty-epoch messages from the blocks.
package chain

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/ingest/pools"
	"github.com/hashatlas/hashatlas/schemas"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
)

// EpochBlocks is the number of blocks between difficulty retargets.
const EpochBlocks = 2016

// Config tunes the collector.
type Config struct {
	// StartHeight is where a first run (an empty topic) starts. Default (-1): one epoch
	// (2016 blocks) behind the source's tip.
	StartHeight int64
	// ReorgDepth is how many published blocks are checked against the source before a pass
	// continues. Default: 12.
	ReorgDepth int
	// MaxBlocks caps the blocks one pass publishes (0: up to the tip). A capped pass ends
	// without error; the next continues.
	MaxBlocks int
	// BatchSize is how many blocks are published at once; what was published before an error
	// stays published. Default: 50.
	BatchSize int
	// Now is the clock for observed_at. Default: time.Now.
	Now func() time.Time
}

// Collector is the chain collector. It implements ingest.Collector.
type Collector struct {
	cfg      Config
	src      ingest.BlockSource
	registry *pools.Registry
	pub      ingest.Publisher
	blocks   ingest.BlockLog
	log      logrus.FieldLogger

	published prometheus.Counter
	orphaned  prometheus.Counter
	tipGauge  prometheus.Gauge
}

// New returns a collector reading src, attributing with registry, publishing to pub and
// resuming from blocks. Metrics go to reg (nil: none).
func New(cfg Config, src ingest.BlockSource, registry *pools.Registry, pub ingest.Publisher, blocks ingest.BlockLog,
	log logrus.FieldLogger, reg prometheus.Registerer) (*Collector, error) {
	if cfg.ReorgDepth <= 0 {
		cfg.ReorgDepth = 12
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 50
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log = ingest.OrDiscard(log)
	c := &Collector{
		cfg: cfg, src: src, registry: registry, pub: pub, blocks: blocks,
		log: log.WithField("source", src.Name()),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hashatlas_chain_blocks_published_total", Help: "Blocks published by the chain collector.",
			ConstLabels: prometheus.Labels{"source": src.Name()},
		}),
		orphaned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hashatlas_chain_blocks_orphaned_total", Help: "Published blocks found replaced by a reorg.",
			ConstLabels: prometheus.Labels{"source": src.Name()},
		}),
		tipGauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hashatlas_chain_source_tip_height", Help: "The source's best-chain height at the last pass.",
			ConstLabels: prometheus.Labels{"source": src.Name()},
		}),
	}
	if reg != nil {
		for _, m := range []prometheus.Collector{c.published, c.orphaned, c.tipGauge} {
			if err := reg.Register(m); err != nil {
				return nil, fmt.Errorf("register chain collector metrics: %w", err)
			}
		}
	}
	return c, nil
}

// Name is the source's name.
func (c *Collector) Name() string { return c.src.Name() }

// Orphan is a published block that a reorg replaced.
type Orphan struct {
	Height int64
	Hash   string
}

// Collect does one pass: check the last published blocks against the source, then publish
// every block from the first new (or replaced) height up to the tip.
func (c *Collector) Collect(ctx context.Context) error {
	tip, err := c.src.TipHeight(ctx)
	if err != nil {
		return fmt.Errorf("read the tip: %w", err)
	}
	c.tipGauge.Set(float64(tip))
	last, err := c.blocks.LastBlocks(ctx, c.cfg.ReorgDepth)
	if err != nil {
		return fmt.Errorf("read the last published blocks: %w", err)
	}
	if n := len(last); n > 0 && last[n-1].Height > tip {
		// A source behind what was published (a lagging backend, or a node still syncing) says
		// nothing about those heights yet: wait until it has caught up.
		c.log.WithFields(logrus.Fields{"height": last[n-1].Height, "tip": tip}).Warn("source tip is below the last published block, skipping the pass")
		return nil
	}
	start, prevHash, orphans, err := c.resumePoint(ctx, tip, last)
	if err != nil {
		return err
	}
	// An orphan is counted once the block replacing it is published, so that a pass that fails
	// before that does not count it again in the next pass.
	orphanAt := map[int64]Orphan{}
	for _, o := range orphans {
		orphanAt[o.Height] = o
	}
	end := tip
	if c.cfg.MaxBlocks > 0 && start+int64(c.cfg.MaxBlocks)-1 < end {
		end = start + int64(c.cfg.MaxBlocks) - 1
	}
	if start > end {
		c.log.WithField("height", tip).Debug("no new blocks")
		return nil
	}
	if start%EpochBlocks != 0 && len(last) == 0 {
		// A first run starting inside an epoch publishes that epoch too.
		if err := c.publishEpochOf(ctx, start); err != nil {
			return err
		}
	}
	batch := make([]schemas.Message, 0, c.cfg.BatchSize+1)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := c.pub.Publish(ctx, batch...); err != nil {
			return fmt.Errorf("publish blocks up to height %d: %w", lastHeight(batch), err)
		}
		for _, m := range batch {
			b, ok := m.(schemas.Block)
			if !ok {
				continue
			}
			c.published.Inc()
			if o, ok := orphanAt[b.Height]; ok {
				c.orphaned.Inc()
				c.log.WithFields(logrus.Fields{"height": o.Height, "hash": o.Hash, "replaced_by": b.Hash}).Warn("published block replaced by a reorg, height re-published")
				delete(orphanAt, b.Height)
			}
		}
		batch = batch[:0]
		return nil
	}
	for h := start; h <= end; h++ {
		cb, err := c.src.BlockAt(ctx, h)
		if err != nil {
			return errors.Join(fmt.Errorf("read block %d: %w", h, err), flush())
		}
		if prevHash != "" && cb.PrevHash != prevHash {
			// The source's chain changed under us; what is published is consistent up to h-1,
			// and the next pass's reorg check resolves the rest.
			return errors.Join(fmt.Errorf("block %d: prev_hash %s does not continue %s: the source reorganised during the pass; the next pass resolves it",
				h, cb.PrevHash, prevHash), flush())
		}
		b, err := c.toBlock(cb)
		if err != nil {
			return errors.Join(err, flush())
		}
		batch = append(batch, b)
		if h%EpochBlocks == 0 {
			batch = append(batch, epochOf(b, c.src.Name()))
		}
		prevHash = cb.Hash
		if len(batch) >= c.cfg.BatchSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	c.log.WithFields(logrus.Fields{"from": start, "to": end, "tip": tip}).Info("blocks published")
	return nil
}

// resumePoint finds where to continue: after the highest published block that the source
// still has, re-publishing any above it that a reorg replaced.
func (c *Collector) resumePoint(ctx context.Context, tip int64, last []schemas.Block) (int64, string, []Orphan, error) {
	if len(last) == 0 {
		start := c.cfg.StartHeight
		if start < 0 {
			start = max(0, tip-EpochBlocks)
		}
		return start, "", nil, nil
	}
	var orphans []Orphan
	for i := len(last) - 1; i >= 0; i-- {
		pb := last[i]
		if pb.Hash == "" {
			// Blocks from a file replay carry no hash: nothing to compare; continue after them.
			return last[len(last)-1].Height + 1, "", nil, nil
		}
		cb, err := c.src.BlockAt(ctx, pb.Height)
		if err != nil {
			return 0, "", nil, fmt.Errorf("check published block %d against the source: %w", pb.Height, err)
		}
		if cb.Hash == pb.Hash {
			return pb.Height + 1, pb.Hash, orphans, nil
		}
		orphans = append(orphans, Orphan{pb.Height, pb.Hash})
	}
	return 0, "", nil, fmt.Errorf("the last %d published blocks (heights %d–%d) are all off the source's best chain: a reorg deeper than --chain.reorg-depth, or another chain; refusing to continue",
		len(last), last[0].Height, last[len(last)-1].Height)
}

func (c *Collector) publishEpochOf(ctx context.Context, height int64) error {
	first := height - height%EpochBlocks
	cb, err := c.src.BlockAt(ctx, first)
	if err != nil {
		return fmt.Errorf("read the first block %d of the epoch of %d: %w", first, height, err)
	}
	b, err := c.toBlock(cb)
	if err != nil {
		return err
	}
	if err := c.pub.Publish(ctx, epochOf(b, c.src.Name())); err != nil {
		return fmt.Errorf("publish the epoch at %d: %w", first, err)
	}
	return nil
}

// toBlock attributes a source block and fills in difficulty and work from its bits.
func (c *Collector) toBlock(cb ingest.ChainBlock) (schemas.Block, error) {
	work, err := schemas.WorkFromBits(cb.Bits)
	if err != nil {
		return schemas.Block{}, fmt.Errorf("block %d from %s: %w", cb.Height, c.src.Name(), err)
	}
	diff, err := schemas.DifficultyFromBits(cb.Bits)
	if err != nil {
		return schemas.Block{}, fmt.Errorf("block %d from %s: %w", cb.Height, c.src.Name(), err)
	}
	ascii := pools.PrintableASCII(cb.CoinbaseScript)
	attr := c.registry.Attribute(cb.CoinbaseAddresses, ascii)
	b := schemas.Block{
		Height: cb.Height, Hash: cb.Hash, PrevHash: cb.PrevHash, Time: cb.Time.UTC(), Bits: cb.Bits,
		Difficulty: diff, Work: work, TxCount: cb.TxCount, CoinbaseScriptHex: fmt.Sprintf("%x", cb.CoinbaseScript),
		CoinbaseASCII: ascii, CoinbaseAddresses: cb.CoinbaseAddresses, Pool: attr.Pool,
		PoolRegistryVersion: attr.RegistryVersion, AttributionMethod: attr.Method, Source: c.src.Name(),
		ObservedAt: c.cfg.Now().UTC(),
	}
	if err := b.Validate(); err != nil {
		return schemas.Block{}, fmt.Errorf("block %d from %s: %w", cb.Height, c.src.Name(), err)
	}
	return b, nil
}

// epochOf is the difficulty-epoch message whose first block is b.
func epochOf(b schemas.Block, source string) schemas.DifficultyEpoch {
	t := b.Time
	start := b.Height - b.Height%EpochBlocks
	e := schemas.DifficultyEpoch{
		Epoch: start / EpochBlocks, StartHeight: start, Bits: b.Bits, Difficulty: b.Difficulty, Source: source,
	}
	if start == b.Height {
		e.FirstBlockTime = &t
	}
	return e
}

func lastHeight(batch []schemas.Message) int64 {
	for i := len(batch) - 1; i >= 0; i-- {
		if b, ok := batch[i].(schemas.Block); ok {
			return b.Height
		}
	}
	return -1
}
