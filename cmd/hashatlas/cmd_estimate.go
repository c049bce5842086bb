package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/hashatlas/hashatlas/estimate"
	"github.com/hashatlas/hashatlas/estimate/modeldata"
	"github.com/hashatlas/hashatlas/schemas"
	"github.com/hashatlas/hashatlas/sinks/clickhouse"
	"github.com/hashatlas/hashatlas/sinks/kafka"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
)

// estimatorInputs are the topics the estimator consumes.
var estimatorInputs = []string{schemas.TopicBlocks, schemas.TopicDifficulty, schemas.TopicGrid, schemas.TopicPoolStats}

// estimatorFlags tune the estimator.
type estimatorFlags struct {
	group        string
	draws        int
	recentBlocks int
	fullRebuild  bool
	maxLag       int64
	dataDir      string
	data         *modeldata.Data // loaded from dataDir by validate
	migrate      bool
}

func (e *estimatorFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&e.group, "estimate.group", "hashatlas-estimator", "Kafka consumer group of the estimator")
	fs.IntVar(&e.draws, "estimate.draws", estimate.DefaultDraws, "Monte Carlo draws behind each interval")
	fs.IntVar(&e.recentBlocks, "estimate.recent-blocks", 144, "n of the last-n-blocks estimate of the hashrate now")
	fs.BoolVar(&e.fullRebuild, "estimate.full-rebuild", false, "at start, replay the whole input log and recompute every window instead of restoring the state ClickHouse holds up to the group's committed offsets (and recomputing only windows whose stored estimates differ)")
	fs.BoolVar(&e.migrate, "estimate.migrate", true, "apply the ClickHouse migrations at start (false: only check that they are applied, and exit if not — where one `hashatlas migrate` Job is the only migrator)")
	fs.Int64Var(&e.maxLag, "estimate.max-lag", 10000, "most input messages the estimator may be behind and still report ready on /readyz")
	fs.StringVar(&e.dataDir, "model.data-dir", "", "directory with your own allocation.csv, pool_hq.csv, hardware.csv, references.csv and/or sites.csv (format of estimate/modeldata; a missing file means the built-in one); results then carry model version <version>+data.<digest> (empty: the built-in tables)")
}

// model is the estimation model these flags select.
func (e *estimatorFlags) model() (estimate.Model, error) {
	m := estimate.NewModel()
	if e.dataDir != "" {
		d := e.data
		if d == nil { // set after validation (the demo points it at a simulated world's tables)
			var err error
			if d, err = modeldata.LoadDir(e.dataDir); err != nil {
				return m, err
			}
		}
		m = estimate.NewModelWithData(d)
	}
	m.Draws = e.draws
	return m, nil
}

func (e *estimatorFlags) validate() error {
	if e.group == "" {
		return flagErr("estimate.group", e.group, "must not be empty")
	}
	if e.draws < 100 {
		return flagErr("estimate.draws", "", "must be at least 100")
	}
	if e.recentBlocks < 2 {
		return flagErr("estimate.recent-blocks", "", "must be at least 2")
	}
	if e.maxLag < 0 {
		return flagErr("estimate.max-lag", "", "must not be negative")
	}
	if e.dataDir != "" {
		d, err := modeldata.LoadDir(e.dataDir)
		if err != nil {
			return flagErr("model.data-dir", e.dataDir, err.Error())
		}
		e.data = d
	}
	return nil
}

// kafkaSource is the estimator's input log on Kafka (estimate.Source).
type kafkaSource struct {
	cfg    kafka.Config
	group  string
	reader *kafka.TopicReader
	log    logrus.FieldLogger
	reg    prometheus.Registerer

	replayedEnd  atomic.Int64             // input messages the replay reached (the ends when it began)
	replayedEnds map[string]map[int]int64 // the same per partition (CommitReplayed)
	svc          *estimate.Service

	// until, when set, says the input topics are still being written (the replay command
	// publishes its file meanwhile): a replay of them reads as records arrive, and ends at the
	// ends the topics have once until is closed.
	until <-chan struct{}

	// drain, when set, bounds every flush before a commit: it ends once the shutdown budget's
	// share for the last flush and commit is spent (shutdown.go), so that the final flush of a
	// stopping estimator gives up on a ClickHouse or Kafka that does not answer — its input is
	// then not committed, and is delivered again at the next start.
	drain context.Context
}

func (s *kafkaSource) Replay(ctx context.Context, fn func(schemas.Message) error) (int, error) {
	return s.replay(ctx, fn, func(ctx context.Context, topics []string, fn func(kafka.Record) error) (int, map[string]map[int]int64, error) {
		if s.until != nil {
			return s.reader.ReadAllUntil(ctx, topics, s.until, fn, nil)
		}
		n, err := s.reader.ReadAll(ctx, topics, fn, nil)
		return n, nil, err
	})
}

// replay reads the input topics with read and records the ends it read to (the lag metric's
// and CommitReplayed's): those read returns (topics still being written), else the ends the
// topics had when it began.
func (s *kafkaSource) replay(ctx context.Context, fn func(schemas.Message) error, read func(context.Context, []string, func(kafka.Record) error) (int, map[string]map[int]int64, error)) (int, error) {
	var ends map[string]map[int]int64
	if s.until == nil {
		var err error
		if ends, err = s.reader.Ends(ctx, estimatorInputs); err != nil {
			return 0, err
		}
	}
	n, readEnds, err := read(ctx, estimatorInputs, func(r kafka.Record) error { return fn(r.Message) })
	if err != nil {
		return n, err
	}
	if readEnds != nil {
		ends = readEnds
	}
	var end int64
	for _, parts := range ends {
		for _, off := range parts {
			end += off
		}
	}
	s.replayedEnd.Store(end)
	s.replayedEnds = ends
	return n, nil
}

// CommitReplayed commits, for the estimator's group, the offsets the last replay read up to:
// `estimate --until-idle` calls it once the estimates of everything replayed are written, so
// that its next run restores from the store and reads only what came after. It fails (and
// nothing is committed) while a member of the group is running.
func (s *kafkaSource) CommitReplayed(ctx context.Context) error {
	if s.replayedEnds == nil {
		return nil
	}
	return s.reader.CommitOutsideGroup(ctx, s.group, s.replayedEnds)
}

// ReplayUncommitted is Replay from the estimator group's committed offsets (estimate.Restore
// brought the committed part back from the store).
func (s *kafkaSource) ReplayUncommitted(ctx context.Context, fn func(schemas.Message) error) (int, error) {
	return s.replay(ctx, fn, func(ctx context.Context, topics []string, fn func(kafka.Record) error) (int, map[string]map[int]int64, error) {
		if s.until != nil {
			return s.reader.ReadUncommittedUntil(ctx, topics, s.group, s.until, fn, nil)
		}
		n, err := s.reader.ReadUncommitted(ctx, topics, s.group, fn, nil)
		return n, nil, err
	})
}

// CheckCheckpoint trusts a checkpoint only when it holds, exactly, the last block the group
// committed on every partition of the blocks topic: the store then holds the committed part of
// the log (each commit follows the writes of everything before it). A store emptied, restored
// from an older backup or pointed at another database fails this, and the estimator rebuilds
// from the whole log instead.
func (s *kafkaSource) CheckCheckpoint(ctx context.Context, cp *estimate.Checkpoint) error {
	held := make(map[int64]estimate.BlockObs, len(cp.Blocks))
	for _, b := range cp.Blocks {
		held[b.Height] = b
	}
	missing := ""
	_, err := s.reader.ReadLastCommitted(ctx, []string{schemas.TopicBlocks}, s.group, func(r kafka.Record) error {
		b, ok := r.Message.(schemas.Block)
		if !ok {
			return nil
		}
		h, ok := held[b.Height]
		if missing == "" && (!ok || !h.Time.Equal(b.Time) || h.Pool != b.Pool || h.Hash != b.Hash) {
			// A later block at the same height (a reorg written after the commit) is no mismatch
			// of the committed part: the store is ahead, which the replay reconciles.
			missing = fmt.Sprintf("block %d (%s/%d offset %d) committed by group %s is not in the store as published", b.Height, r.Topic, r.Partition, r.Offset, s.group)
			if ok && h.Hash != b.Hash && h.Hash != "" {
				missing = ""
			}
		}
		return nil
	}, nil)
	if err != nil {
		return err
	}
	if missing != "" {
		return errors.New(missing)
	}
	// Where the group committed nothing the whole log is replayed anyway (ReplayUncommitted
	// from the first offsets), and the store's blocks only spare recomputing the windows they
	// match.
	return nil
}

// Lag is how many input messages are not reflected in written estimates yet: the topics' end
// offsets less what the replay read or the group committed, whichever is further.
func (s *kafkaSource) Lag(ctx context.Context) (int64, error) {
	end, err := s.reader.EndTotal(ctx, estimatorInputs)
	if err != nil {
		return 0, err
	}
	var committed int64
	for _, t := range estimatorInputs {
		n, err := s.reader.CommittedTotal(ctx, s.group, t)
		if err != nil {
			return 0, err
		}
		committed += n
	}
	return max(0, end-max(committed, s.replayedEnd.Load())), nil
}

// Partitions lists the partitions of every input topic (estimate.GroupLog).
func (s *kafkaSource) Partitions(ctx context.Context) (map[string][]int, error) {
	return s.reader.Partitions(ctx, estimatorInputs)
}

// ReplayCommitted reads the input topics up to the offsets the group committed
// (estimate.GroupLog).
func (s *kafkaSource) ReplayCommitted(ctx context.Context, fn func(schemas.Message) error) (int, error) {
	return s.reader.ReadCommitted(ctx, estimatorInputs, s.group, func(r kafka.Record) error { return fn(r.Message) }, nil)
}

// onAssign hands each assignment of the group to the service, which keeps its state whole
// when other members share the group (estimate.Service.Assigned).
func (s *kafkaSource) onAssign(ctx context.Context, assigned map[string][]int) error {
	if s.svc == nil {
		return errors.New("estimator source without its service")
	}
	return s.svc.Assigned(ctx, s, assigned)
}

func (s *kafkaSource) Follow(ctx context.Context, apply func(schemas.Message) error, flush func(context.Context) error) error {
	beforeCommit := flush
	if s.drain != nil {
		// The consumer's last commit, once ctx ended, runs on a context of its own.
		beforeCommit = func(ctx context.Context) error {
			ctx, cancel := withDeadlineOf(ctx, s.drain)
			defer cancel()
			return flush(ctx)
		}
	}
	cons, err := kafka.NewConsumer(s.cfg, kafka.ConsumerConfig{Group: s.group, Topics: estimatorInputs, BeforeCommit: beforeCommit, OnAssign: s.onAssign}, s.log, s.reg)
	if err != nil {
		return err
	}
	defer cons.Close()
	err = cons.Run(ctx, func(ctx context.Context, r kafka.Record) error {
		err := apply(r.Message)
		var inv *estimate.InvalidInput
		if errors.As(err, &inv) {
			return kafka.Permanent(err)
		}
		return err
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("stopped before the estimates of the last records were written; their offsets are not committed, and they are delivered again at the next start: %w", err)
	}
	return err
}

// estimator is everything the estimator needs, opened.
type estimator struct {
	svc *estimate.Service
	src *kafkaSource
	w   *kafka.Writer // publishes estimates; shared by whatever else the command publishes
	db  *clickhouse.DB
}

// openEstimator connects to Kafka and ClickHouse (applying migrations unless
// --estimate.migrate=false, then only checking them, and creating topics, both idempotent) and
// builds the estimator service.
func (c *cli) openEstimator(ctx context.Context, kCfg *kafka.Config, chCfg *clickhouse.Config, ef *estimatorFlags) (*estimator, error) {
	if err := c.connectKafka(ctx, kCfg); err != nil {
		return nil, err
	}
	if err := kafka.EnsureTopics(ctx, *kCfg, schemas.Topics()); err != nil {
		return nil, err
	}
	db, err := c.openClickHouse(ctx, chCfg)
	if err != nil {
		return nil, err
	}
	migrations, err := schemas.Migrations()
	if err != nil {
		return nil, err
	}
	if ef.migrate {
		if _, err := clickhouse.Migrate(ctx, db, migrations, c.logger().WithField("component", "migrate")); err != nil {
			return nil, err
		}
	} else if err := clickhouse.RequireMigrated(ctx, db, migrations); err != nil {
		return nil, err
	}
	reg, err := c.metrics()
	if err != nil {
		return nil, err
	}
	store, err := clickhouse.NewEstimateStore(ctx, db, chCfg.WriterConfig(), c.logger().WithField("component", "store"), reg)
	if err != nil {
		return nil, err
	}
	c.onClose(func() {
		// Bounded by the shutdown budget once the command is stopping: rows still buffered
		// then are not written, and their input was not committed.
		if err := store.Close(c.shutdownBudget().closing); err != nil {
			c.logger().WithField("component", "store").WithError(err).
				Warn("closing the ClickHouse store: rows not written; their input was not committed and is delivered again at the next start")
		}
	})
	w, err := kafka.NewWriter(*kCfg, c.logger(), reg)
	if err != nil {
		return nil, err
	}
	c.onClose(func() { _ = w.Close() })
	tr, err := kafka.NewTopicReader(*kCfg, c.logger())
	if err != nil {
		return nil, err
	}
	model, err := ef.model()
	if err != nil {
		return nil, err
	}
	log := c.logger().WithField("component", "estimator")
	svc := estimate.NewService(estimate.ServiceConfig{Model: model, RecentBlocks: ef.recentBlocks, FullRebuild: ef.fullRebuild}, store, w, log)
	src := &kafkaSource{cfg: *kCfg, group: ef.group, reader: tr, log: log, reg: reg, svc: svc, drain: c.shutdownBudget().drain}
	if err := registerLagGauge(reg, ef.group, src.Lag, log); err != nil {
		return nil, err
	}
	return &estimator{w: w, svc: svc, db: db, src: src}, nil
}

// lagAskTimeout bounds asking Kafka for the estimator's lag at one metrics scrape.
const lagAskTimeout = 5 * time.Second

// registerLagGauge exports lag — the input messages not yet reflected in written estimates
// (kafkaSource.Lag), asked of Kafka at every scrape — as hashatlas_estimator_lag_messages, so
// that the lag alert needs nothing but the estimator's own metrics. When Kafka cannot be asked
// the gauge is NaN (an alert on it then stays quiet rather than fire on a stale value; the
// readiness alert covers an estimator cut off from Kafka) and the failure is logged.
func registerLagGauge(reg prometheus.Registerer, group string, lag func(context.Context) (int64, error), log logrus.FieldLogger) error {
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "hashatlas", Subsystem: "estimator", Name: "lag_messages",
		Help: "Input messages (blocks, difficulty, pool stats, grid) not yet reflected in written estimates: " +
			"the input topics' end offsets less what the estimator's group committed, asked of Kafka at each scrape; NaN when Kafka could not be asked.",
		ConstLabels: prometheus.Labels{"group": group},
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), lagAskTimeout)
		defer cancel()
		n, err := lag(ctx)
		if err != nil {
			log.WithError(err).Warn("asking Kafka for the estimator's lag for the metrics failed")
			return math.NaN()
		}
		return float64(n)
	})
	if err := reg.Register(g); err != nil {
		return fmt.Errorf("register the estimator lag gauge: %w", err)
	}
	return nil
}

func setupEstimate(c *cli) (runFunc, error) {
	kCfg := c.kafkaFlags()
	chCfg := c.clickhouseFlags()
	var ef estimatorFlags
	ef.register(c.fs)
	c.addValidator(ef.validate)
	var untilIdle bool
	c.fs.BoolVar(&untilIdle, "until-idle", false, "exit once every input message is consumed and every estimate written (default: run until stopped)")
	return func(ctx context.Context) error {
		// Probes answer from the start: live at once, ready only once connected and caught up.
		c.setReadiness(func(context.Context) error {
			return errors.New("not ready: connecting to Kafka and ClickHouse")
		})
		if _, err := c.metrics(); err != nil {
			return err
		}
		e, err := c.openEstimator(ctx, kCfg, chCfg, &ef)
		if err != nil {
			return err
		}
		health := estimate.NewHealth(e.src.Lag, ef.maxLag)
		c.setReadiness(health.Ready)
		return estimate.Run(ctx, e.svc, e.src, untilIdle, health, c.logger().WithField("component", "estimator"))
	}, nil
}
