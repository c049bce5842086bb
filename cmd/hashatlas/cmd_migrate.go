package main

import (
	"context"
	"fmt"

	"github.com/hashatlas/hashatlas/schemas"
	"github.com/hashatlas/hashatlas/sinks/clickhouse"
)

func setupMigrate(c *cli) (runFunc, error) {
	chCfg := c.clickhouseFlags()
	return func(ctx context.Context) error {
		migrations, err := schemas.Migrations()
		if err != nil {
			return err
		}
		db, err := c.openClickHouse(ctx, chCfg)
		if err != nil {
			return err
		}
		applied, err := clickhouse.Migrate(ctx, db, migrations, c.logger().WithField("component", "migrate"))
		if err != nil {
			return err
		}
		if len(applied) == 0 {
			fmt.Fprintf(c.stdout, "database %s is up to date (%d migrations)\n", chCfg.Database, len(migrations))
			return nil
		}
		fmt.Fprintf(c.stdout, "applied %d of %d migrations to database %s:\n", len(applied), len(migrations), chCfg.Database)
		for _, name := range applied {
			fmt.Fprintf(c.stdout, "  %s\n", name)
		}
		return nil
	}, nil
}
