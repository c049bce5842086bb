package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/ingest/bitcoind"
	"github.com/hashatlas/hashatlas/ingest/chain"
	"github.com/hashatlas/hashatlas/ingest/esplora"
	"github.com/hashatlas/hashatlas/ingest/pools"
	"github.com/hashatlas/hashatlas/ingest/replay"
	"github.com/hashatlas/hashatlas/schemas"
	"github.com/hashatlas/hashatlas/sinks/kafka"
)

// collectSources are the sources of `hashatlas collect SOURCE` (sorted when listed).
var collectSources = []string{"bitcoind", "esplora", "file"}

// collectorBuilder is a source's build step, given the publisher and the reader of what the
// topics already hold (to resume).
type collectorBuilder func(ctx context.Context, pub ingest.Publisher, log *kafka.TopicReader) (ingest.Collector, error)

// extraCollectors are sources defined in their own files (cmd_collect_*.go): each registers its
// flags on c and returns its build step. They register themselves from init.
var extraCollectors = map[string]func(c *cli) collectorBuilder{}

// registerCollector adds a source to `collect`; called from init.
func registerCollector(name string, setup func(c *cli) collectorBuilder) {
	if _, dup := extraCollectors[name]; dup {
		panic("collector " + name + " registered twice")
	}
	extraCollectors[name] = setup
	collectSources = append(collectSources, name)
	sort.Strings(collectSources)
}

// runFlags is how a collector runs: one pass, or on a cron schedule.
type runFlags struct {
	once        bool
	schedule    string
	passTimeout time.Duration
}

func (r *runFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&r.once, "once", false, "run one pass and exit: 0 when it succeeded, 1 when it failed (the Kubernetes CronJob mode; the default when --schedule is empty)")
	fs.StringVar(&r.schedule, "schedule", "", `run a pass on this cron schedule in UTC until stopped, e.g. "*/10 * * * *" or "@every 10m"`)
	fs.DurationVar(&r.passTimeout, "pass-timeout", 30*time.Minute, "stop a pass that runs longer than this")
}

func (r *runFlags) validate() error {
	if r.once && r.schedule != "" {
		return flagErr("schedule", r.schedule, "give either --once or --schedule, not both")
	}
	if r.schedule != "" {
		if _, err := ingest.ParseSchedule(r.schedule); err != nil {
			return flagErr("schedule", r.schedule, err.Error())
		}
	}
	if r.passTimeout <= 0 {
		return flagErr("pass-timeout", r.passTimeout.String(), "must be positive")
	}
	return nil
}

// registryFlags selects the pool registry.
type registryFlags struct {
	source  string
	version string
}

func (r *registryFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.source, "pools.registry", "", "pool registry in the pools-v2.json format: a file or an http(s) URL (empty: the registry built into hashatlas)")
	fs.StringVar(&r.version, "pools.registry-version", "", "version recorded with every attribution (empty: a digest of the registry's content)")
}

func (r *registryFlags) load(ctx context.Context, c *cli) (*pools.Registry, error) {
	switch {
	case r.source == "":
		return pools.Default(), nil
	case strings.HasPrefix(r.source, "http://") || strings.HasPrefix(r.source, "https://"):
		return pools.Fetch(ctx, ingest.NewHTTPClient("pools.registry", ingest.HTTPConfig{}, nil, c.logger()), r.source, r.version)
	default:
		return pools.LoadFile(r.source, r.version)
	}
}

// dataDir is the reference data directory: HASHATLAS_DATA_DIR, else ../shared/data.
func dataDir() string {
	if d := os.Getenv("HASHATLAS_DATA_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "shared", "data")
}

// embeddedBrokerWarning is what `collect --kafka.embedded` says before it publishes.
const embeddedBrokerWarning = "warning: --kafka.embedded: the embedded broker lives only as long as this command, so what collect publishes into it is gone when it exits; " +
	"use --kafka.brokers, or `run --kafka.embedded` or `demo`, which keep the whole pipeline in one process"

func setupCollect(c *cli, args []string) (runFunc, []string, error) {
	kCfg := c.kafkaFlags()
	var rf runFlags
	rf.register(c.fs)
	c.addValidator(rf.validate)
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if helpAsked(args) {
			return nil, nil, errHelp // the flags every source has; SOURCE --help adds its own
		}
		return nil, nil, fmt.Errorf("collect needs a source first: hashatlas collect SOURCE [flags], SOURCE one of %s", strings.Join(collectSources, ", "))
	}
	source := args[0]
	build, err := sourceFlags(c, source)
	if err != nil {
		return nil, nil, err
	}

	return func(ctx context.Context) error {
		if kCfg.Embedded {
			fmt.Fprintln(c.stderr, embeddedBrokerWarning)
		}
		w, runner, err := c.openPublisher(ctx, kCfg, rf.passTimeout)
		if err != nil {
			return err
		}
		tr, err := kafka.NewTopicReader(*kCfg, c.logger())
		if err != nil {
			return err
		}
		col, err := build(ctx, w, tr)
		if err != nil {
			return err
		}
		if rf.schedule != "" {
			return runner.Schedule(ctx, rf.schedule, col)
		}
		return runner.RunOnce(ctx, col)
	}, args[1:], nil
}

// namedErr says which flag group a component's validation error concerns, unless it already
// names a flag; the Go field names a component's message may use (CookieFile) become the
// flags that set them (--bitcoind.cookie-file).
func namedErr(group string, err error) error {
	if err == nil || strings.Contains(err.Error(), "--") {
		return err
	}
	msg := strings.TrimPrefix(err.Error(), group+": ")
	for _, r := range fieldFlags[group] {
		msg = r.re.ReplaceAllString(msg, r.flag)
	}
	return fmt.Errorf("invalid --%s.* settings (env %s*): %s", group, envName(group)+"_", msg)
}

// fieldRename maps a Go field name (or phrase) in a component's error message to its flag.
type fieldRename struct {
	re   *regexp.Regexp
	flag string
}

func renames(pairs ...string) []fieldRename {
	var out []fieldRename
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, fieldRename{regexp.MustCompile(`\b` + regexp.QuoteMeta(pairs[i]) + `\b`), pairs[i+1]})
	}
	return out
}

// fieldFlags are the renames per flag group, longest field first.
var fieldFlags = map[string][]fieldRename{
	"bitcoind": renames("PasswordFile", "--bitcoind.password-file", "CookieFile", "--bitcoind.cookie-file",
		"Password", "--bitcoind.password", "User", "--bitcoind.user"),
	"esplora": renames("RequestsPerSecond", "--esplora.requests-per-second"),
	"mempool": renames("RequestsPerSecond", "--mempool.requests-per-second"),
	"braiins": renames("RequestsPerSecond", "--braiins.requests-per-second"),
	"gridcsv": renames("no file or URL to read", "--gridcsv.file is empty: set it to the CSV's path or http(s) URL"),
}

func filesExist(files map[string]string) error {
	var errs []error
	for flagName, path := range files {
		if _, err := os.Stat(path); err != nil {
			errs = append(errs, flagErr(flagName, path, "cannot read the file (set HASHATLAS_DATA_DIR or the flag)"))
		}
	}
	return errors.Join(errs...)
}

// sourceFlags registers the flags of one collect source on c and returns its build step.
func sourceFlags(c *cli, source string) (collectorBuilder, error) {
	var build collectorBuilder
	switch source {
	case "file":
		var blocks, epochs string
		c.fs.StringVar(&blocks, "blocks", filepath.Join(dataDir(), "blocks_2021_2026.csv.gz"), "block history CSV (height,time_unix,pool_slug[,bits_hex]), gzip or plain")
		c.fs.StringVar(&epochs, "difficulty", filepath.Join(dataDir(), "difficulty_epochs.csv"), "difficulty epochs CSV (epoch_start_height,bits_hex,difficulty)")
		c.addValidator(func() error { return filesExist(map[string]string{"blocks": blocks, "difficulty": epochs}) })
		build = func(ctx context.Context, pub ingest.Publisher, log *kafka.TopicReader) (ingest.Collector, error) {
			return replay.NewCollector(replay.Config{BlocksFile: blocks, EpochsFile: epochs}, pub, log, c.logger()), nil
		}
	case "esplora", "bitcoind":
		var rg registryFlags
		rg.register(c.fs)
		var cc chain.Config
		c.fs.Int64Var(&cc.StartHeight, "chain.start-height", -1, "height a first run (empty blocks topic) starts at (-1: one epoch, 2016 blocks, behind the tip)")
		c.fs.IntVar(&cc.ReorgDepth, "chain.reorg-depth", 12, "published blocks checked against the source before each pass")
		c.fs.IntVar(&cc.MaxBlocks, "chain.max-blocks", 0, "most blocks one pass publishes (0: up to the tip)")
		var newSource func() (ingest.BlockSource, error)
		if source == "esplora" {
			var ec esplora.Config
			c.fs.StringVar(&ec.BaseURL, "esplora.url", esplora.DefaultBaseURL, "base URL of the Esplora REST API (a mempool instance serves it under /api)")
			c.fs.Float64Var(&ec.HTTP.RequestsPerSecond, "esplora.requests-per-second", esplora.DefaultRequestsPerSecond, "request rate limit")
			c.fs.DurationVar(&ec.HTTP.Timeout, "esplora.timeout", 30*time.Second, "timeout of each request")
			c.addValidator(func() error { return namedErr("esplora", ec.Validate()) })
			newSource = func() (ingest.BlockSource, error) { return esplora.New(ec, nil, c.logger()) }
		} else {
			var bc bitcoind.Config
			c.fs.StringVar(&bc.URL, "bitcoind.url", bitcoind.DefaultURL, "Bitcoin Core JSON-RPC URL")
			c.fs.StringVar(&bc.CookieFile, "bitcoind.cookie-file", "", "RPC cookie file (e.g. ~/.bitcoin/.cookie); or use --bitcoind.user with a password")
			c.fs.StringVar(&bc.User, "bitcoind.user", "", "RPC user")
			c.fs.StringVar(&bc.Password, "bitcoind.password", "", "RPC password (set it through HASHATLAS_BITCOIND_PASSWORD, not the command line)")
			c.fs.StringVar(&bc.PasswordFile, "bitcoind.password-file", "", "file holding the RPC password")
			c.fs.DurationVar(&bc.HTTP.Timeout, "bitcoind.timeout", 30*time.Second, "timeout of each RPC call")
			c.addValidator(func() error { return namedErr("bitcoind", bc.Validate()) })
			newSource = func() (ingest.BlockSource, error) { return bitcoind.New(bc, nil, c.logger()) }
		}
		build = func(ctx context.Context, pub ingest.Publisher, log *kafka.TopicReader) (ingest.Collector, error) {
			reg, err := rg.load(ctx, c)
			if err != nil {
				return nil, err
			}
			src, err := newSource()
			if err != nil {
				return nil, err
			}
			metrics, err := c.metrics()
			if err != nil {
				return nil, err
			}
			return chain.New(cc, src, reg, pub, log, c.logger(), metrics)
		}
	default:
		if setup, ok := extraCollectors[source]; ok {
			build = setup(c)
			break
		}
		return nil, fmt.Errorf("unknown source %q for collect (try: %s)", source, strings.Join(collectSources, ", "))
	}
	return build, nil
}

// openPublisher connects to Kafka (starting the embedded broker if asked), creates the topics,
// and returns a writer for collectors and a runner whose metrics are the command's.
func (c *cli) openPublisher(ctx context.Context, kCfg *kafka.Config, passTimeout time.Duration) (*kafka.Writer, *ingest.Runner, error) {
	if err := c.connectKafka(ctx, kCfg); err != nil {
		return nil, nil, err
	}
	if err := kafka.EnsureTopics(ctx, *kCfg, schemas.Topics()); err != nil {
		return nil, nil, err
	}
	metrics, err := c.metrics()
	if err != nil {
		return nil, nil, err
	}
	w, err := kafka.NewWriter(*kCfg, c.logger(), metrics)
	if err != nil {
		return nil, nil, err
	}
	c.onClose(func() { _ = w.Close() })
	runner, err := ingest.NewRunner(c.logger(), metrics, passTimeout)
	if err != nil {
		return nil, nil, err
	}
	return w, runner, nil
}
