// Package braiins collects Braiins Pool's own public statistics — the pool's hash rate as the
// pool measures it from its miners' shares — as the observation of a pool's size that does not
// come from block attribution. It has a Client (the I/O, authenticated by an access-profile
// token), a pure parser of the stats API's answer (table-tested and fuzzed), and a Collector
// that publishes schemas.PoolStats with source "braiins" and pool "braiinspool".
//
// One answer gives two kinds of observation (see Sample and Rounds):
//   - the pool's hash rate: in the API's current form, its average over the 60 minutes before
//     the answer's update_ts, over exactly that hour; in the older form, its current scoring
//     hash rate, filed under the hour (Config.SampleInterval) in which it was read; once per
//     hour either way;
//   - for each of the last blocks the pool found, the round that led to it: one block over
//     [found − round duration, found), with the scoring hash rate at the find.
//
// Both forms of the answer are read (see Form); the token goes in the Pool-Auth-Token header.
//
// The API offers no longer history, so there is no backfill: a collector run every few hours
// loses no round (the answer lists the last 15 blocks, days of them).
package braiins

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/sirupsen/logrus"
)

// SourceName is the source of the messages ("braiins"), and the name in errors and logs.
const SourceName = "braiins"

// Client reads Braiins Pool's stats API through ingest.HTTPClient (timeout, rate limit, retries
// of network errors, 408/425/429 and 5xx honouring Retry-After; a 401 or 403 — a bad token —
// fails at once). The token goes in the TokenHeader header only; it is registered with the HTTP
// client's ingest.Redactor, so that no error or log line carries it, even when the server echoes
// the request. A Client is safe for concurrent use.
type Client struct {
	url  string
	coin string
	hdr  http.Header
	http *ingest.HTTPClient
}

// NewClient makes a Client for cfg, reading the token file if one is configured. transport may be
// nil (http.DefaultTransport); a nil log discards.
func NewClient(cfg Config, transport http.RoundTripper, log logrus.FieldLogger) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	token, err := cfg.token()
	if err != nil {
		return nil, err
	}
	hc := ingest.NewHTTPClient(SourceName, cfg.HTTP, transport, log)
	hc.Redactor().AddSecret(token)
	hc.Redactor().AddName(TokenHeader, "X-"+TokenHeader, OldTokenHeader, "X-"+OldTokenHeader)
	return &Client{
		url:  cfg.BaseURL + "/stats/json/" + url.PathEscape(cfg.Coin) + "/",
		coin: cfg.Coin,
		hdr:  http.Header{TokenHeader: {token}},
		http: hc,
	}, nil
}

// Stats fetches and parses GET /stats/json/<coin>/.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	body, err := c.http.Get(ctx, c.url, c.hdr)
	if err != nil {
		return Stats{}, err
	}
	s, err := ParseStats(body, c.coin)
	if err != nil {
		r := c.http.Redactor()
		return Stats{}, r.Error(fmt.Errorf("%s: GET %s: %w", SourceName, r.URL(c.url), err))
	}
	return s, nil
}

// IsAuthError reports whether err is the API refusing the token (HTTP 401 or 403).
func IsAuthError(err error) bool {
	var se *ingest.StatusError
	return errors.As(err, &se) && (se.StatusCode == http.StatusUnauthorized || se.StatusCode == http.StatusForbidden)
}
