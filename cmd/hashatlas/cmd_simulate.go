package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashatlas/hashatlas/ingest/simulate"
	"github.com/hashatlas/hashatlas/schemas"
	"github.com/hashatlas/hashatlas/sinks/clickhouse"
)

// Files `simulate --sim.out DIR` writes.
const (
	simTruthFile      = "truth.csv"
	simAllocationFile = "allocation.csv"
	simHQFile         = "pool_hq.csv"
	simReferencesFile = "references.csv"
	simSitesFile      = "sites.csv"
)

func setupSimulate(c *cli) (runFunc, error) {
	kCfg := c.kafkaFlags()
	chCfg := c.clickhouseFlags()
	var seed uint64
	var from, to, out string
	var truthToCH bool
	c.fs.BoolVar(&truthToCH, "sim.truth-to-clickhouse", false, "also write the truth into the ClickHouse table simulation_truth (run = seed-N_FROM_TO), applying migrations first")
	c.fs.Uint64Var(&seed, "sim.seed", 1, "seed of the simulated world: the same seed and span give byte-identical messages and truth")
	c.fs.StringVar(&from, "sim.from", "2024-01-01", "first simulated day, YYYY-MM-DD (UTC)")
	c.fs.StringVar(&to, "sim.to", "2026-01-01", "end of the simulation, YYYY-MM-DD (UTC, exclusive)")
	c.fs.StringVar(&out, "sim.out", "", "directory to write "+simTruthFile+" and the world's model data ("+simAllocationFile+", "+simHQFile+", "+simReferencesFile+", "+simSitesFile+"; --model.data-dir of estimate) into, created if missing (empty: write none)")
	var world *simulate.World
	c.addValidator(func() error {
		start, err := time.Parse(time.DateOnly, from)
		if err != nil {
			return flagErr("sim.from", from, "must be a date YYYY-MM-DD")
		}
		end, err := time.Parse(time.DateOnly, to)
		if err != nil {
			return flagErr("sim.to", to, "must be a date YYYY-MM-DD")
		}
		if !start.Before(end) {
			return flagErr("sim.to", to, "must be after --sim.from "+from)
		}
		cfg := simulate.DefaultConfig()
		cfg.Seed, cfg.Start, cfg.End = seed, start, end
		// Generating the world is cheap (about 50 ms for two years) and is the only complete
		// check: a seed can draw pool mixes in which a planted curtailment does not fit.
		if world, err = simulate.New(cfg); err != nil {
			return fmt.Errorf("invalid --sim.* settings (env %s*): %s", envName("sim")+"_", oneLine(err))
		}
		return nil
	})
	return func(ctx context.Context) error {
		if out != "" {
			if err := writeSimulationFiles(out, world); err != nil {
				return err
			}
		}
		if truthToCH {
			db, err := c.openClickHouse(ctx, chCfg)
			if err != nil {
				return err
			}
			if err := writeSimulationTruth(ctx, c, db, chCfg, world); err != nil {
				return err
			}
		}
		w, runner, err := c.openPublisher(ctx, kCfg, 0)
		if err != nil {
			return err
		}
		if err := runner.RunOnce(ctx, simulate.NewCollector(world, w, simulate.DefaultBatchSize, c.logger())); err != nil {
			return err
		}
		s := world.Summary()
		written := ""
		if out != "" {
			written = "; truth and model data in " + out
		}
		fmt.Fprintf(c.stdout, "simulated seed %d from %s to %s: published %d blocks (heights %d-%d), %d difficulty epochs, %d grid observations, %d pool stats%s\n",
			s.Seed, s.Start.Format(time.DateOnly), s.End.Format(time.DateOnly), s.Blocks, s.FirstHeight, s.LastHeight, s.Epochs, s.GridObservations, s.PoolStats, written)
		return nil
	}, nil
}

// writeSimulationFiles writes the world's truth and model data into dir: its allocation, HQ,
// references (published maps) and sites tables, so that an estimator given dir as its
// model-data directory runs on the world's own evidence. references.csv and sites.csv are
// written even when they hold no row (the world publishes no map in a span without a whole
// month; it never has site reports): a missing file would mean the built-in one, real-world
// maps and companies' sites that would place the world's rowless hashrate.
func writeSimulationFiles(dir string, w *simulate.World) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create --sim.out directory: %w", err)
	}
	var truth bytes.Buffer
	if err := w.WriteTruthCSV(&truth); err != nil {
		return err
	}
	for name, data := range map[string][]byte{simTruthFile: truth.Bytes(), simAllocationFile: w.AllocationCSV(), simHQFile: w.PoolHQCSV(),
		simReferencesFile: w.ReferencesCSV(), simSitesFile: w.SitesCSV()} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("write the simulated world's %s: %w", name, err)
		}
	}
	return nil
}

// simulationRun names a world in simulation_truth.
func simulationRun(w *simulate.World) string {
	cfg := w.Config()
	return fmt.Sprintf("seed-%d_%s_%s", cfg.Seed, cfg.Start.Format(time.DateOnly), cfg.End.Format(time.DateOnly))
}

// writeSimulationTruth applies the migrations and writes the world's truth into
// simulation_truth (a second write of the same world replaces its rows).
func writeSimulationTruth(ctx context.Context, c *cli, db *clickhouse.DB, chCfg *clickhouse.Config, w *simulate.World) error {
	migrations, err := schemas.Migrations()
	if err != nil {
		return err
	}
	if _, err := clickhouse.Migrate(ctx, db, migrations, c.logger().WithField("component", "migrate")); err != nil {
		return err
	}
	reg, err := c.metrics()
	if err != nil {
		return err
	}
	tw, err := clickhouse.NewWriter(ctx, db, "simulation_truth",
		[]string{"run", "window", "window_start", "window_end", "entity", "metric", "value", "version"},
		chCfg.WriterConfig(), c.logger().WithField("component", "store"), reg)
	if err != nil {
		return err
	}
	defer func() { _ = tw.Close(c.shutdownBudget().closing) }() // bounded once the command is stopping
	run, version := simulationRun(w), uint64(time.Now().UnixNano())
	for _, r := range w.Truth() {
		if err := tw.Add(ctx, run, r.Window, r.WindowStart, r.WindowEnd, r.Entity, r.Metric, r.Value, version); err != nil {
			return fmt.Errorf("simulation truth: %w", err)
		}
	}
	if err := tw.Flush(ctx); err != nil {
		return fmt.Errorf("write simulation truth: %w", err)
	}
	return nil
}
