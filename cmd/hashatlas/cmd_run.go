package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashatlas/hashatlas/estimate"
	"github.com/hashatlas/hashatlas/ingest"
	rungroup "github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
)

// defaultRunCollectors are the sources `hashatlas run` schedules unless told otherwise: new
// blocks from a public Esplora every 10 minutes and the pool ranking every hour.
const defaultRunCollectors = "esplora=@every 10m;mempool-pools=@every 1h"

// runCollector is one source of `run` and its schedule.
type runCollector struct {
	source, schedule string
	sub              *cli
	build            collectorBuilder
}

// parseRunCollectors reads "SOURCE=SCHEDULE;SOURCE=SCHEDULE" (';' because cron specs contain
// spaces and commas).
func parseRunCollectors(spec string) ([]runCollector, error) {
	var out []runCollector
	seen := map[string]bool{}
	for _, part := range strings.Split(spec, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		source, schedule, ok := strings.Cut(part, "=")
		source, schedule = strings.TrimSpace(source), strings.TrimSpace(schedule)
		if !ok || source == "" || schedule == "" {
			return nil, fmt.Errorf("%q: want SOURCE=SCHEDULE, e.g. %q", part, "esplora=@every 10m")
		}
		if seen[source] {
			return nil, fmt.Errorf("source %s given twice", source)
		}
		seen[source] = true
		if _, err := ingest.ParseSchedule(schedule); err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		out = append(out, runCollector{source: source, schedule: schedule})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].source < out[j].source })
	return out, nil
}

// setupRun is live mode: the estimator following the input topics and the collectors on their
// cron schedules, in one process (with --kafka.embedded and --clickhouse.embedded-dir, the
// whole pipeline on one machine). Each collector reads its own settings from its environment
// variables, exactly as `hashatlas collect SOURCE` would (HASHATLAS_ESPLORA_URL,
// HASHATLAS_EIA_API_KEY, ...).
func setupRun(c *cli) (runFunc, error) {
	kCfg := c.kafkaFlags()
	chCfg := c.clickhouseFlags()
	var ef estimatorFlags
	ef.register(c.fs)
	c.addValidator(ef.validate)
	var spec string
	c.fs.StringVar(&spec, "run.collectors", defaultRunCollectors,
		`collectors and their cron schedules (UTC), "SOURCE=SCHEDULE;..." with SOURCE one of `+strings.Join(collectSources, ", ")+
			`; each reads its settings from its HASHATLAS_* environment variables (see hashatlas collect SOURCE --help); empty: the estimator alone`)
	// Each collector's passes are bounded as `collect --pass-timeout` bounds them (the same flag
	// and variable, so that a pass cut by it names the setting the operator can change).
	var passTimeout time.Duration
	c.fs.DurationVar(&passTimeout, "pass-timeout", 30*time.Minute, "stop a collector's pass that runs longer than this")
	c.addValidator(func() error {
		if passTimeout <= 0 {
			return flagErr("pass-timeout", passTimeout.String(), "must be positive")
		}
		return nil
	})
	var cols []runCollector
	c.addValidator(func() error {
		var err error
		if cols, err = parseRunCollectors(spec); err != nil {
			return flagErr("run.collectors", spec, err.Error())
		}
		for i := range cols {
			sub := newCLI("collect "+cols[i].source, c.stdout, c.stderr)
			b, err := sourceFlags(sub, cols[i].source)
			if err != nil {
				return flagErr("run.collectors", spec, err.Error())
			}
			if err := sub.parse(nil); err != nil { // environment variables only
				return fmt.Errorf("collector %s in --run.collectors: %w", cols[i].source, err)
			}
			cols[i].sub, cols[i].build = sub, b
		}
		return nil
	})
	return func(ctx context.Context) error {
		e, err := c.openEstimator(ctx, kCfg, chCfg, &ef)
		if err != nil {
			return err
		}
		reg, err := c.metrics()
		if err != nil {
			return err
		}
		health := estimate.NewHealth(e.src.Lag, ef.maxLag)
		c.setReadiness(health.Ready)
		runner, err := ingest.NewRunner(c.logger(), reg, passTimeout)
		if err != nil {
			return err
		}
		return runGroup(ctx, c, e, reg, health, runner, cols)
	}, nil
}

// runGroup runs the parts of `run` as one group (github.com/oklog/run, the pattern of Thanos
// and Prometheus): the stop signal, each collector on its schedule, and the estimator. When one
// of them returns — the signal, or the estimator on a fatal error — every part is stopped and
// waited for, the estimator last: the collectors are stopped first (they publish its input),
// then the estimator stops consuming, writes what it applied and commits its offsets (the
// consumer's last commit, bounded by the shutdown budget), and leaves its group. Only then does
// the command return and its stores and writers close. It returns the error of the part that
// ended the group (nil for the signal).
func runGroup(ctx context.Context, c *cli, e *estimator, reg *prometheus.Registry, health *estimate.Health, runner *ingest.Runner, cols []runCollector) error {
	log := c.logger().WithField("component", "run")
	var g rungroup.Group
	{
		sctx, cancel := context.WithCancel(ctx)
		g.Add(func() error {
			<-sctx.Done()
			if ctx.Err() != nil {
				log.Info("stopping: the collectors first, then the estimator")
			}
			return nil
		}, func(error) { cancel() })
	}
	var collectors sync.WaitGroup
	for _, rc := range cols {
		// The collector shares this process's logger, metrics, Kafka writer and reader.
		rc.sub.log, rc.sub.registry = c.logger(), reg
		col, err := rc.build(ctx, e.w, e.src.reader)
		if err != nil {
			return fmt.Errorf("collector %s: %w", rc.source, err)
		}
		// Stopped by its interrupt (not by ctx directly), so that every part stops through the
		// group.
		cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		collectors.Add(1)
		g.Add(func() error {
			defer collectors.Done()
			// A first pass at once (its failure is logged and counted, and the schedule goes
			// on), then on the schedule.
			_ = runner.RunOnce(cctx, col)
			return runner.Schedule(cctx, rc.schedule, col)
		}, func(error) { cancel() })
	}
	collectorsDone := make(chan struct{})
	go func() {
		collectors.Wait()
		close(collectorsDone)
	}()
	// Not derived from ctx: the estimator is stopped by its interrupt, after the collectors.
	ectx, stopEstimator := context.WithCancel(context.WithoutCancel(ctx))
	defer stopEstimator()
	elog := c.logger().WithField("component", "estimator")
	g.Add(func() error {
		err := estimate.Run(ectx, e.svc, e.src, false, health, elog)
		if ectx.Err() != nil && errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}, func(error) {
		go func() {
			// A collector stuck in a pass must not eat the estimator's share of the budget.
			t := time.NewTimer(c.shutdownTimeout / 3)
			defer t.Stop()
			select {
			case <-collectorsDone:
				log.Info("collectors stopped; stopping the estimator (last flush and commit)")
			case <-t.C:
				log.Warn("a collector has not stopped; stopping the estimator anyway (last flush and commit)")
			}
			stopEstimator()
		}()
	})
	err := g.Run()
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		err = nil
	}
	log.Info("stopped: collectors and estimator")
	return err
}
