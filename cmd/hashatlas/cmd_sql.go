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
	c.fs.BoolVar(&chCfg.ReadOnly, "sql.readonly", false,
		"run the statement with ClickHouse's readonly = 1 setting: reads (SELECT, SHOW, DESCRIBE, EXISTS, EXPLAIN) only; a statement that writes, drops or changes settings is refused (set it where the command is shared; without it any statement runs, DROP included)")
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
		err = runSQL(ctx, c, db, query, format, chCfg)
		if err != nil && chCfg.ReadOnly && clickhouse.IsReadOnlyRefusal(err) {
			return fmt.Errorf("refused by --sql.readonly (env %s), which runs only statements that read: %w", envName("sql.readonly"), err)
		}
		return err
	}, args[1:], nil
}

// runSQL runs one statement and prints its rows, within --clickhouse.query-timeout.
func runSQL(ctx context.Context, c *cli, db *clickhouse.DB, query, format string, chCfg *clickhouse.Config) error {
	ctx, cancel := context.WithTimeout(ctx, chCfg.QueryTimeout)
	defer cancel()
	if !clickhouse.ReturnsRows(query) {
		return db.Exec(ctx, query) // DDL, INSERT …: nothing to print
	}
	res, err := db.Query(ctx, query)
	if err != nil {
		return err
	}
	return clickhouse.WriteResult(c.stdout, res, format)
}
