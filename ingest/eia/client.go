// Package eia collects hourly electricity data by balancing authority from the U.S. EIA Open
// Data API v2 (Form EIA-930, the Hourly Electric Grid Monitor) into grid observations: demand,
// day-ahead demand forecast, net generation and total interchange (route
// electricity/rto/region-data) and net generation by energy source (route
// electricity/rto/fuel-type-data). It has a Client (the I/O), a pure parser of the API's
// answers (ParsePage, ParsePeriod: table-tested and fuzzed) and a Collector.
//
// Requests follow https://www.eia.gov/opendata/documentation.php: GET {base}/{route}?
// api_key=…&frequency=hourly&data[0]=value&facets[respondent][]=ERCO&facets[type][]=D&
// start=2024-01-01T01&end=2024-01-02T00&sort[0][column]=period&sort[0][direction]=asc&
// …&offset=0&length=5000. start and end are period labels and inclusive; the answer's
// response.total is the number of matching rows, fetched page by page with offset and
// length (at most 5,000 rows per JSON request). The sort names every facet after the
// period, so that the order, and with it offset paging, is total.
package eia

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/sirupsen/logrus"
)

// SourceName is the name of this source in messages, logs and errors.
const SourceName = "eia"

// Client reads the EIA-930 routes through ingest.HTTPClient: every request has the
// configured timeout and rate limit; network errors, 408/425/429 and 5xx are retried with
// backoff that honours Retry-After; 401/403 (a bad key) fail at once. The API key is
// registered with the HTTP client's ingest.Redactor: it never appears in an error or a log
// line, even when the server echoes the request. A Client is safe for concurrent use.
type Client struct {
	base   string
	key    string
	length int
	http   *ingest.HTTPClient
}

// NewClient makes a Client from cfg (validated here). transport may be nil
// (http.DefaultTransport); a nil log discards.
func NewClient(cfg Config, transport http.RoundTripper, log logrus.FieldLogger) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", SourceName, err)
	}
	cfg = cfg.withDefaults()
	key, err := cfg.apiKey()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", SourceName, err)
	}
	hc := ingest.NewHTTPClient(SourceName, cfg.HTTP, transport, log)
	hc.Redactor().AddSecret(key)
	return &Client{base: cfg.BaseURL, key: key, length: cfg.PageLength, http: hc}, nil
}

// Query selects the rows of one route: some respondents and series codes, and the hours
// whose start lies in [From, To) (whole hours, UTC).
type Query struct {
	Route       Route
	Respondents []string
	Codes       []string
	From, To    time.Time
}

func (q Query) String() string {
	return fmt.Sprintf("%s %s %s=%s %s..%s", q.Route.Name, strings.Join(q.Respondents, ","), q.Route.Facet,
		strings.Join(q.Codes, ","), q.From.UTC().Format(time.RFC3339), q.To.UTC().Format(time.RFC3339))
}

// requestURL builds the request for one page of q, key included.
func (c *Client) requestURL(q Query, offset int) string {
	v := url.Values{}
	v.Set("api_key", c.key)
	v.Set("frequency", "hourly")
	v.Set("data[0]", "value")
	for _, r := range q.Respondents {
		v.Add("facets[respondent][]", r)
	}
	for _, code := range q.Codes {
		v.Add("facets["+q.Route.Facet+"][]", code)
	}
	// Labels name the hour's end: the hours starting in [From, To) are labelled From+1h to To.
	v.Set("start", FormatPeriod(q.From))
	v.Set("end", FormatPeriod(q.To.Add(-time.Hour)))
	for i, col := range []string{"period", "respondent", q.Route.Facet} {
		v.Set("sort["+strconv.Itoa(i)+"][column]", col)
		v.Set("sort["+strconv.Itoa(i)+"][direction]", "asc")
	}
	v.Set("offset", strconv.Itoa(offset))
	v.Set("length", strconv.Itoa(c.length))
	return c.base + "/" + q.Route.Path + "?" + v.Encode()
}

// Page fetches and parses the page of q at offset. Besides the parser's checks it refuses a
// page with more rows than asked for, or with a row outside q (another respondent or code,
// an hour outside [From, To)): the API answering another question is a bad response.
func (c *Client) Page(ctx context.Context, q Query, offset int) (Page, error) {
	u := c.requestURL(q, offset)
	red := c.http.Redactor()
	shown := red.URL(u)
	body, err := c.http.Get(ctx, u, http.Header{"Accept": []string{"application/json"}})
	if err != nil {
		return Page{}, err
	}
	p, err := ParsePage(body, q.Route)
	if err != nil {
		return Page{}, red.Error(fmt.Errorf("%s: GET %s: %w", SourceName, shown, err))
	}
	if len(p.Rows) > c.length {
		return Page{}, fmt.Errorf("%s: GET %s: %d rows, more than the %d asked for", SourceName, shown, len(p.Rows), c.length)
	}
	for i, r := range p.Rows {
		if msg := outside(q, r); msg != "" {
			return Page{}, red.Error(fmt.Errorf("%s: GET %s: data[%d]: %s", SourceName, shown, i, msg))
		}
	}
	return p, nil
}

func outside(q Query, r Row) string {
	if !contains(q.Respondents, r.Respondent) {
		return fmt.Sprintf("respondent %q was not asked for", ingest.Clip(r.Respondent))
	}
	if !contains(q.Codes, r.Code) {
		return fmt.Sprintf("%s %q was not asked for", q.Route.Facet, ingest.Clip(r.Code))
	}
	if r.Start.Before(q.From) || !r.Start.Before(q.To) {
		return fmt.Sprintf("the hour starting %s is outside the %s..%s asked for", r.Start.Format(time.RFC3339),
			q.From.UTC().Format(time.RFC3339), q.To.UTC().Format(time.RFC3339))
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Fetch reads every page of q in order, calling fn with each (offset is the page's first
// row), until the rows read reach response.total. A page that is empty while rows remain is
// an error, as is fn's error. Rows fn has handled stay handled when Fetch fails later.
func (c *Client) Fetch(ctx context.Context, q Query, fn func(offset int, p Page) error) error {
	offset := 0
	for {
		p, err := c.Page(ctx, q, offset)
		if err != nil {
			return err
		}
		if err := fn(offset, p); err != nil {
			return err
		}
		offset += len(p.Rows)
		if offset >= p.Total {
			return nil
		}
		if len(p.Rows) == 0 {
			return fmt.Errorf("%s: %s: the page at offset %d is empty but response.total is %d", SourceName, q, offset, p.Total)
		}
	}
}
