package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hashatlas/hashatlas/estimate"
	"github.com/hashatlas/hashatlas/ingest/replay"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

func setupReplay(c *cli) (runFunc, error) {
	kCfg := c.kafkaFlags()
	chCfg := c.clickhouseFlags()
	var ef estimatorFlags
	ef.register(c.fs)
	c.addValidator(ef.validate)
	var blocks, epochs string
	c.fs.StringVar(&blocks, "blocks", filepath.Join(dataDir(), "blocks_2021_2026.csv.gz"), "block history CSV (height,time_unix,pool_slug[,bits_hex]), gzip or plain")
	c.fs.StringVar(&epochs, "difficulty", filepath.Join(dataDir(), "difficulty_epochs.csv"), "difficulty epochs CSV (epoch_start_height,bits_hex,difficulty)")
	c.addValidator(func() error { return filesExist(map[string]string{"blocks": blocks, "difficulty": epochs}) })
	return func(ctx context.Context) error {
		start := time.Now()
		e, err := c.openEstimator(ctx, kCfg, chCfg, &ef)
		if err != nil {
			return err
		}
		// Batches of 10,000 fill the writer's per-partition batches (1,000 messages over 10
		// partitions), so no publish waits for a batch timeout.
		cfg := replay.Config{BlocksFile: blocks, EpochsFile: epochs, BatchSize: 10000}
		bar := c.progressBar("publishing blocks")
		if bar != nil {
			cfg.Progress = func(n int, h int64) {
				_ = bar.Set(n)
				bar.Describe(fmt.Sprintf("publishing blocks (height %d)", h))
			}
		}
		col := replay.NewCollector(cfg, e.w, e.src.reader, c.logger())
		// The estimator reads the topics back while the file is published into them (as it
		// follows collectors when it runs for good): the reading of a partition waits for the
		// records still to come, and ends at the topics' ends once the file is all published.
		done := make(chan struct{})
		e.src.until = done
		runCtx, cancelRun := context.WithCancel(ctx)
		defer cancelRun()
		var published time.Duration
		collected := make(chan error, 1)
		go func() {
			err := col.Collect(runCtx)
			published = time.Since(start)
			if err != nil {
				cancelRun() // the estimator stops too: the file did not go in whole
			}
			close(done)
			collected <- err
		}()
		runErr := estimate.Run(runCtx, e.svc, e.src, true, nil, c.logger().WithField("component", "estimator"))
		if runErr != nil {
			cancelRun()
		}
		if err := <-collected; err != nil {
			return err
		}
		if runErr != nil {
			return runErr
		}
		if bar != nil {
			_ = bar.Finish()
		}
		chain := e.svc.Chain()
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		// The CPU time beside the wall time tells a slow machine from a slow replay: on a
		// shared VM the same binary's wall time varied twofold from one day to another, and its
		// CPU time with it.
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		fmt.Fprintf(c.stdout, "replayed %d blocks up to height %d: published in %.1fs, estimates written after %.1fs, CPU %.1fs, peak RSS %d MB\n",
			chain.Len(), chain.Tip(), published.Seconds(), time.Since(start).Seconds(), cpu.Seconds(), ru.Maxrss/1024)
		return nil
	}, nil
}

// progressBar draws on stderr when it is a terminal; otherwise (logs, CI) it returns nil and
// nothing is drawn. The bar is redrawn only when progress is reported: progressbar's own
// spinner goroutine reads the bar's state without its lock (a data race under -race).
func (c *cli) progressBar(desc string) *progressbar.ProgressBar {
	f, ok := c.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return progressbar.NewOptions(-1, progressbar.OptionSetWriter(f), progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("blocks"),
		progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish(),
		progressbar.OptionSetSpinnerChangeInterval(0))
}
