package braiins

import (
	"context"
	"fmt"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/schemas"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
)

// Collector publishes Braiins Pool's statistics. It implements ingest.Collector.
//
// A pass reads what the topic holds for source "braiins", fetches the stats once, then publishes
//   - the sample (see Sample): in the current form, the pool's 60-minute average over the hour
//     before update_ts, unless it is on the topic already or its hour starts earlier than
//     Config.SampleInterval (at least an hour) after the last published hour's start, less
//     WindowSlack — so that passes more frequent than hourly publish one hour in each
//     SampleInterval and consecutive hours tile time instead of overlapping; in the older form,
//     the scoring hash rate, unless its interval (the hour of the fetch) already has one on the
//     topic: the first reading of an hour stands;
//   - every round not on the topic with the same figures. A round on the topic with other
//     figures (its block orphaned since, say) is published again and the revision logged.
//
// A failed fetch or publish ends the pass with an error; nothing is recorded as published then.
type Collector struct {
	cfg    Config
	client *Client
	pub    ingest.Publisher
	stats  ingest.PoolStatsLog
	log    logrus.FieldLogger

	metrics ingest.PoolStatsMetrics
}

// New returns the collector. Metrics go to reg (nil: none); a nil log discards.
func New(cfg Config, client *Client, pub ingest.Publisher, stats ingest.PoolStatsLog, log logrus.FieldLogger, reg prometheus.Registerer) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log = ingest.OrDiscard(log)
	metrics, err := ingest.NewPoolStatsMetrics(SourceName, reg)
	if err != nil {
		return nil, err
	}
	return &Collector{
		cfg: cfg.withDefaults(), client: client, pub: pub, stats: stats,
		log: log.WithField("source", SourceName), metrics: metrics,
	}, nil
}

// Name is "braiins".
func (c *Collector) Name() string { return SourceName }

// Collect does one pass (see Collector).
func (c *Collector) Collect(ctx context.Context) error {
	idx, err := ingest.ReadPublishedPoolStats(ctx, c.stats, SourceName)
	if err != nil {
		return err
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
		old, ok := idx.Get(k)
		if ok && ingest.SamePoolStats(old, r) {
			continue
		}
		if ok {
			revised++
			c.log.WithFields(logrus.Fields{"key": k, "old": ingest.PoolStatsFigures(old), "new": ingest.PoolStatsFigures(r)}).
				Warn("the source revised a published figure: publishing the revision")
		}
		inBatch[k] = true
		out = append(out, r)
	}
	switch {
	case idx.Has(sample.Key()) || inBatch[sample.Key()]:
		c.log.WithField("key", sample.Key()).Debug("this interval already has a sample: the reading is not published")
	case st.Form == FormWindowed && c.tooSoon(idx, sample):
		c.log.WithField("key", sample.Key()).Debug("this hour starts too soon after the last published one: the reading is not published")
	default:
		out = append(out, sample)
	}
	if len(out) == 0 {
		return nil
	}
	if err := c.pub.Publish(ctx, out...); err != nil {
		return fmt.Errorf("publish %d %s messages: %w", len(out), SourceName, err)
	}
	c.metrics.Add(len(out), revised)
	c.log.WithFields(logrus.Fields{"published": len(out), "revised": revised, "blocks_listed": len(st.Blocks), "form": st.Form.String()}).Info("pool statistics published")
	return nil
}

// WindowSlack is how far a current-form hour may reach back into the spacing of the last
// published one and still be published. Braiins updates the figures at intervals (the update_ts
// values in public examples of the current answer fall on 5-minute marks), so an hourly pass
// that finds them updated a step early must not lose its hour: consecutive hours then overlap
// by up to 5 minutes instead.
const WindowSlack = 5 * time.Minute

// tooSoon reports whether a current-form sample's hour starts earlier than max(SampleInterval,
// Window) after the start of the last published 3600-s message (a sample, or a round of exactly
// an hour), less WindowSlack.
func (c *Collector) tooSoon(idx *ingest.PublishedPoolStats, sample schemas.PoolStats) bool {
	end, ok := idx.LastEnd(int64(Window / time.Second))
	if !ok {
		return false
	}
	spacing := max(c.cfg.SampleInterval, Window)
	return sample.Time.Before(end.Add(-Window + spacing - WindowSlack))
}
