package mempool

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/ingest/pools"
	"github.com/hashatlas/hashatlas/schemas"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
)

// Collector publishes a mempool instance's pool statistics. It implements ingest.Collector.
//
// A pass reads what the topic holds for source "mempool", then
//   - for each ranking period, fetches the ranking and publishes its snapshot unless the
//     snapshot's window starts more than Config.Slack before the end of the last published
//     window of that period (so that consecutive snapshots tile time instead of overlapping);
//   - without Config.From: fetches the weekly hashrate history of the shortest trailing period
//     that reaches back to the last published week (one month on a first run);
//   - with Config.From: backfills the weeks starting in [From, To), a page (request) per pool
//     that found a block since From, publishing each page before asking for the next.
//
// A message whose key is on the topic with the same figures is not published again; one with
// other figures is (mempool revised it, for example after re-indexing with a new pool
// registry) and the revision is logged. The steps are independent: a failed one does not stop
// the others, unless it failed for the pass deadline (its end, or a Retry-After past it); what
// was published stays published, and the pass returns every step's error, on one line.
type Collector struct {
	cfg      Config
	client   *Client
	registry *pools.Registry
	pub      ingest.Publisher
	stats    ingest.PoolStatsLog
	log      logrus.FieldLogger

	metrics ingest.PoolStatsMetrics
}

// New returns the collector. registry maps mempool's slugs (nil: slugs are kept as mempool gives
// them); metrics go to reg (nil: none); a nil log discards.
func New(cfg Config, client *Client, registry *pools.Registry, pub ingest.Publisher, stats ingest.PoolStatsLog,
	log logrus.FieldLogger, reg prometheus.Registerer) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log = ingest.OrDiscard(log)
	metrics, err := ingest.NewPoolStatsMetrics(SourceName, reg)
	if err != nil {
		return nil, err
	}
	return &Collector{
		cfg: cfg.withDefaults(), client: client, registry: registry, pub: pub, stats: stats,
		log: log.WithField("source", SourceName), metrics: metrics,
	}, nil
}

// Name is "mempool-pools" (the collect source; messages say source "mempool").
func (c *Collector) Name() string { return "mempool-pools" }

// Collect does one pass (see Collector).
func (c *Collector) Collect(ctx context.Context) error {
	idx, err := ingest.ReadPublishedPoolStats(ctx, c.stats, SourceName)
	if err != nil {
		return err
	}
	m := NewSlugMapper(c.registry)
	var errs []error
	for _, p := range c.cfg.RankingPeriods {
		if err := c.ranking(ctx, p, idx, m); err != nil {
			errs = append(errs, fmt.Errorf("ranking %s: %w", p, err))
			if passOver(ctx, err) {
				return joinErrors(errs)
			}
		}
	}
	if c.cfg.History {
		if c.cfg.From.IsZero() {
			err = c.history(ctx, idx, m)
		} else {
			err = c.backfill(ctx, idx, m)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if r := m.Renamed(); len(r) > 0 {
		c.log.WithField("renames", r).Info("pools the instance lists under a former slug are published under their current one (ingest/pools/aliases.csv)")
	}
	if u := m.Unknown(); len(u) > 0 {
		c.log.WithField("pools", u).Info("pools not in the registry are kept under mempool's slug")
	}
	return joinErrors(errs)
}

// passOver reports whether a step's failure ends the pass: its deadline has come, or the
// instance asked to be left alone (Retry-After) for longer than the pass has left. The other
// steps would ask the same instance.
func passOver(ctx context.Context, err error) bool {
	var de *ingest.DeadlineError
	return ctx.Err() != nil || errors.As(err, &de)
}

// joinErrors joins the steps' errors on one line ("; "), keeping each for errors.Is and As.
func joinErrors(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return stepErrors(errs)
}

type stepErrors []error

func (e stepErrors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e stepErrors) Unwrap() []error { return e }

func (c *Collector) ranking(ctx context.Context, p string, idx *ingest.PublishedPoolStats, m *SlugMapper) error {
	period, err := RankingPeriod(p)
	if err != nil {
		return err
	}
	fetched := c.cfg.Now()
	r, err := c.client.Ranking(ctx, p)
	if err != nil {
		return err
	}
	for _, rp := range r.Pools {
		m.Learn(rp.Name, rp.Slug)
	}
	start := fetched.UTC().Truncate(time.Second).Add(-period)
	if end, ok := idx.LastEnd(int64(period / time.Second)); ok && start.Before(end.Add(-c.cfg.Slack)) {
		c.log.WithFields(logrus.Fields{"period": p, "window_start": start, "last_window_end": end}).
			Debug("ranking window overlaps the last published one: snapshot not published")
		return nil
	}
	msgs, err := RankingStats(r, period, fetched, m)
	if err != nil {
		return err
	}
	return c.publish(ctx, idx, msgs, "ranking "+p)
}

func (c *Collector) history(ctx context.Context, idx *ingest.PublishedPoolStats, m *SlugMapper) error {
	period := "1m"
	if end, ok := idx.LastEnd(int64(Week / time.Second)); ok {
		// Reach back to the last published week itself, so that a revision of it is seen too.
		period = coveringPeriod(end, c.cfg.Now())
	}
	rows, err := c.client.PoolsHashrates(ctx, period)
	if err != nil {
		return fmt.Errorf("hashrate history: %w", err)
	}
	msgs, offWeek, err := HistoryStats(rows, m.FromName)
	if err != nil {
		return fmt.Errorf("hashrate history %s: %w", period, err)
	}
	c.logOffWeek("hashrate history "+period, offWeek)
	return c.publish(ctx, idx, msgs, "hashrate history "+period)
}

func (c *Collector) backfill(ctx context.Context, idx *ingest.PublishedPoolStats, m *SlugMapper) error {
	period := coveringPeriod(c.cfg.From, c.cfg.Now())
	r, err := c.client.Ranking(ctx, period)
	if err != nil {
		return fmt.Errorf("backfill: list the pools: %w", err)
	}
	from, to := c.cfg.From.UTC(), c.cfg.To.UTC()
	log := c.log.WithFields(logrus.Fields{"from": from, "pages": len(r.Pools)})
	if !c.cfg.To.IsZero() {
		log = log.WithField("to", to)
	}
	for i, p := range r.Pools {
		m.Learn(p.Name, p.Slug)
		rows, err := c.client.PoolHashrates(ctx, p.Slug)
		if err != nil {
			return fmt.Errorf("backfill page %d of %d (pool %s): %w", i+1, len(r.Pools), p.Slug, err)
		}
		kept := rows[:0]
		for _, row := range rows {
			start := row.End.Add(-Week)
			if !start.Before(from) && (c.cfg.To.IsZero() || start.Before(to)) {
				kept = append(kept, row)
			}
		}
		slug := m.FromSlug(p.Slug)
		msgs, offWeek, err := HistoryStats(kept, func(string) string { return slug })
		if err != nil {
			return fmt.Errorf("backfill page %d of %d (pool %s): %w", i+1, len(r.Pools), p.Slug, err)
		}
		c.logOffWeek("backfill page "+p.Slug, offWeek)
		if err := c.publish(ctx, idx, msgs, "backfill page "+p.Slug); err != nil {
			return err
		}
		log.WithFields(logrus.Fields{"page": i + 1, "pool": slug, "rows": len(msgs)}).Info("backfill page done")
	}
	return nil
}

// logOffWeek says, in one line per step, that weekly rows not ending on a Monday 00:00 UTC were
// left out, and why (see HistoryStats), with the first of them.
func (c *Collector) logOffWeek(step string, rows []HashrateRow) {
	if len(rows) == 0 {
		return
	}
	f := rows[0]
	c.log.WithFields(logrus.Fields{
		"step": step, "rows": len(rows), "first_pool": f.PoolName, "first_end": f.End.Format(time.RFC3339), "first_weekday": f.End.Weekday().String(),
	}).Warn("weekly rows not ending on a Monday 00:00 UTC are left out: each would be a second week overlapping a Monday-to-Monday one")
}

// publish sends the messages whose key is not on the topic with the same figures, and records
// them in idx.
func (c *Collector) publish(ctx context.Context, idx *ingest.PublishedPoolStats, msgs []schemas.PoolStats, what string) error {
	out := make([]schemas.Message, 0, len(msgs))
	revised := 0
	for _, s := range msgs {
		old, ok := idx.Get(s.Key())
		if ok && ingest.SamePoolStats(old, s) {
			continue
		}
		if ok {
			revised++
			c.log.WithFields(logrus.Fields{"key": s.Key(), "old": ingest.PoolStatsFigures(old), "new": ingest.PoolStatsFigures(s)}).
				Warn("the source revised a published figure: publishing the revision")
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		c.log.WithFields(logrus.Fields{"step": what, "messages": len(msgs)}).Debug("nothing new")
		return nil
	}
	if err := c.pub.Publish(ctx, out...); err != nil {
		return fmt.Errorf("publish %d %s messages (%s): %w", len(out), SourceName, what, err)
	}
	for _, m := range out {
		idx.Put(m.(schemas.PoolStats))
	}
	c.metrics.Add(len(out), revised)
	c.log.WithFields(logrus.Fields{"step": what, "published": len(out), "revised": revised}).Info("pool statistics published")
	return nil
}
