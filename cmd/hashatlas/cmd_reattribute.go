package main

import (
	"context"
	"fmt"

	"github.com/hashatlas/hashatlas/ingest/chain"
	"github.com/hashatlas/hashatlas/schemas"
	"github.com/hashatlas/hashatlas/sinks/kafka"
)

func setupReattribute(c *cli) (runFunc, error) {
	kCfg := c.kafkaFlags()
	var rg registryFlags
	rg.register(c.fs)
	return func(ctx context.Context) error {
		if err := c.connectKafka(ctx, kCfg); err != nil {
			return err
		}
		reg, err := rg.load(ctx, c)
		if err != nil {
			return err
		}
		tr, err := kafka.NewTopicReader(*kCfg, c.logger())
		if err != nil {
			return err
		}
		// The latest message per height is the block in force (keys are heights, and one key
		// always lands on the same partition, so offset order is publication order).
		latest := map[int64]schemas.Block{}
		n, err := tr.ReadAll(ctx, []string{schemas.TopicBlocks}, func(r kafka.Record) error {
			if b, ok := r.Message.(*schemas.Block); ok {
				latest[b.Height] = *b
			}
			return nil
		}, nil)
		if err != nil {
			return err
		}
		var changed []schemas.Message
		kept := 0
		for _, b := range latest {
			nb, ok := chain.Reattribute(reg, b)
			if !ok {
				kept++
				continue
			}
			changed = append(changed, nb)
		}
		metrics, err := c.metrics()
		if err != nil {
			return err
		}
		w, err := kafka.NewWriter(*kCfg, c.logger(), metrics)
		if err != nil {
			return err
		}
		defer w.Close()
		const batch = 2000
		for i := 0; i < len(changed); i += batch {
			if err := w.Publish(ctx, changed[i:min(i+batch, len(changed))]...); err != nil {
				return fmt.Errorf("re-publish re-attributed blocks (%d of %d done; run again to finish): %w", i, len(changed), err)
			}
		}
		fmt.Fprintf(c.stdout, "read %d messages for %d heights; re-attributed %d blocks with registry %s; %d unchanged or without a coinbase\n",
			n, len(latest), len(changed), reg.Version(), kept)
		return nil
	}, nil
}
