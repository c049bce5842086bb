package mempool

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
)

// DefaultBaseURL is the public mempool.space instance's API root. Any self-hosted mempool
// instance serves the same endpoints under its own /api.
const DefaultBaseURL = "https://mempool.space/api"

// DefaultRequestsPerSecond is the rate limit used when Config.HTTP.RequestsPerSecond is 0, as for
// ingest/esplora: the public instance answers bursts with 429s, then bans.
const DefaultRequestsPerSecond = 2

// DefaultMaxBodyBytes bounds an answer when Config.HTTP.MaxBodyBytes is 0. The answers are a few
// KB (a ranking: one entry per pool) to some hundred KB (the weekly history of every active
// pool over years, about 100 bytes a week and pool); the largest, the whole history, stays
// around a megabyte.
const DefaultMaxBodyBytes = 4 << 20

// DefaultSlack is Config.Slack when it is 0.
const DefaultSlack = 10 * time.Minute

// DefaultRankingPeriods are the ranking snapshots the command collects unless told otherwise.
var DefaultRankingPeriods = []string{"24h"}

// Config says how to reach one mempool instance's mining API and what to collect from it.
type Config struct {
	// BaseURL is the API root the endpoint paths (/v1/mining/pools/24h, …) are appended to, as
	// for ingest/esplora: https://mempool.space/api or a self-hosted instance's
	// http://host:port/api. Default: DefaultBaseURL.
	BaseURL string
	// HTTP sets the per-request timeout, retries, backoff and body limit, with the defaults of
	// ingest.HTTPConfig, except RequestsPerSecond: 0 means DefaultRequestsPerSecond (2) here, and
	// a negative value means no limit (for a self-hosted instance); and MaxBodyBytes:
	// DefaultMaxBodyBytes here.
	HTTP ingest.HTTPConfig
	// RankingPeriods are the trailing periods whose pool ranking (blocks per pool) is snapshot:
	// "24h" or "3d". "1w" is refused because its interval (604800 s) is the weekly history's,
	// whose messages share the (pool, source, interval) series; the longer ones ("1m", …) are
	// calendar months and years in mempool (SQL INTERVAL 1 MONTH), of no fixed length. Empty: no
	// ranking.
	RankingPeriods []string
	// History collects the weekly per-pool hashrate history. Default (false): not collected;
	// DefaultConfig and the command turn it on.
	History bool
	// From, when set, turns the history step into a backfill of the weeks whose start lies in
	// [From, To), one request per pool (GET /v1/mining/pool/:slug/hashrate), each page published
	// before the next is asked for. Zero: no backfill, the history step resumes from the topic.
	From time.Time
	// To ends the backfill range (exclusive). Zero: no end.
	To time.Time
	// Slack is how far a ranking snapshot's window may reach back into the last published
	// window of the same period and still be published. mempool rebuilds its ranking at most
	// every 10 minutes, so the window of a snapshot is itself only known to about that.
	// Default: DefaultSlack (10m).
	Slack time.Duration
	// Now is the clock that dates ranking snapshots. Default: time.Now.
	Now func() time.Time
}

// DefaultConfig is the public instance, the default ranking periods and the weekly history.
func DefaultConfig() Config {
	return Config{BaseURL: DefaultBaseURL, RankingPeriods: append([]string(nil), DefaultRankingPeriods...), History: true}
}

// Validate reports the first thing wrong with c, after defaults are applied.
func (c Config) Validate() error {
	if c.HTTP.HasNegative() {
		return errors.New("mempool: HTTP settings must not be negative (except RequestsPerSecond)")
	}
	c = c.withDefaults()
	if err := ingest.CheckBaseURL("mempool", c.BaseURL, "endpoint paths are appended to it"); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, p := range c.RankingPeriods {
		if _, err := RankingPeriod(p); err != nil {
			return err
		}
		if seen[p] {
			return fmt.Errorf("mempool ranking period %q is listed twice", p)
		}
		seen[p] = true
	}
	if c.Slack < 0 {
		return fmt.Errorf("mempool ranking slack %v is negative", c.Slack)
	}
	if c.From.IsZero() && !c.To.IsZero() {
		return errors.New("mempool backfill: an end (to) without a start (from)")
	}
	if !c.From.IsZero() {
		if !c.History {
			return errors.New("mempool backfill: a start (from) is given but the history is not collected")
		}
		if !c.To.IsZero() && !c.From.Before(c.To) {
			return fmt.Errorf("mempool backfill: start %s is not before end %s",
				c.From.UTC().Format(time.RFC3339), c.To.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	c.HTTP.RequestsPerSecond = ingest.RateDefault(c.HTTP.RequestsPerSecond, DefaultRequestsPerSecond)
	if c.HTTP.MaxBodyBytes == 0 {
		c.HTTP.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Slack == 0 {
		c.Slack = DefaultSlack
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// rankingPeriods maps the ranking periods collected to their seconds (mempool backend
// Common.getSqlInterval: 24h = INTERVAL 1 DAY, 3d = INTERVAL 3 DAY).
var rankingPeriods = map[string]int64{"24h": 86400, "3d": 3 * 86400}

// RankingPeriod returns the length of a ranking period ("24h" or "3d"), or an error that says why
// another is refused.
func RankingPeriod(p string) (time.Duration, error) {
	if s, ok := rankingPeriods[p]; ok {
		return time.Duration(s) * time.Second, nil
	}
	switch p {
	case "1w":
		return 0, fmt.Errorf("mempool ranking period %q: its interval (604800 s) is the weekly hashrate history's, whose messages it would share keys with", p)
	case "1m", "3m", "6m", "1y", "2y", "3y", "4y", "all", "":
		return 0, fmt.Errorf("mempool ranking period %q: only 24h and 3d have a fixed length (mempool counts months and years by the calendar)", p)
	}
	return 0, fmt.Errorf("mempool ranking period %q is not one of 24h, 3d", p)
}

// historyPeriods are the trailing periods of GET /v1/mining/hashrate/pools/:timePeriod, each with
// the least time it can span (calendar months and years counted back from now: 1 MONTH is at
// least 28 days, 3 MONTH at least 89, 6 MONTH at least 181, a year at least 365 days).
var historyPeriods = []struct {
	name string
	min  time.Duration
}{
	{"1m", 28 * 24 * time.Hour},
	{"3m", 89 * 24 * time.Hour},
	{"6m", 181 * 24 * time.Hour},
	{"1y", 365 * 24 * time.Hour},
	{"2y", 730 * 24 * time.Hour},
	{"3y", 1095 * 24 * time.Hour},
}

// coveringPeriod returns the shortest trailing period that surely reaches back from now to since,
// or "" (the whole history) when none does.
func coveringPeriod(since, now time.Time) string {
	need := now.Sub(since)
	for _, p := range historyPeriods {
		if p.min >= need {
			return p.name
		}
	}
	return ""
}
