package simulate

import (
	"context"
	"fmt"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/schemas"
	"github.com/sirupsen/logrus"
)

// DefaultBatchSize is how many messages the collector publishes at once unless told otherwise.
const DefaultBatchSize = 10000

// Collector is the simulator as a source: each pass publishes every message of its world
// (World.Messages) through the publisher, in batches. The world is deterministic, so a second
// pass publishes the same keys with the same content, which compacted topics and the
// ReplacingMergeTree tables absorb: re-running is idempotent. It implements ingest.Collector.
type Collector struct {
	w     *World
	pub   ingest.Publisher
	batch int
	log   logrus.FieldLogger
}

// NewCollector returns the simulator source for world w. batchSize <= 0 means
// DefaultBatchSize; a nil log discards.
func NewCollector(w *World, pub ingest.Publisher, batchSize int, log logrus.FieldLogger) *Collector {
	if batchSize <= 0 {
		batchSize = DefaultBatchSize
	}
	log = ingest.OrDiscard(log)
	return &Collector{w: w, pub: pub, batch: batchSize, log: log.WithField("source", "simulate")}
}

// Name is "simulate".
func (c *Collector) Name() string { return "simulate" }

// Collect publishes the whole world. It stops at the first failed publish, or when ctx ends,
// and returns the error; what was published before stays published.
func (c *Collector) Collect(ctx context.Context) error {
	batch := make([]schemas.Message, 0, c.batch)
	published := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("publish simulated messages %d to %d: %w", published, published+len(batch)-1, err)
		}
		if err := c.pub.Publish(ctx, batch...); err != nil {
			return fmt.Errorf("publish simulated messages %d to %d (first %s key %s): %w",
				published, published+len(batch)-1, batch[0].SchemaName(), batch[0].Key(), err)
		}
		published += len(batch)
		batch = batch[:0]
		return nil
	}
	for m := range c.w.Messages() {
		batch = append(batch, m)
		if len(batch) == c.batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	s := c.w.Summary()
	c.log.WithFields(logrus.Fields{
		"messages": published, "blocks": s.Blocks, "epochs": s.Epochs, "grid_observations": s.GridObservations,
		"pool_stats": s.PoolStats, "seed": s.Seed, "height": s.LastHeight,
	}).Info("simulated world published")
	return nil
}
