// Package mempool collects pool statistics from the mining API of a mempool instance
// (mempool.space or a self-hosted one): a Client (the I/O) for the pool ranking and the weekly
// pool hashrate history, pure parsers of their responses (table-tested and fuzzed), and a
// Collector that publishes them as schemas.PoolStats with source "mempool".
//
// What the figures are (see also RankingStats, HistoryStats and HashrateRow):
//   - a ranking snapshot gives each pool's block count over a trailing window (24h or 3d)
//     ending when it was fetched: blocks, interval = the window, time = fetch − window;
//   - a weekly history row gives mempool's "avgHashrate": the pool's share of the week's
//     blocks × the network hashrate estimated from those blocks. It is derived from blocks like
//     hashatlas' own estimate, but with mempool's pool attribution; it is not a hashrate the
//     pool reported. time = the Monday 00:00 UTC starting the week, interval = 604800.
package mempool

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/sirupsen/logrus"
)

// SourceName is the source of the messages ("mempool"), and the name in errors and logs.
const SourceName = "mempool"

// Client reads one mempool instance's mining API through ingest.HTTPClient: every request has the
// configured timeout and rate limit, and network errors, 408/425/429 and 5xx are retried with
// backoff that honours Retry-After; 401, 404 and other statuses fail at once. Errors name the
// source and the URL, without the credentials a base URL may carry. A Client is safe for
// concurrent use.
type Client struct {
	base string
	http *ingest.HTTPClient
}

// NewClient makes a Client for cfg.BaseURL and cfg.HTTP. transport may be nil
// (http.DefaultTransport); a nil log discards.
func NewClient(cfg Config, transport http.RoundTripper, log logrus.FieldLogger) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Client{base: cfg.BaseURL, http: ingest.NewHTTPClient(SourceName, cfg.HTTP, transport, log)}, nil
}

// Ranking fetches GET /v1/mining/pools/:period ("" for the whole history: /v1/mining/pools).
func (c *Client) Ranking(ctx context.Context, period string) (Ranking, error) {
	u := c.base + "/v1/mining/pools"
	if period != "" {
		u += "/" + url.PathEscape(period)
	}
	body, err := c.http.Get(ctx, u, nil)
	if err != nil {
		return Ranking{}, err
	}
	r, err := ParseRanking(body)
	if err != nil {
		return Ranking{}, c.fault(u, err)
	}
	return r, nil
}

// PoolsHashrates fetches GET /v1/mining/hashrate/pools/:period ("" for the whole history): the
// weekly rows of every pool that found a block in the last week, for the weeks ending in the
// trailing period.
func (c *Client) PoolsHashrates(ctx context.Context, period string) ([]HashrateRow, error) {
	u := c.base + "/v1/mining/hashrate/pools"
	if period != "" {
		u += "/" + url.PathEscape(period)
	}
	return c.hashrates(ctx, u)
}

// PoolHashrates fetches GET /v1/mining/pool/:slug/hashrate: every weekly row of one pool.
func (c *Client) PoolHashrates(ctx context.Context, slug string) ([]HashrateRow, error) {
	return c.hashrates(ctx, c.base+"/v1/mining/pool/"+url.PathEscape(slug)+"/hashrate")
}

func (c *Client) hashrates(ctx context.Context, u string) ([]HashrateRow, error) {
	body, err := c.http.Get(ctx, u, nil)
	if err != nil {
		return nil, err
	}
	rows, err := ParseHashrates(body)
	if err != nil {
		return nil, c.fault(u, err)
	}
	return rows, nil
}

// fault is a bad answer to GET u: the parser's error, which may quote the answer, with
// credentials removed.
func (c *Client) fault(u string, err error) error {
	r := c.http.Redactor()
	return r.Error(fmt.Errorf("%s: GET %s: %w", SourceName, r.URL(u), err))
}
