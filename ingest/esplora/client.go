// Package esplora is the Esplora REST API chain source (Blockstream's esplora/electrs, and
// mempool.space, which serves the same endpoints under /api): a Client (the I/O) that
// implements ingest.BlockSource, and pure parsers of the API's responses (the part that is
// table-tested, golden-tested and fuzzed).
//
// A block costs two requests: GET /blocks/:height, whose first entry is the block at height
// with its hash and header fields, and GET /block/:hash/txs/0, whose first transaction is
// the coinbase. The documented alternative — /block-height/:height, /block/:hash, then
// /block/:hash/txid/0 and /tx/:txid — takes four.
package esplora

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/sirupsen/logrus"
)

// SourceName is the name of this source in messages, logs and errors.
const SourceName = "esplora"

// ErrHeightOutOfRange is ingest.ErrHeightOutOfRange, kept here for callers of this package.
var ErrHeightOutOfRange = ingest.ErrHeightOutOfRange

// Client reads blocks from one Esplora REST API through ingest.HTTPClient: every request has
// the configured timeout and rate limit, and network errors, 408/425/429 and 5xx are retried
// with backoff that honours Retry-After. A Client is safe for concurrent use.
type Client struct {
	base string
	http *ingest.HTTPClient
}

var _ ingest.BlockSource = (*Client)(nil)

// New makes a Client. transport may be nil (http.DefaultTransport); a nil log discards.
func New(cfg Config, transport http.RoundTripper, log logrus.FieldLogger) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Client{base: cfg.BaseURL, http: ingest.NewHTTPClient(SourceName, cfg.HTTP, transport, log)}, nil
}

// Name returns "esplora".
func (c *Client) Name() string { return SourceName }

// TipHeight returns the height of the API's best chain tip (GET /blocks/tip/height).
func (c *Client) TipHeight(ctx context.Context) (int64, error) {
	u := c.base + "/blocks/tip/height"
	body, err := c.http.Get(ctx, u, nil)
	if err != nil {
		return 0, err
	}
	h, err := parseTipHeight(body)
	if err != nil {
		return 0, fmt.Errorf("%s: GET %s: %w", SourceName, ingest.RedactURL(u), err)
	}
	return h, nil
}

// BlockAt returns the best-chain block at height. A height above the tip gives an error
// matching ErrHeightOutOfRange. Errors name the source, the URL, the fault and the height.
func (c *Client) BlockAt(ctx context.Context, height int64) (ingest.ChainBlock, error) {
	if height < 0 {
		return ingest.ChainBlock{}, fmt.Errorf("%s: block at height %d: negative height", SourceName, height)
	}
	u := fmt.Sprintf("%s/blocks/%d", c.base, height)
	body, err := c.http.Get(ctx, u, nil)
	if err != nil {
		var se *ingest.StatusError
		if errors.As(err, &se) && se.StatusCode == http.StatusNotFound {
			return ingest.ChainBlock{}, fmt.Errorf("%w (block at height %d: %w)", err, height, ErrHeightOutOfRange)
		}
		return ingest.ChainBlock{}, fmt.Errorf("%w (block at height %d)", err, height)
	}
	b, err := parseBlockList(body, height)
	if err != nil {
		return ingest.ChainBlock{}, fmt.Errorf("%s: GET %s: %w (block at height %d)", SourceName, ingest.RedactURL(u), err, height)
	}
	u = fmt.Sprintf("%s/block/%s/txs/0", c.base, url.PathEscape(b.Hash))
	body, err = c.http.Get(ctx, u, nil)
	if err != nil {
		return ingest.ChainBlock{}, fmt.Errorf("%w (block at height %d)", err, height)
	}
	cb, err := parseBlockTxs(body, b.Hash, height)
	if err != nil {
		return ingest.ChainBlock{}, fmt.Errorf("%s: GET %s: %w (block at height %d)", SourceName, ingest.RedactURL(u), err, height)
	}
	b.CoinbaseScript, b.CoinbaseAddresses = cb.Script, cb.Addresses
	if err := b.Validate(height); err != nil {
		return ingest.ChainBlock{}, fmt.Errorf("%s: block at height %d: %w", SourceName, height, err)
	}
	return b, nil
}
