package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashatlas/hashatlas/sinks/clickhouse"
)

func setupSQL(c *cli, args []string) (runFunc, []string, error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return nil, nil, fmt.Errorf(`sql needs a query, e.g. hashatlas sql "SELECT * FROM network_hashrate_latest LIMIT 5"`)
	}
	query := args[0]
	chCfg := c.clickhouseFlags()
	var format string
	c.fs.StringVar(&format, "format", "table", "output format: table, csv or json")
	c.addValidator(func() error {
		switch format {
		case clickhouse.FormatTable, clickhouse.FormatCSV, clickhouse.FormatJSON:
			return nil
		}
		return flagErr("format", format, "must be table, csv or json")
	})
	return func(ctx context.Context) error {
		db, err := c.openClickHouse(ctx, chCfg)
		if err != nil {
			return err
		}
		if !clickhouse.ReturnsRows(query) {
			return db.Exec(ctx, query) // DDL, INSERT …: nothing to print
		}
		res, err := db.Query(ctx, query)
		if err != nil {
			return err
		}
		return clickhouse.WriteResult(c.stdout, res, format)
	}, args[1:], nil
}
