package ingest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
	"github.com/prometheus/client_golang/prometheus"
)

// Helpers the pool-statistics collectors share (ingest/braiins, ingest/mempool).

// PoolStatsLog reads back what the pool-stats topic holds, so that a pass publishes only what is
// new or revised.
type PoolStatsLog interface {
	// PoolStats returns the latest message of every key on the pool-stats topic whose source is
	// source, in any order (none when there are none). The caller owns the slice. It must return
	// when ctx ends.
	PoolStats(ctx context.Context, source string) ([]schemas.PoolStats, error)
}

// PublishedPoolStats is what the pool-stats topic holds for one source, by message key.
type PublishedPoolStats struct {
	byKey map[string]schemas.PoolStats
}

// NewPublishedPoolStats indexes the messages read from the topic.
func NewPublishedPoolStats(on []schemas.PoolStats) *PublishedPoolStats {
	x := &PublishedPoolStats{byKey: make(map[string]schemas.PoolStats, len(on))}
	for _, s := range on {
		x.byKey[s.Key()] = s
	}
	return x
}

// ReadPublishedPoolStats reads what the topic holds for source and indexes it.
func ReadPublishedPoolStats(ctx context.Context, log PoolStatsLog, source string) (*PublishedPoolStats, error) {
	onTopic, err := log.PoolStats(ctx, source)
	if err != nil {
		return nil, fmt.Errorf("read the published %s pool statistics: %w", source, err)
	}
	return NewPublishedPoolStats(onTopic), nil
}

// Get returns the message on the topic with key k, if any.
func (x *PublishedPoolStats) Get(k string) (schemas.PoolStats, bool) {
	s, ok := x.byKey[k]
	return s, ok
}

// Has reports whether the topic holds a message with key k.
func (x *PublishedPoolStats) Has(k string) bool {
	_, ok := x.byKey[k]
	return ok
}

// Put records s as published.
func (x *PublishedPoolStats) Put(s schemas.PoolStats) { x.byKey[s.Key()] = s }

// LastEnd is the latest end (time + interval) of the messages with this interval, over all pools.
func (x *PublishedPoolStats) LastEnd(intervalSeconds int64) (time.Time, bool) {
	var last time.Time
	found := false
	for _, s := range x.byKey {
		if s.IntervalSeconds != intervalSeconds {
			continue
		}
		if end := s.Time.Add(time.Duration(intervalSeconds) * time.Second); !found || end.After(last) {
			last, found = end, true
		}
	}
	return last.UTC(), found
}

// SamePoolStats reports whether a and b have the same key and the same figures.
func SamePoolStats(a, b schemas.PoolStats) bool {
	return a.Pool == b.Pool && a.Source == b.Source && a.IntervalSeconds == b.IntervalSeconds && a.Time.Equal(b.Time) &&
		sameFloat(a.HashrateHS, b.HashrateHS) && sameInt(a.Blocks, b.Blocks)
}

func sameFloat(a, b *float64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
func sameInt(a, b *int64) bool     { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

// PoolStatsFigures formats an observation's figures for a log line ("hashrate_hs=… blocks=…").
func PoolStatsFigures(s schemas.PoolStats) string {
	var parts []string
	if s.HashrateHS != nil {
		parts = append(parts, fmt.Sprintf("hashrate_hs=%v", *s.HashrateHS))
	}
	if s.Blocks != nil {
		parts = append(parts, fmt.Sprintf("blocks=%d", *s.Blocks))
	}
	return strings.Join(parts, " ")
}

// PoolStatsMetrics count what a pool-statistics collector publishes.
type PoolStatsMetrics struct {
	// Published counts the messages published; Revised those re-published because the source
	// revised a published figure.
	Published, Revised prometheus.Counter
}

// NewPoolStatsMetrics makes the counters of source's collector and registers them with reg
// (nil: not registered).
func NewPoolStatsMetrics(source string, reg prometheus.Registerer) (PoolStatsMetrics, error) {
	m := PoolStatsMetrics{
		Published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hashatlas_poolstats_published_total", Help: "Pool statistics messages published.",
			ConstLabels: prometheus.Labels{"source": source},
		}),
		Revised: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hashatlas_poolstats_revised_total", Help: "Pool statistics re-published because the source revised a published figure.",
			ConstLabels: prometheus.Labels{"source": source},
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.Published, m.Revised} {
			if err := reg.Register(c); err != nil {
				return m, fmt.Errorf("register %s collector metrics: %w", source, err)
			}
		}
	}
	return m, nil
}

// Add counts published messages, revised of them revisions.
func (m PoolStatsMetrics) Add(published, revised int) {
	m.Published.Add(float64(published))
	m.Revised.Add(float64(revised))
}
