package braiins

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/schemas"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
)

// StatsLog reads back what the pool-stats topic holds, so that a pass publishes only what is new
// or revised.
type StatsLog interface {
	// PoolStats returns the latest message of every key on the pool-stats topic whose source is
	// source, in any order (none when there are none). The caller owns the slice. It must return
	// when ctx ends.
	PoolStats(ctx context.Context, source string) ([]schemas.PoolStats, error)
}

// Collector publishes Braiins Pool's statistics. It implements ingest.Collector.
//
// A pass reads what the topic holds for source "braiins", fetches the stats once, then publishes
//   - the scoring-hash-rate sample, unless its interval (the hour of the fetch) already has one
//     on the topic: the first reading of an hour stands;
//   - every round not on the topic with the same figures. A round on the topic with other
//     figures (its block orphaned since, say) is published again and the revision logged.
//
// A failed fetch or publish ends the pass with an error; nothing is recorded as published then.
type Collector struct {
	cfg    Config
	client *Client
	pub    ingest.Publisher
	stats  StatsLog
	log    logrus.FieldLogger

	published prometheus.Counter
	revised   prometheus.Counter
}

// New returns the collector. Metrics go to reg (nil: none); a nil log discards.
func New(cfg Config, client *Client, pub ingest.Publisher, stats StatsLog, log logrus.FieldLogger, reg prometheus.Registerer) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = l
	}
	c := &Collector{
		cfg: cfg.withDefaults(), client: client, pub: pub, stats: stats,
		log: log.WithField("source", SourceName),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hashatlas_poolstats_published_total", Help: "Pool statistics messages published.",
			ConstLabels: prometheus.Labels{"source": SourceName},
		}),
		revised: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hashatlas_poolstats_revised_total", Help: "Pool statistics re-published because the source revised a published figure.",
			ConstLabels: prometheus.Labels{"source": SourceName},
		}),
	}
	if reg != nil {
		for _, m := range []prometheus.Collector{c.published, c.revised} {
			if err := reg.Register(m); err != nil {
				return nil, fmt.Errorf("register braiins collector metrics: %w", err)
			}
		}
	}
	return c, nil
}

// Name is "braiins".
func (c *Collector) Name() string { return SourceName }

// Collect does one pass (see Collector).
func (c *Collector) Collect(ctx context.Context) error {
	onTopic, err := c.stats.PoolStats(ctx, SourceName)
	if err != nil {
		return fmt.Errorf("read the published %s pool statistics: %w", SourceName, err)
	}
	byKey := make(map[string]schemas.PoolStats, len(onTopic))
	for _, s := range onTopic {
		byKey[s.Key()] = s
	}
	fetched := c.cfg.Now()
	st, err := c.client.Stats(ctx)
	if err != nil {
		if IsAuthError(err) {
			return fmt.Errorf("the access token was refused (use the token of an access profile that allows web API access): %w", err)
		}
		return err
	}
	sample, err := Sample(st, fetched, c.cfg.SampleInterval, c.cfg.Pool)
	if err != nil {
		return err
	}
	rounds, err := Rounds(st, c.cfg.Pool)
	if err != nil {
		return err
	}
	var out []schemas.Message
	revised := 0
	inBatch := map[string]bool{}
	for _, r := range rounds {
		k := r.Key()
		if inBatch[k] {
			continue
		}
		old, ok := byKey[k]
		if ok && sameFigures(old, r) {
			continue
		}
		if ok {
			revised++
			c.log.WithFields(logrus.Fields{"key": k, "old": figures(old), "new": figures(r)}).
				Warn("the source revised a published figure: publishing the revision")
		}
		inBatch[k] = true
		out = append(out, r)
	}
	if _, ok := byKey[sample.Key()]; ok || inBatch[sample.Key()] {
		c.log.WithField("key", sample.Key()).Debug("this interval already has a sample: the reading is not published")
	} else {
		out = append(out, sample)
	}
	if len(out) == 0 {
		return nil
	}
	if err := c.pub.Publish(ctx, out...); err != nil {
		return fmt.Errorf("publish %d %s messages: %w", len(out), SourceName, err)
	}
	c.published.Add(float64(len(out)))
	c.revised.Add(float64(revised))
	c.log.WithFields(logrus.Fields{"published": len(out), "revised": revised, "blocks_listed": len(st.Blocks)}).Info("pool statistics published")
	return nil
}

func sameFigures(a, b schemas.PoolStats) bool {
	eqF := (a.HashrateHS == nil) == (b.HashrateHS == nil) && (a.HashrateHS == nil || *a.HashrateHS == *b.HashrateHS)
	eqB := (a.Blocks == nil) == (b.Blocks == nil) && (a.Blocks == nil || *a.Blocks == *b.Blocks)
	return eqF && eqB && a.Key() == b.Key()
}

func figures(s schemas.PoolStats) string {
	var parts []string
	if s.HashrateHS != nil {
		parts = append(parts, fmt.Sprintf("hashrate_hs=%v", *s.HashrateHS))
	}
	if s.Blocks != nil {
		parts = append(parts, fmt.Sprintf("blocks=%d", *s.Blocks))
	}
	return strings.Join(parts, " ")
}
