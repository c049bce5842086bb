package main

import (
	"context"
	"fmt"

	"github.com/hashatlas/hashatlas/sinks/clickhouse"
)

func setupSQL(c *cli, args []string) (runFunc, []string, error) {
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
	target := c.readTargetFlags(chCfg)
	// Flags may come before or after the query.
	positional, rest := splitPositional(c.fs, args)
	switch {
	case len(positional) == 0 && helpAsked(args):
		return nil, nil, errHelp
	case len(positional) == 0:
		return nil, nil, fmt.Errorf(`sql needs a query, e.g. hashatlas sql "SELECT * FROM network_hashrate_latest LIMIT 5"`)
	case len(positional) > 1:
		return nil, nil, fmt.Errorf("sql takes one query, in quotes; %q is a second argument", positional[1])
	}
	query := positional[0]
	return func(ctx context.Context) error {
		db, err := target.open(ctx, c, false)
		if err != nil {
			return err
		}
		err = runSQL(ctx, c, db, query, format, chCfg, target)
		if err != nil && chCfg.ReadOnly && clickhouse.IsReadOnlyRefusal(err) {
			return fmt.Errorf("refused by --sql.readonly (env %s), which runs only statements that read: %w", envName("sql.readonly"), err)
		}
		return target.explain(ctx, db, err)
	}, rest, nil
}

// runSQL runs one statement and prints its rows, within --clickhouse.query-timeout; once the
// statement has run, one line on stderr says which database it ran on.
func runSQL(ctx context.Context, c *cli, db *clickhouse.DB, query, format string, chCfg *clickhouse.Config, target *readTarget) error {
	ctx, cancel := context.WithTimeout(ctx, chCfg.QueryTimeout)
	defer cancel()
	if !clickhouse.ReturnsRows(query) {
		if err := db.Exec(ctx, query); err != nil { // DDL, INSERT …: nothing to print
			return err
		}
		target.announce(c)
		return nil
	}
	res, err := db.Query(ctx, query)
	if err != nil {
		return err
	}
	target.announce(c)
	return clickhouse.WriteResult(c.stdout, res, format)
}
