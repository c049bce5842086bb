package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/ingest/braiins"
	"github.com/hashatlas/hashatlas/ingest/mempool"
	"github.com/hashatlas/hashatlas/schemas"
	"github.com/hashatlas/hashatlas/sinks/kafka"
)

// The pool-statistics sources of `collect`: a mempool instance's mining API and Braiins Pool's
// own stats API, both publishing to hashatlas.pool-stats.v1.
func init() {
	registerCollector("mempool-pools", setupMempoolPoolsCollector)
	registerCollector("braiins", setupBraiinsCollector)
}

func setupMempoolPoolsCollector(c *cli) collectorBuilder {
	var rg registryFlags
	rg.register(c.fs)
	mc := mempool.DefaultConfig()
	var periods string
	c.fs.StringVar(&mc.BaseURL, "mempool.url", mempool.DefaultBaseURL, "base URL of the mempool REST API: the public instance or a self-hosted one (its /api)")
	c.fs.Float64Var(&mc.HTTP.RequestsPerSecond, "mempool.requests-per-second", mempool.DefaultRequestsPerSecond, "request rate limit (negative: none, for a self-hosted instance)")
	c.fs.DurationVar(&mc.HTTP.Timeout, "mempool.timeout", 30*time.Second, "timeout of each request")
	c.fs.StringVar(&periods, "mempool.ranking-periods", strings.Join(mempool.DefaultRankingPeriods, ","),
		"trailing periods whose pool ranking (blocks per pool) is published: 24h and/or 3d, comma-separated (empty: none)")
	c.fs.DurationVar(&mc.Slack, "mempool.ranking-slack", mempool.DefaultSlack,
		"how far a ranking window may reach back into the last published one of its period and still be published")
	c.fs.BoolVar(&mc.History, "mempool.history", true, "publish the weekly pool hashrate history (mempool's avgHashrate: block share × network estimate)")
	c.fs.Var(poolsTimeFlag{&mc.From}, "from", "backfill the weekly history from this UTC date (YYYY-MM-DD or RFC 3339), one request per pool; use with --once (empty: resume from the topic)")
	c.fs.Var(poolsTimeFlag{&mc.To}, "to", "end (exclusive) of the backfill (empty: up to now)")
	c.addValidator(func() error {
		mc.RankingPeriods = poolsSplitList(periods)
		switch {
		case !mc.To.IsZero() && mc.From.IsZero():
			return flagErr("to", mc.To.Format(time.RFC3339), "a backfill end needs --from")
		case !mc.From.IsZero() && !mc.History:
			return flagErr("from", mc.From.Format(time.RFC3339), "a backfill of the history needs --mempool.history=true")
		case !mc.From.IsZero() && !mc.To.IsZero() && !mc.From.Before(mc.To):
			return flagErr("from", mc.From.Format(time.RFC3339), "must be before --to")
		}
		return namedErr("mempool", mc.Validate())
	})
	return func(ctx context.Context, pub ingest.Publisher, tr *kafka.TopicReader) (ingest.Collector, error) {
		reg, err := rg.load(ctx, c)
		if err != nil {
			return nil, err
		}
		client, err := mempool.NewClient(mc, nil, c.logger())
		if err != nil {
			return nil, err
		}
		metrics, err := c.metrics()
		if err != nil {
			return nil, err
		}
		return mempool.New(mc, client, reg, pub, poolStatsLog{tr}, c.logger(), metrics)
	}
}

func setupBraiinsCollector(c *cli) collectorBuilder {
	var bc braiins.Config
	c.fs.StringVar(&bc.BaseURL, "braiins.url", braiins.DefaultBaseURL, "Braiins Pool's site, under which the stats API is (/stats/json/btc/)")
	c.fs.StringVar(&bc.Token, "braiins.token", "", "access-profile token with web API access (set it through HASHATLAS_BRAIINS_TOKEN or --braiins.token-file, not the command line)")
	c.fs.StringVar(&bc.TokenFile, "braiins.token-file", "", "file holding the access-profile token")
	c.fs.StringVar(&bc.Pool, "braiins.pool", braiins.DefaultPool, "pool slug of the messages (the registry's slug of Braiins Pool)")
	c.fs.DurationVar(&bc.SampleInterval, "braiins.sample-interval", braiins.DefaultSampleInterval,
		"how often the pool's hash rate is published: the API's 60-minute average (its current answer) for one hour in each interval of at least an hour; the older answer's scoring hash rate filed under the interval it is read in, the first reading in each")
	c.fs.Float64Var(&bc.HTTP.RequestsPerSecond, "braiins.requests-per-second", braiins.DefaultRequestsPerSecond, "request rate limit (Braiins asks for at most one request per 5 s)")
	c.fs.DurationVar(&bc.HTTP.Timeout, "braiins.timeout", 30*time.Second, "timeout of each request")
	c.addValidator(func() error {
		if bc.Token == "" && bc.TokenFile == "" {
			return fmt.Errorf("a Braiins Pool access token is required: set %s (--braiins.token) or --braiins.token-file (env %s)",
				envName("braiins.token"), envName("braiins.token-file"))
		}
		return namedErr("braiins", bc.Validate())
	})
	return func(ctx context.Context, pub ingest.Publisher, tr *kafka.TopicReader) (ingest.Collector, error) {
		client, err := braiins.NewClient(bc, nil, c.logger())
		if err != nil {
			return nil, err
		}
		metrics, err := c.metrics()
		if err != nil {
			return nil, err
		}
		return braiins.New(bc, client, pub, poolStatsLog{tr}, c.logger(), metrics)
	}
}

// poolStatsLog reads the pool-stats topic for the pool-statistics collectors
// (ingest.PoolStatsLog): the latest message of every key of one source, read from the start.
type poolStatsLog struct{ tr *kafka.TopicReader }

func (l poolStatsLog) PoolStats(ctx context.Context, source string) ([]schemas.PoolStats, error) {
	latest := map[string]schemas.PoolStats{}
	_, err := l.tr.ReadAll(ctx, []string{schemas.TopicPoolStats}, func(r kafka.Record) error {
		// Offsets ascend within a partition and a key has one partition: the last seen is the latest.
		if p, ok := r.Message.(*schemas.PoolStats); ok && p.Source == source {
			latest[p.Key()] = *p
		}
		return nil
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", schemas.TopicPoolStats, err)
	}
	out := make([]schemas.PoolStats, 0, len(latest))
	for _, p := range latest {
		out = append(out, p)
	}
	return out, nil
}

// poolsTimeFlag is a UTC time flag taking a date (YYYY-MM-DD, midnight UTC) or RFC 3339.
type poolsTimeFlag struct{ t *time.Time }

func (f poolsTimeFlag) String() string {
	if f.t == nil || f.t.IsZero() {
		return ""
	}
	return f.t.UTC().Format(time.RFC3339)
}

func (f poolsTimeFlag) Set(s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		*f.t = time.Time{}
		return nil
	}
	for _, layout := range []string{"2006-01-02", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			*f.t = t.UTC()
			return nil
		}
	}
	return fmt.Errorf("want a date (2025-01-31) or an RFC 3339 time (2025-01-31T12:00:00Z)")
}

// poolsSplitList splits a comma-separated flag value, dropping empty items.
func poolsSplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
