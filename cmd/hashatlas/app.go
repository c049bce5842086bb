package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// Exit codes of the binary.
const (
	exitOK     = 0 // the command did what it was asked
	exitFailed = 1 // the command ran and failed (unreachable service, bad data, refused migration)
	exitUsage  = 2 // the command line or configuration is invalid; nothing was done
)

// command is one subcommand: its flags are registered on a fresh flag set by setup, which
// returns the function that runs it once the flags are parsed, validated and printed (for
// --check-config).
type command struct {
	name    string
	summary string
	// args is the synopsis of the positional arguments in --help ("KIND"), and more says what
	// they may be; both empty for commands that take none.
	args, more string
	setup      func(c *cli) (runFunc, error)
	// setupArgs, when set instead of setup, also takes the positional arguments before the
	// flags (collect SOURCE, report KIND) and returns the rest.
	setupArgs func(c *cli, args []string) (runFunc, []string, error)
}

// runFunc runs a parsed and validated subcommand.
type runFunc func(ctx context.Context) error

func commands() []command {
	return []command{
		{name: "version", summary: "print the version, commit and build date", setup: setupVersion},
		{name: "migrate", summary: "apply pending ClickHouse migrations (idempotent)", setup: setupMigrate},
		{name: "topics", summary: "create the Kafka topics with their declared configs (idempotent)", setup: setupTopics},
		{name: "collect", summary: "collect from one source into Kafka: blocks (bitcoind, esplora, file), pool statistics, grid power (--once or --schedule)", setupArgs: setupCollect,
			args: "SOURCE", more: "SOURCE is one of " + strings.Join(collectSources, ", ") + "; 'hashatlas collect SOURCE --help' adds the source's own flags."},
		{name: "estimate", summary: "run the estimator: blocks from Kafka to estimates in ClickHouse and on the estimates topic", setup: setupEstimate},
		{name: "simulate", summary: "publish a seeded simulated world (blocks, difficulty, grid, pool stats) into Kafka and write its truth", setup: setupSimulate},
		{name: "demo", summary: "the whole pipeline in one process on embedded Kafka and ClickHouse: real history (or a simulated world), estimates, a summary and charts", setup: setupDemo},
		{name: "run", summary: "live mode: the estimator and the collectors on their cron schedules in one process (add --kafka.embedded --clickhouse.embedded-dir DIR for a one-machine pipeline)", setup: setupRun},
		{name: "replay", summary: "replay block history files through Kafka and the estimator into ClickHouse, then exit", setup: setupReplay},
		{name: "reattribute", summary: "re-apply a pool registry to every block in the blocks topic and re-publish the changed ones", setup: setupReattribute},
		{name: "sql", summary: "run one SQL statement against ClickHouse (server or embedded) and print its rows (statements without rows, such as CREATE VIEW, print nothing); any statement runs, DROP included, unless --sql.readonly", setupArgs: setupSQL,
			args: `"QUERY"`, more: "Without --clickhouse.addr or --clickhouse.embedded-dir it reads the demo's database (" + demoDatabaseDir + ") when that exists; it says on stderr which database it read."},
		{name: "report", summary: "print estimates from ClickHouse (network, pools, countries, regions, power, signals, grid, pool-stats, stress) as a table, CSV or JSON, or draw them as a PNG or SVG chart", setupArgs: setupReport,
			args: "KIND", more: "KIND is one of " + strings.Join(reportKinds, ", ") + " (charts: " + strings.Join(chartKinds, ", ") + "). Without --clickhouse.addr or --clickhouse.embedded-dir it reads the demo's database (" + demoDatabaseDir + ") when that exists; it says on stderr which database it read."},
		{name: "backtest", summary: "score the country model on the real block history against published country shares, each as of its period's end and without its own source: errors, 95 % interval coverage, interval scores", setup: setupBacktest},
	}
}

// usageError marks errors in the command line or configuration: they exit with exitUsage.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(stdout)
		return exitOK
	}
	name := args[0]
	var cmd *command
	for _, c := range commands() {
		if c.name == name {
			c := c
			cmd = &c
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "hashatlas: unknown command %q (try: %s)\n", name, strings.Join(commandNames(), ", "))
		return exitUsage
	}

	c := newCLI(name, stdout, stderr)
	var runFn runFunc
	var err error
	rest := args[1:]
	if cmd.setupArgs != nil {
		runFn, rest, err = cmd.setupArgs(c, rest)
	} else {
		runFn, err = cmd.setup(c)
	}
	if err == nil {
		err = c.parse(rest)
	}
	if err == nil && c.checkConfig {
		c.printConfig()
		return exitOK
	}
	if err != nil {
		if errors.Is(err, errHelp) {
			c.printHelp(*cmd)
			return exitOK
		}
		fmt.Fprintf(stderr, "hashatlas %s: %v\n", name, err)
		return exitUsage
	}
	// The first SIGINT or SIGTERM asks the command to stop and starts its shutdown budget; a
	// second one ends the process at once (the signals' default action is restored).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	c.shutdown = watchShutdown(ctx, c.shutdownTimeout)
	defer c.shutdown.release()
	done := make(chan error, 1)
	go func() {
		err := runFn(ctx)
		c.close()
		done <- err
	}()
	select {
	case err = <-done:
	case <-c.shutdown.expired:
		// Whatever still runs (a write to a server that stopped answering, a broker that does
		// not let go) is abandoned: main exits with it.
		fmt.Fprintln(stderr, budgetExceeded(name, c.shutdownTimeout))
		return exitFailed
	}
	if err != nil {
		fmt.Fprintf(stderr, "hashatlas %s: %v\n", name, oneLine(err))
		var ue usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitFailed
	}
	return exitOK
}

// oneLine folds a multi-line error (errors.Join) into one line, so a failing command prints
// exactly one line that says what to fix.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}

func commandNames() []string {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	sort.Strings(names)
	return names
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "hashatlas estimates where the world's Bitcoin hashrate sits, country by country.\n\n")
	fmt.Fprintf(w, "Usage: hashatlas COMMAND [flags]\n\nCommands:\n")
	width := 0
	for _, c := range commands() {
		width = max(width, len(c.name))
	}
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
	}
	fmt.Fprintf(w, "\nEvery flag can also be set by environment: --kafka.brokers is HASHATLAS_KAFKA_BROKERS.\n")
	fmt.Fprintf(w, "Every command takes --check-config: validate, print the effective config, exit.\n")
	fmt.Fprintf(w, "Run 'hashatlas COMMAND --help' for its flags.\n")
}
