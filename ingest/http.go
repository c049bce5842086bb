package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/time/rate"
)

// HTTPConfig sets how a source's HTTP requests are made.
type HTTPConfig struct {
	// Timeout bounds each request, body included. Default: 30s.
	Timeout time.Duration
	// MaxAttempts is how many times a retryable failure (network error, 429, 5xx) is tried in
	// all. Default: 5.
	MaxAttempts int
	// BaseBackoff is the first wait between attempts; it doubles each time, with jitter, up to
	// MaxBackoff, unless the server's Retry-After says otherwise. Default: 500ms.
	BaseBackoff time.Duration
	// MaxBackoff caps a wait, Retry-After included. Default: 60s.
	MaxBackoff time.Duration
	// RequestsPerSecond limits the request rate to the source (0: unlimited).
	RequestsPerSecond float64
	// MaxBodyBytes refuses larger response bodies. Default: 64 MiB.
	MaxBodyBytes int64
	// UserAgent is sent with every request. Default: "hashatlas".
	UserAgent string
}

// WithDefaults returns c with the documented default in every unset field.
func (c HTTPConfig) WithDefaults() HTTPConfig {
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 5
	}
	if c.BaseBackoff <= 0 {
		c.BaseBackoff = 500 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 60 * time.Second
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 64 << 20
	}
	if c.UserAgent == "" {
		c.UserAgent = "hashatlas"
	}
	return c
}

// HTTPClient makes GET requests to one source with timeouts, a rate limit, and retries with
// backoff for failures worth retrying. It is safe for concurrent use.
type HTTPClient struct {
	source  string
	cfg     HTTPConfig
	client  *http.Client
	limiter *rate.Limiter
	log     logrus.FieldLogger
	sleep   func(ctx context.Context, d time.Duration) error
}

// NewHTTPClient makes a client for the named source (the name appears in every error).
// transport may be nil (http.DefaultTransport).
func NewHTTPClient(source string, cfg HTTPConfig, transport http.RoundTripper, log logrus.FieldLogger) *HTTPClient {
	cfg = cfg.WithDefaults()
	log = OrDiscard(log)
	lim := rate.NewLimiter(rate.Inf, 1)
	if cfg.RequestsPerSecond > 0 {
		lim = rate.NewLimiter(rate.Limit(cfg.RequestsPerSecond), 1)
	}
	return &HTTPClient{
		source:  source,
		cfg:     cfg,
		client:  &http.Client{Timeout: cfg.Timeout, Transport: transport},
		limiter: lim,
		log:     log.WithField("source", source),
		sleep:   sleepCtx,
	}
}

// StatusError is a response with a status the client does not accept.
type StatusError struct {
	Source     string
	URL        string // with secrets (query parameters named like keys) removed
	StatusCode int
	Body       string // the first bytes of the body, for the error message
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s: GET %s: HTTP %d", e.Source, e.URL, e.StatusCode)
	switch e.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		msg += " (check the API key or credentials)"
	}
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// transportError is a failure to reach the server or to read its whole answer (connection
// refused or reset, timeout, a body cut short): worth retrying, unlike a request that cannot be
// built or a body over the size limit.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// Retryable reports whether the request may succeed if tried again: 408, 425, 429 and 5xx.
func (e *StatusError) Retryable() bool {
	switch {
	case e.StatusCode == http.StatusRequestTimeout, e.StatusCode == http.StatusTooEarly,
		e.StatusCode == http.StatusTooManyRequests:
		return true
	case e.StatusCode >= 500:
		return true
	}
	return false
}

// Get fetches rawURL and returns the body of a 200 response. Network errors, 408/425/429 and
// 5xx are retried up to MaxAttempts with exponential backoff, honouring Retry-After; any other
// status (401 included: a bad key does not get better) fails at once. Errors name the source and
// the URL with secret query parameters removed.
func (c *HTTPClient) Get(ctx context.Context, rawURL string, header http.Header) ([]byte, error) {
	shown := RedactURL(rawURL)
	var lastErr error
	for attempt := 1; attempt <= c.cfg.MaxAttempts; attempt++ {
		if err := c.limiter.Wait(ctx); err != nil {
			return nil, fmt.Errorf("%s: GET %s: %w", c.source, shown, err)
		}
		body, retryAfter, err := c.do(ctx, rawURL, shown, header)
		if err == nil {
			return body, nil
		}
		lastErr = err
		var se *StatusError
		var te *transportError
		retryable := ctx.Err() == nil && (errors.As(err, &te) || errors.As(err, &se) && se.Retryable())
		if !retryable || attempt == c.cfg.MaxAttempts {
			break
		}
		wait := c.backoff(attempt)
		if retryAfter > 0 {
			wait = min(retryAfter, c.cfg.MaxBackoff)
		}
		c.log.WithFields(logrus.Fields{"url": shown, "attempt": attempt, "wait_seconds": wait.Seconds(), "err": err}).
			Warn("request failed, retrying after backoff")
		if err := c.sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("%s: GET %s: %w (after: %v)", c.source, shown, err, lastErr)
		}
	}
	return nil, lastErr
}

func (c *HTTPClient) do(ctx context.Context, rawURL, shown string, header http.Header) ([]byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: GET %s: %w", c.source, shown, err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	resp, err := c.client.Do(req)
	if err != nil {
		// url.Error repeats the URL, secrets included: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, 0, fmt.Errorf("%s: GET %s: %w", c.source, shown, &transportError{err})
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxBodyBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("%s: GET %s: read body: %w", c.source, shown, &transportError{err})
	}
	if int64(len(body)) > c.cfg.MaxBodyBytes {
		return nil, 0, fmt.Errorf("%s: GET %s: body larger than %d bytes", c.source, shown, c.cfg.MaxBodyBytes)
	}
	if resp.StatusCode != http.StatusOK {
		snippet := strings.TrimSpace(string(body))
		if len(snippet) > 200 {
			snippet = snippet[:200] + "…"
		}
		ra := ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		return nil, ra, &StatusError{Source: c.source, URL: shown, StatusCode: resp.StatusCode, Body: snippet, RetryAfter: ra}
	}
	return body, 0, nil
}

func (c *HTTPClient) backoff(attempt int) time.Duration {
	d := c.cfg.BaseBackoff << (attempt - 1)
	if d > c.cfg.MaxBackoff || d <= 0 {
		d = c.cfg.MaxBackoff
	}
	// Full jitter on the upper half keeps retries from synchronising.
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// ParseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
// It returns 0 when the header is absent or unreadable.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// RedactURL removes the values of query parameters that look like secrets (api_key, key, token,
// password, secret) so that a URL can be logged or put in an error.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable url)"
	}
	u.User = nil
	q := u.Query()
	changed := false
	for k := range q {
		lk := strings.ToLower(k)
		if strings.Contains(lk, "key") || strings.Contains(lk, "token") || strings.Contains(lk, "password") || strings.Contains(lk, "secret") {
			q.Set(k, "REDACTED")
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// OrDiscard returns log, or a logger that discards everything when log is nil.
func OrDiscard(log logrus.FieldLogger) logrus.FieldLogger {
	if log != nil {
		return log
	}
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
