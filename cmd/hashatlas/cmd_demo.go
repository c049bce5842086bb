package main

import (
	"context"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashatlas/hashatlas/estimate"
	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/ingest/replay"
	"github.com/hashatlas/hashatlas/ingest/simulate"
	"github.com/hashatlas/hashatlas/sinks/clickhouse"
)

// demoOut is the default output directory of `hashatlas demo`.
const demoOut = "hashatlas-demo"

// setDefault changes a registered flag's default (as shown in --help and --check-config)
// without marking it set, so that its environment variable still applies.
func setDefault(fs *flag.FlagSet, name, value string) {
	f := fs.Lookup(name)
	if f == nil {
		panic("no flag " + name)
	}
	if err := f.Value.Set(value); err != nil {
		panic(fmt.Sprintf("default %q of --%s: %v", value, name, err))
	}
	f.DefValue = value
}

func setupDemo(c *cli) (runFunc, error) {
	kCfg := c.kafkaFlags()
	chCfg := c.clickhouseFlags()
	setDefault(c.fs, "kafka.embedded", "true")
	setDefault(c.fs, "kafka.embedded-port", "0")
	setDefault(c.fs, "clickhouse.embedded-dir", filepath.Join(demoOut, "clickhouse"))
	var ef estimatorFlags
	ef.register(c.fs)
	c.addValidator(ef.validate)
	var out, data string
	var sim bool
	var seed uint64
	var simFrom, simTo string
	c.fs.StringVar(&out, "out", demoOut, "directory for the demo's charts, simulated-world files and (by default) its ClickHouse data")
	c.fs.StringVar(&data, "data-dir", dataDir(), "directory with the real block history (blocks_2021_2026.csv.gz, difficulty_epochs.csv); when they are missing the demo simulates a world")
	c.fs.BoolVar(&sim, "simulate", false, "simulate a world even when the real history is there")
	c.fs.Uint64Var(&seed, "sim.seed", 1, "seed of the simulated world")
	c.fs.StringVar(&simFrom, "sim.from", "2024-01-01", "first simulated day, YYYY-MM-DD")
	c.fs.StringVar(&simTo, "sim.to", "2026-01-01", "end of the simulated span, YYYY-MM-DD (exclusive)")
	var world *simulate.World
	useSim := false
	c.addValidator(func() error {
		// The ClickHouse data follows --out unless the directory (or a server) was chosen.
		if c.sources["clickhouse.embedded-dir"] == "" && out != demoOut {
			chCfg.EmbeddedDir = filepath.Join(out, "clickhouse")
		}
		blocks, epochs := filepath.Join(data, "blocks_2021_2026.csv.gz"), filepath.Join(data, "difficulty_epochs.csv")
		useSim = sim || filesExist(map[string]string{"data-dir": blocks, "data-dir ": epochs}) != nil
		if !useSim {
			return nil
		}
		start, err := time.Parse(time.DateOnly, simFrom)
		if err != nil {
			return flagErr("sim.from", simFrom, "must be a date YYYY-MM-DD")
		}
		end, err := time.Parse(time.DateOnly, simTo)
		if err != nil || !start.Before(end) {
			return flagErr("sim.to", simTo, "must be a date YYYY-MM-DD after --sim.from")
		}
		cfg := simulate.DefaultConfig()
		cfg.Seed, cfg.Start, cfg.End = seed, start, end
		if world, err = simulate.New(cfg); err != nil {
			return fmt.Errorf("invalid --sim.* settings (env %s*): %s", envName("sim")+"_", oneLine(err))
		}
		return nil
	})
	return func(ctx context.Context) error {
		start := time.Now()
		if err := os.MkdirAll(out, 0o755); err != nil {
			return fmt.Errorf("create --out directory: %w", err)
		}
		if useSim {
			fmt.Fprintf(c.stderr, "data: a simulated world (seed %d, %s to %s) — no block history in %s, or --simulate\n", seed, simFrom, simTo, data)
			// The estimator uses the world's own allocation and HQ tables (its truth was drawn
			// around them); they and the truth go to OUT/simulation.
			dir := filepath.Join(out, "simulation")
			if err := writeSimulationFiles(dir, world); err != nil {
				return err
			}
			ef.dataDir, ef.data = dir, nil
		} else {
			fmt.Fprintf(c.stderr, "data: real Bitcoin block history from %s\n", data)
		}
		e, err := c.openEstimator(ctx, kCfg, chCfg, &ef)
		if err != nil {
			return err
		}
		var col ingest.Collector
		if useSim {
			col = simulate.NewCollector(world, e.w, simulate.DefaultBatchSize, c.logger())
			fmt.Fprintf(c.stderr, "publishing the simulated world to Kafka (embedded: %v)...\n", kCfg.Embedded)
		} else {
			cfg := replay.Config{BlocksFile: filepath.Join(data, "blocks_2021_2026.csv.gz"), EpochsFile: filepath.Join(data, "difficulty_epochs.csv"), BatchSize: 10000}
			if bar := c.progressBar("publishing blocks"); bar != nil {
				cfg.Progress = func(n int, h int64) { _ = bar.Set(n) }
				defer func() { _ = bar.Finish() }()
			}
			col = replay.NewCollector(cfg, e.w, e.src.reader, c.logger())
			fmt.Fprintf(c.stderr, "publishing blocks to Kafka (embedded: %v)...\n", kCfg.Embedded)
		}
		if err := col.Collect(ctx); err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "estimating (network, pools, countries, regions, power, energy signals; %d draws per interval)...\n", ef.draws)
		if err := estimate.Run(ctx, e.svc, e.src, true, nil, c.logger().WithField("component", "estimator")); err != nil {
			return err
		}
		db := e.db
		if useSim {
			if err := writeSimulationTruth(ctx, c, db, chCfg, world); err != nil {
				return err
			}
		}
		mv := e.svc.ModelVersion()
		summary, err := writeDemoSummary(ctx, c.stdout, db, e.svc.Chain(), mv, useSim, time.Now())
		if err != nil {
			return err
		}
		charts, err := writeDemoCharts(ctx, db, filepath.Join(out, "charts"), mv)
		if err != nil {
			return err
		}
		where := "the ClickHouse server at " + chCfg.Addr
		flags := fmt.Sprintf(" --clickhouse.addr=%s --clickhouse.database=%s", chCfg.Addr, chCfg.Database)
		if chCfg.EmbeddedDir != "" {
			where = "the embedded ClickHouse in " + chCfg.EmbeddedDir
			flags = " --clickhouse.embedded-dir=" + chCfg.EmbeddedDir
			if filepath.Clean(chCfg.EmbeddedDir) == demoDatabaseDir && chCfg.Database == clickhouse.DefaultDatabase {
				flags = "" // sql and report read the demo's database by default
			}
		}
		fmt.Fprintf(c.stdout, "\nDone in %.0f s. Estimates are in %s; charts in %s:\n", time.Since(start).Seconds(), where, filepath.Join(out, "charts"))
		for _, f := range charts {
			fmt.Fprintf(c.stdout, "  %s\n", f)
		}
		env := ""
		if lib := os.Getenv("CHDB_LIB_PATH"); lib != "" && chCfg.EmbeddedDir != "" && !libchdbOnRunPath() {
			env = "CHDB_LIB_PATH=" + lib + " "
		}
		fmt.Fprintf(c.stdout, "\nNext, try:\n")
		fmt.Fprintf(c.stdout, "  %sbin/hashatlas report countries --from %s%s\n", env, summary.lastClosed.Format(time.DateOnly), flags)
		fmt.Fprintf(c.stdout, "  %sbin/hashatlas sql \"SELECT month, blocks, round(share*100, 1) AS pct FROM region_block_share_monthly WHERE region = 'north-america' ORDER BY month\"%s\n", env, flags)
		fmt.Fprintf(c.stdout, "  %sbin/hashatlas report power --format svg --out %s%s\n", env, filepath.Join(out, "power.svg"), flags)
		return nil
	}, nil
}

// demoSection is one block of the demo's summary: a title and a query whose rows are shown.
type demoSection struct {
	title, query string
	none         string // what is printed when the query has no rows (empty: "(none)")
}

// demoSummary is what the summary found: the last closed month.
type demoSummary struct {
	lastClosed time.Time
}

// writeDemoSummary prints what the pipeline produced, read back from ClickHouse (so that every
// number shown is one a user can query). Sections by month show closed months; a month still
// open, and a last block older than a day (now), are said in the titles.
func writeDemoSummary(ctx context.Context, w io.Writer, db *clickhouse.DB, chain *estimate.Chain, mv string, sim bool, now time.Time) (demoSummary, error) {
	var sum demoSummary
	q := clickhouse.QuoteString
	res, err := db.Query(ctx, `SELECT toString(max(window_start)) FROM network_hashrate_latest WHERE window = 'month' AND final = 1 AND model_version = `+q(mv))
	if err != nil {
		return sum, err
	}
	month := fmt.Sprint(res.Rows[0][0])
	if month == "" || strings.HasPrefix(month, "1970") {
		return sum, errors.New("demo: no closed month was estimated (too little data)")
	}
	if sum.lastClosed, err = time.Parse(time.DateTime, month); err != nil {
		return sum, fmt.Errorf("demo: the last closed month %q: %w", month, err)
	}
	end, err := db.DataEnd(ctx)
	if err != nil {
		return sum, err
	}
	monthCond := " AND window = 'month' AND window_start = toDateTime(" + q(month) + ", 'UTC') AND model_version = " + q(mv)
	label := month[:7]
	what := "real blocks"
	if sim {
		what = "a simulated world"
	}
	fmt.Fprintf(w, "hashatlas demo — %d blocks of %s up to height %d (%s), model %s; 95 %% intervals in brackets\n",
		chain.Len(), what, chain.Tip(), end.UTC().Format("2006-01-02 15:04 UTC"), mv)
	// The tip: "now" only when the last block is less than a day old.
	tipTitle := "Network hashrate now (last 144 blocks), EH/s"
	if age := now.Sub(end); age > 24*time.Hour {
		tipTitle = "Network hashrate at the last block, " + humanAge(age) + " ago (last 144 blocks), EH/s"
	}
	// The month after the last closed one, when the data reach into it, is open.
	monthly := "Network hashrate by month (last 12 closed months), EH/s"
	if open := sum.lastClosed.AddDate(0, 1, 0); end.After(open) {
		monthly = fmt.Sprintf("Network hashrate by month (last 12 closed months; %s is still open and left out), EH/s", open.Format("2006-01"))
	}
	sections := []demoSection{
		{tipTitle, `SELECT toString(window_end) AS last_block, round(hashrate_hs/1e18, 1) AS ehs,
    concat('[', toString(round(hashrate_hs_lower/1e18, 1)), ', ', toString(round(hashrate_hs_upper/1e18, 1)), ']') AS interval
FROM network_hashrate_latest WHERE window = 'lastn' AND model_version = ` + q(mv) + ` ORDER BY window_end DESC LIMIT 1`, ""},
		{monthly, `SELECT formatDateTime(window_start, '%Y-%m') AS month, blocks, round(hashrate_hs/1e18, 1) AS ehs,
    concat('[', toString(round(hashrate_hs_lower/1e18, 1)), ', ', toString(round(hashrate_hs_upper/1e18, 1)), ']') AS interval, round(luck, 4) AS luck
FROM network_hashrate_latest WHERE window = 'month' AND final = 1 AND model_version = ` + q(mv) + ` AND window_start > toDateTime(` + q(month) + `, 'UTC') - INTERVAL 1 YEAR ORDER BY window_start`, ""},
		{"Top pools, " + label + " (block share, %)", `SELECT pool, blocks, round(share*100, 1) AS pct,
    concat('[', toString(round(share_lower*100, 1)), ', ', toString(round(share_upper*100, 1)), ']') AS interval, round(hashrate_hs/1e18, 1) AS ehs
FROM pool_hashrate_latest WHERE 1 = 1` + monthCond + ` ORDER BY blocks DESC, pool LIMIT 10`, ""},
		{"Country shares of hashrate, " + label + " (allocation rows and published maps, %; XX = placed by no source)", `SELECT country, round(share*100, 1) AS pct,
    concat('[', toString(round(share_lower*100, 1)), ', ', toString(round(share_upper*100, 1)), ']') AS interval, round(hashrate_hs/1e18, 1) AS ehs
FROM country_hashrate_latest WHERE method = 'pool-allocation'` + monthCond + ` ORDER BY hashrate_hs DESC, country`, ""},
		{"Block share of North American pools by month (closed months, %)", `SELECT formatDateTime(month, '%Y-%m') AS m, blocks, round(share*100, 1) AS pct,
    concat('[', toString(round(share_lower*100, 1)), ', ', toString(round(share_upper*100, 1)), ']') AS interval
FROM region_block_share_monthly WHERE region = 'north-america' AND final = 1 AND model_version = ` + q(mv) + ` AND month > toDateTime(` + q(month) + `, 'UTC') - INTERVAL 1 YEAR ORDER BY month`, ""},
		{"Power drawn by country, " + label + " (GW; annualised TWh/yr)", `SELECT country, round(power_gw_best, 2) AS gw,
    concat('[', toString(round(power_gw_low, 2)), ', ', toString(round(power_gw_high, 2)), ']') AS low_high, round(energy_twh_year_best, 1) AS twh_year
FROM country_hashrate_latest WHERE method = 'pool-allocation'` + monthCond + ` ORDER BY power_gw_best DESC, country`, ""},
		{"Significant curtailment under grid stress (yearly fits)", `SELECT toYear(window_start) AS year, pool, region, country, round(beta, 2) AS beta,
    concat('[', toString(round(beta_lower, 2)), ', ', toString(round(beta_upper, 2)), ']') AS interval, events, p_value
FROM energy_signals_latest WHERE signal = 'curtailment' AND window = 'year' AND p_value < 0.05 AND model_version = ` + q(mv) + ` ORDER BY year, p_value`, ""},
		{"Strongest grid-stress events read from the chain (lowest q-values; drop: % of the reference pools' hashrate; shortfall: the network's)", `SELECT toString(toDate(day)) AS day, region, round(share_drop*100, 1) AS drop_pct,
    concat('[', toString(round(share_drop_lower*100, 1)), ', ', toString(round(share_drop_upper*100, 1)), ']') AS interval,
    toString(toFloat32(q_value)) AS q, round(shortfall_hs/1e18, 1) AS short_ehs,
    concat('[', toString(round(shortfall_hs_lower/1e18, 1)), ', ', toString(round(shortfall_hs_upper/1e18, 1)), ']') AS short_interval,
    round(shortfall_gw, 2) AS short_gw
FROM chain_stress FINAL WHERE q_value < 0.01 AND model_version = ` + q(mv) + ` ORDER BY q_value, day, region LIMIT 5`, "  none found at a 1 % false-discovery rate"},
	}
	for _, s := range sections {
		res, err := db.Query(ctx, s.query)
		if err != nil {
			return sum, fmt.Errorf("demo summary %q: %w", s.title, err)
		}
		fmt.Fprintf(w, "\n%s\n", s.title)
		if len(res.Rows) == 0 {
			none := s.none
			if none == "" {
				none = "  (none)"
			}
			fmt.Fprintln(w, none)
			continue
		}
		if err := clickhouse.WriteResult(w, res, clickhouse.FormatTable); err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// demoCharts are the charts the demo writes: report kind, window, file name.
var demoCharts = []struct{ kind, window, file string }{
	{"countries", "month", "country_hashrate_monthly"},
	{"network", "week", "network_hashrate_weekly"},
	{"regions", "month", "region_block_share_monthly"},
	{"power", "month", "power_by_country"},
}

// writeDemoCharts writes each demo chart as SVG and PNG into dir and returns their paths.
func writeDemoCharts(ctx context.Context, db *clickhouse.DB, dir, mv string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create the charts directory: %w", err)
	}
	var out []string
	for _, ch := range demoCharts {
		for _, format := range []string{"svg", "png"} {
			path := filepath.Join(dir, ch.file+"."+format)
			q := clickhouse.ReportQuery{Window: ch.window, ModelVersion: mv}
			if err := writeChart(ctx, db, ch.kind, q, "pool-allocation", format, path, false); err != nil {
				return out, fmt.Errorf("demo chart %s: %w", path, err)
			}
			out = append(out, path)
		}
	}
	return out, nil
}

// libchdbOnRunPath reports whether this binary finds libchdb.so without CHDB_LIB_PATH: `make
// build` links the library's directory into its run path (DT_RUNPATH), so the commands the
// demo suggests need no variable in front.
func libchdbOnRunPath() bool {
	exe, err := os.Executable()
	if err != nil {
		return false
	}
	f, err := elf.Open(exe)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		paths, err := f.DynString(tag)
		if err != nil {
			continue
		}
		for _, p := range paths {
			for _, dir := range filepath.SplitList(p) {
				if _, err := os.Stat(filepath.Join(dir, "libchdb.so")); err == nil {
					return true
				}
			}
		}
	}
	return false
}
