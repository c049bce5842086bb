package main

import (
	"context"
	"fmt"

	"github.com/hashatlas/hashatlas/sinks/clickhouse"
	"github.com/hashatlas/hashatlas/sinks/kafka"
)

// kafkaFlags registers the Kafka flags on the command and returns the config they fill.
func (c *cli) kafkaFlags() *kafka.Config {
	cfg := &kafka.Config{}
	cfg.RegisterFlags(c.fs)
	c.addValidator(func() error { return cfg.Validate() }) // evaluated after parsing
	return cfg
}

// clickhouseFlags registers the ClickHouse flags on the command and returns the config they fill.
func (c *cli) clickhouseFlags() *clickhouse.Config {
	cfg := &clickhouse.Config{}
	cfg.RegisterFlags(c.fs)
	c.addValidator(func() error { return cfg.Validate() }) // evaluated after parsing
	return cfg
}

// connectKafka starts the embedded broker when --kafka.embedded is set (pointing the config at
// it), then checks that a broker answers. The embedded broker stops when the command ends.
func (c *cli) connectKafka(ctx context.Context, cfg *kafka.Config) error {
	if cfg.Embedded {
		b, err := kafka.StartEmbedded(cfg.EmbeddedPort, c.logger().WithField("component", "kfake"))
		if err != nil {
			return fmt.Errorf("start the embedded kafka broker (--kafka.embedded-port / %s): %w", envName("kafka.embedded-port"), err)
		}
		c.onClose(b.Close)
		cfg.Brokers = []string{b.Addr()}
	}
	return kafka.Ping(ctx, *cfg)
}

// openClickHouse opens the configured ClickHouse (server or embedded engine), creating the
// database if it is missing. It is closed when the command ends. An address that turns out to
// be ClickHouse's HTTP port fails within a second or two, saying so (openServerOrExplain).
func (c *cli) openClickHouse(ctx context.Context, cfg *clickhouse.Config) (*clickhouse.DB, error) {
	reg, err := c.metrics()
	if err != nil {
		return nil, err
	}
	db, err := openServerOrExplain(ctx, cfg, func(ctx context.Context) (*clickhouse.DB, error) {
		return clickhouse.Open(ctx, *cfg, c.logger().WithField("component", "clickhouse"), reg)
	})
	if err != nil {
		return nil, err
	}
	c.onClose(func() { _ = db.Close() })
	return db, nil
}
