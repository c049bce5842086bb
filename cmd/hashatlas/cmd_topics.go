package main

import (
	"context"
	"fmt"

	"github.com/hashatlas/hashatlas/schemas"
	"github.com/hashatlas/hashatlas/sinks/kafka"
)

func setupTopics(c *cli) (runFunc, error) {
	kCfg := c.kafkaFlags()
	return func(ctx context.Context) error {
		if err := c.connectKafka(ctx, kCfg); err != nil {
			return err
		}
		specs := schemas.Topics()
		if err := kafka.EnsureTopics(ctx, *kCfg, specs); err != nil {
			return err
		}
		for _, t := range specs {
			policy := "delete"
			if t.Compacted {
				policy = "compact"
			}
			fmt.Fprintf(c.stdout, "%-28s partitions=%d cleanup.policy=%s\n", t.Name, t.Partitions, policy)
		}
		return nil
	}, nil
}
