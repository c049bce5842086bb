package esplora

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/hashatlas/hashatlas/ingest"
)

// DefaultBaseURL is mempool.space's Esplora-compatible API.
const DefaultBaseURL = "https://mempool.space/api"

// DefaultRequestsPerSecond is the rate limit used when Config.HTTP.RequestsPerSecond is 0.
// Public instances rate-limit by client and answer bursts with 429s, or bans.
const DefaultRequestsPerSecond = 2

// DefaultMaxBodyBytes bounds what is read of one answer when Config.HTTP.MaxBodyBytes is 0. The
// largest is GET /block/:hash/txs/0, the first 25 transactions of a block with their inputs'
// previous outputs, witnesses and scripts in hex and asm: tens of KB for most blocks, some MB
// when they include large transactions (a block is at most 4 MB, which its JSON here can
// more than triple).
const DefaultMaxBodyBytes = 32 << 20

// Config says how to reach one Esplora REST API.
type Config struct {
	// BaseURL is the API root that the endpoint paths (/blocks/tip/height, …) are appended
	// to: https://mempool.space/api, https://blockstream.info/api, or a self-hosted
	// electrs/esplora such as http://127.0.0.1:3000. Default: https://mempool.space/api.
	BaseURL string
	// HTTP sets the per-request timeout, retries, backoff and body limit, with the defaults of
	// ingest.HTTPConfig, except RequestsPerSecond: 0 means DefaultRequestsPerSecond (2) here,
	// and a negative value means no limit (for a self-hosted instance); and MaxBodyBytes:
	// DefaultMaxBodyBytes here, the most read of any answer (of the largest, a block's
	// transactions, only the coinbase is kept in memory; the other answers are refused past
	// 1 MiB).
	HTTP ingest.HTTPConfig
}

// Validate reports the first thing wrong with c, after defaults are applied.
func (c Config) Validate() error {
	h := c.HTTP
	if h.Timeout < 0 || h.BaseBackoff < 0 || h.MaxBackoff < 0 || h.MaxAttempts < 0 || h.MaxBodyBytes < 0 {
		return errors.New("esplora: HTTP settings must not be negative (except RequestsPerSecond)")
	}
	c = c.withDefaults()
	u, err := url.Parse(c.BaseURL)
	if err != nil {
		return fmt.Errorf("esplora base url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("esplora base url %q: scheme must be http or https", ingest.RedactURL(c.BaseURL))
	}
	if u.Host == "" {
		return fmt.Errorf("esplora base url %q: no host", ingest.RedactURL(c.BaseURL))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("esplora base url %q: endpoint paths are appended to it, so it can have no query or fragment",
			ingest.RedactURL(c.BaseURL))
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
	return c
}
