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
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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
// with backoff that honours Retry-After. What it holds of an answer in memory is bounded by
// maxHeldBytes (the tip height and the block list are a few KB; of the transactions of a block
// only the coinbase is kept), what it reads of one by Config.HTTP.MaxBodyBytes. Credentials in
// the base URL never reach an error or a log line. A Client is safe for concurrent use.
type Client struct {
	base string
	http *ingest.HTTPClient
}

// maxHeldBytes bounds what the client holds in memory of one answer: a tip height or block list
// (10 to 15 blocks, a few KB), or the first transaction of a block (a coinbase: its scriptSig
// is at most 100 bytes, and a coinbase paying even thousands of outputs stays well under).
const maxHeldBytes = 1 << 20

// readSmall reads an answer that is small when it is real: at most maxHeldBytes.
func readSmall(body io.Reader) ([]byte, error) { return ingest.ReadBody(body, -1, maxHeldBytes) }

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
	body, err := c.http.GetFunc(ctx, u, nil, readSmall)
	if err != nil {
		return 0, err
	}
	h, err := parseTipHeight(body)
	if err != nil {
		return 0, c.fault(u, err)
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
	body, err := c.http.GetFunc(ctx, u, nil, readSmall)
	if err != nil {
		var se *ingest.StatusError
		if errors.As(err, &se) && se.StatusCode == http.StatusNotFound {
			return ingest.ChainBlock{}, fmt.Errorf("%w (block at height %d: %w)", err, height, ErrHeightOutOfRange)
		}
		return ingest.ChainBlock{}, fmt.Errorf("%w (block at height %d)", err, height)
	}
	b, err := parseBlockList(body, height)
	if err != nil {
		return ingest.ChainBlock{}, fmt.Errorf("%w (block at height %d)", c.fault(u, err), height)
	}
	u = fmt.Sprintf("%s/block/%s/txs/0", c.base, url.PathEscape(b.Hash))
	body, err = c.http.GetFunc(ctx, u, nil, firstTransaction)
	if err != nil {
		return ingest.ChainBlock{}, fmt.Errorf("%w (block at height %d)", err, height)
	}
	cb, err := parseBlockTxs(body, b.Hash, height)
	if err != nil {
		return ingest.ChainBlock{}, fmt.Errorf("%w (block at height %d)", c.fault(u, err), height)
	}
	b.CoinbaseScript, b.CoinbaseAddresses = cb.Script, cb.Addresses
	if err := b.Validate(height); err != nil {
		return ingest.ChainBlock{}, c.http.Redactor().Error(fmt.Errorf("%s: block at height %d: %w", SourceName, height, err))
	}
	return b, nil
}

// fault is a bad answer to GET u: the parser's error, which may quote the answer, with
// credentials removed.
func (c *Client) fault(u string, err error) error {
	r := c.http.Redactor()
	return r.Error(fmt.Errorf("%s: GET %s: %w", SourceName, r.URL(u), err))
}

// firstTransaction reads the answer of GET /block/:hash/txs/0, a JSON array of the block's
// first 25 transactions, and returns it with only its first element, the coinbase: "[" + the
// coinbase + "]". The list runs to megabytes when the block has large transactions (an
// inscription's witness, say); the rest is read to its end only to tell a complete answer from
// a truncated one, and not kept. A body that is not an array, or that ends before its first
// element does, is returned as read, for the parser to say what is wrong with it.
func firstTransaction(body io.Reader) ([]byte, error) {
	const (
		before = iota // before the '[' of the array
		open          // after it, before the first element
		first         // in the first element
		rest          // after the first element, before the array ends
		closed        // after the array's ']'
	)
	var (
		held        []byte
		read        int64
		state       = before
		depth       int // of brackets and braces, the array's included
		inStr, esc  bool
		bare        bool // the first element is a number or literal, ended by a delimiter
		buf         = make([]byte, 32<<10)
		elementDone = func() { held = append(held, ']'); state = rest }
	)
	for {
		n, err := body.Read(buf)
		read += int64(n)
		for i, ch := range buf[:n] {
			switch state {
			case before:
				held = append(held, ch)
				switch {
				case ch == '[':
					state, depth = open, 1
				case !isSpace(ch):
					// Not an array: the parser says what it is.
					more, err := ingest.ReadBody(io.MultiReader(bytes.NewReader(buf[i+1:n]), body), -1, maxHeldBytes)
					return append(held, more...), err
				}
				continue
			case open:
				held = append(held, ch)
				switch {
				case ch == ']':
					return held, nil // an empty list: the parser says so
				case isSpace(ch):
					continue
				}
				state = first
				switch ch {
				case '{', '[':
					depth++
				case '"':
					inStr = true
				default:
					bare = true
				}
				continue
			case first:
				if bare && (ch == ',' || ch == ']' || isSpace(ch)) {
					elementDone()
					// The delimiter belongs to the rest.
				} else {
					held = append(held, ch)
					if len(held) > maxHeldBytes {
						return nil, fmt.Errorf("the first transaction, the coinbase, is over %d bytes: refused", maxHeldBytes)
					}
					if bare {
						continue
					}
					wasStr := inStr
					scanJSON(ch, &inStr, &esc, &depth)
					if depth == 1 && !inStr && (ch == '}' || ch == ']' || wasStr && ch == '"') {
						elementDone()
					}
					continue
				}
			case closed:
				continue
			}
			// state == rest
			scanJSON(ch, &inStr, &esc, &depth)
			if depth == 0 {
				state = closed
			}
		}
		if err == io.EOF {
			switch state {
			case closed:
				return held, nil
			case rest:
				return nil, fmt.Errorf("transaction list is truncated: unexpected end of JSON input after %d bytes", read)
			}
			return held, nil // cut before its first element ended: the parser says so
		}
		if err != nil {
			return nil, err
		}
	}
}

// scanJSON follows the strings and the nesting of a JSON text, a byte at a time.
func scanJSON(ch byte, inStr, esc *bool, depth *int) {
	switch {
	case *inStr && *esc:
		*esc = false
	case *inStr && ch == '\\':
		*esc = true
	case *inStr && ch == '"':
		*inStr = false
	case *inStr:
	case ch == '"':
		*inStr = true
	case ch == '{' || ch == '[':
		*depth++
	case ch == '}' || ch == ']':
		*depth--
	}
}

func isSpace(ch byte) bool { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' }
