package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashatlas/hashatlas/ingest/backoff"
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
	// BaseBackoff is the first wait between attempts; it doubles each time, with jitter (each
	// wait drawn from the upper half of its step), up to MaxBackoff, unless the server's
	// Retry-After says otherwise. Default: 500ms. See RetryPolicy.
	BaseBackoff time.Duration
	// MaxBackoff caps a wait, Retry-After included. Default: 60s.
	MaxBackoff time.Duration
	// RequestsPerSecond limits the request rate to the source (0: unlimited).
	RequestsPerSecond float64
	// MaxBodyBytes refuses larger response bodies, after reading at most that many bytes (at
	// once when the Content-Length says so). Default: 64 MiB; the sources set their own, to fit
	// the largest answer they get, so that a hostile or broken server costs little memory.
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

// HTTPClient makes GET requests to one source with timeouts, a rate limit, a bound on the
// body, and retries with backoff for failures worth retrying, within the deadline of the
// context. Everything it puts in an error or a log line goes through its Redactor. It is safe
// for concurrent use.
type HTTPClient struct {
	source  string
	cfg     HTTPConfig
	client  *http.Client
	limiter *rate.Limiter
	log     logrus.FieldLogger
	redact  *Redactor
	sleep   func(ctx context.Context, d time.Duration) error // nil: wait (tests record instead)
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
		redact:  NewRedactor(),
	}
}

// Redactor is the client's: a source registers the credentials it sends (tokens, keys, its
// authentication header's name) there, and passes its own errors that may quote an answer
// (parse errors) through it. The credentials of every URL the client is asked for (user
// information, key-like query parameters) are registered by Get itself.
func (c *HTTPClient) Redactor() *Redactor { return c.redact }

// StatusError is a response with a status the client does not accept.
type StatusError struct {
	Source     string
	URL        string // with credentials removed
	StatusCode int
	Body       string // the start of the body, on one line, with credentials removed
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
// 5xx are retried up to MaxAttempts with exponential backoff, honouring Retry-After, as long as
// the wait ends before the context's deadline (the pass deadline): a wait that would not — a
// Retry-After of hours, say — ends the call at once with a *DeadlineError. Any other status
// (401 included: a bad key does not get better) fails at once, as does a body over
// MaxBodyBytes. Errors name the source and the URL, with credentials removed.
func (c *HTTPClient) Get(ctx context.Context, rawURL string, header http.Header) ([]byte, error) {
	return c.GetFunc(ctx, rawURL, header, nil)
}

// GetFunc is Get with the body of a 200 response handed to read instead of read whole: read
// returns what GetFunc returns, and may stop reading early (the rest of the body is then not
// read at all: a source that needs the start of a long answer reads only that). Reads past
// MaxBodyBytes fail with a *BodyTooLargeError. A read that fails because the connection did is
// retried like any transport failure; any other error of read ends the call. A nil read reads
// the whole body.
func (c *HTTPClient) GetFunc(ctx context.Context, rawURL string, header http.Header, read func(body io.Reader) ([]byte, error)) ([]byte, error) {
	c.redact.AddURL(rawURL)
	shown := c.redact.URL(rawURL)
	var body []byte
	var lastErr error
	err := c.cfg.RetryPolicy().Retry(ctx, func(int) error {
		if err := c.limiter.Wait(ctx); err != nil {
			if lastErr != nil {
				return backoff.Permanent(fmt.Errorf("%s: GET %s: %w (after: %v)", c.source, shown, err, lastErr))
			}
			return backoff.Permanent(fmt.Errorf("%s: GET %s: %w", c.source, shown, err))
		}
		b, retryAfter, err := c.do(ctx, rawURL, shown, header, read)
		if err == nil {
			body = b
			return nil
		}
		err = c.redact.Error(err)
		lastErr = err
		var se *StatusError
		var te *transportError
		if ctx.Err() != nil || !(errors.As(err, &te) || errors.As(err, &se) && se.Retryable()) {
			return backoff.Permanent(err)
		}
		return backoff.RetryAfter(err, retryAfter)
	}, backoff.Hooks{
		Sleep: c.sleep,
		OnRetry: func(attempt int, wait time.Duration, err error) {
			c.log.WithFields(logrus.Fields{"url": shown, "attempt": attempt, "wait_seconds": wait.Seconds(), "err": err}).
				Warn("request failed, retrying after backoff")
		},
	})
	if err != nil {
		return nil, err
	}
	return body, nil
}

// errorBodyBytes is how much of a non-200 body is read: enough for the error's snippet and a
// JSON error object, never the megabytes a hostile server may send.
const errorBodyBytes = 64 << 10

func (c *HTTPClient) do(ctx context.Context, rawURL, shown string, header http.Header, read func(io.Reader) ([]byte, error)) ([]byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: GET %s: %w", c.source, shown, err) // redacted by the caller
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
	if resp.StatusCode != http.StatusOK {
		// The status decides; the body only explains. A body cut short or over the bound
		// still gives its start.
		raw, _ := ReadBody(resp.Body, -1, min(errorBodyBytes, c.cfg.MaxBodyBytes))
		ra := ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		return nil, ra, &StatusError{Source: c.source, URL: shown, StatusCode: resp.StatusCode, Body: c.redact.Snippet(raw), RetryAfter: ra}
	}
	if resp.ContentLength > c.cfg.MaxBodyBytes {
		return nil, 0, fmt.Errorf("%s: GET %s: %w", c.source, shown, &BodyTooLargeError{Limit: c.cfg.MaxBodyBytes, Declared: resp.ContentLength})
	}
	lr := &limitedReader{r: resp.Body, max: c.cfg.MaxBodyBytes}
	var body []byte
	if read == nil {
		body, err = readAll(lr, resp.ContentLength)
	} else {
		body, err = read(lr)
	}
	switch {
	case lr.tooLarge != nil:
		return nil, 0, fmt.Errorf("%s: GET %s: %w", c.source, shown, lr.tooLarge)
	case lr.readErr != nil:
		return nil, 0, fmt.Errorf("%s: GET %s: read body: %w", c.source, shown, &transportError{lr.readErr})
	case err != nil:
		return nil, 0, fmt.Errorf("%s: GET %s: %w", c.source, shown, err)
	}
	return body, 0, nil
}

// BodyTooLargeError is a response body over the bound of its source (MaxBodyBytes): refused
// after reading at most that many bytes, or at once when its Content-Length says so.
type BodyTooLargeError struct {
	Limit    int64
	Declared int64 // the Content-Length, when that told; else 0
}

func (e *BodyTooLargeError) Error() string {
	if e.Declared > 0 {
		return fmt.Sprintf("body larger than %d bytes (Content-Length %d): refused unread", e.Limit, e.Declared)
	}
	return fmt.Sprintf("body larger than %d bytes: refused", e.Limit)
}

// ReadBody reads a response body of at most max bytes, refusing a longer one with a
// *BodyTooLargeError after reading max+1 bytes — or before reading anything when contentLength
// (the response's, -1 when unknown) is over max. Other errors are the reader's (a connection
// cut, a timeout). What was read is returned in every case.
func ReadBody(r io.Reader, contentLength, max int64) ([]byte, error) {
	if contentLength > max {
		return nil, &BodyTooLargeError{Limit: max, Declared: contentLength}
	}
	lr := &limitedReader{r: r, max: max}
	body, err := readAll(lr, contentLength)
	if lr.tooLarge != nil {
		return body, lr.tooLarge
	}
	return body, err
}

// readAll reads r to its end into a buffer of the Content-Length when there is one (and one
// byte more, to see the end), else into one that grows as io.ReadAll's does (by a quarter, not
// double).
func readAll(r io.Reader, contentLength int64) ([]byte, error) {
	if contentLength < 0 {
		return io.ReadAll(r)
	}
	buf := make([]byte, 0, contentLength+1)
	for {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
		if len(buf) == cap(buf) {
			// Longer than it said: read on, growing.
			buf = append(buf, 0)[:len(buf)]
		}
	}
}

// limitedReader reads at most max bytes of r; reading further fails with a
// *BodyTooLargeError (the one byte past max is read to tell). It remembers a failure of r
// (not io.EOF), so that the caller can tell a cut connection from a bad body.
type limitedReader struct {
	r        io.Reader
	max, n   int64
	tooLarge *BodyTooLargeError
	readErr  error
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.tooLarge != nil {
		return 0, l.tooLarge
	}
	if room := l.max + 1 - l.n; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.max {
		l.tooLarge = &BodyTooLargeError{Limit: l.max}
		return n - int(l.n-l.max), l.tooLarge
	}
	if err != nil && err != io.EOF {
		l.readErr = err
	}
	return n, err
}

// PassTimeoutSetting names, in messages, the setting that bounds a collector pass: the flag
// and environment variable of hashatlas collect.
const PassTimeoutSetting = "--pass-timeout, env HASHATLAS_PASS_TIMEOUT"

// DeadlineError is a retryable failure that is not retried because the wait before the next
// attempt would reach the context's deadline, the end of the pass: a Retry-After longer than
// what is left of the pass, or a backoff that is. It matches context.DeadlineExceeded
// (errors.Is), like a pass cut off by its deadline, and unwraps to the failure.
type DeadlineError = backoff.DeadlineError

// RetryPolicy is how a source retries a failed request (internal/backoff): MaxAttempts in all,
// waiting BaseBackoff doubled per failure up to MaxBackoff (each wait drawn from the upper half
// of its step), or the server's Retry-After capped at MaxBackoff. A wait that would reach the
// pass deadline — or a Retry-After (uncapped) past it — is not slept: the call fails at once
// with a *DeadlineError naming the deadline and its setting, since asking again before the
// server said to is pointless and sleeping into the deadline only delays the failure.
func (c HTTPConfig) RetryPolicy() backoff.Policy {
	c = c.WithDefaults()
	return backoff.Policy{
		Initial: c.BaseBackoff, Max: c.MaxBackoff, MaxAttempts: c.MaxAttempts,
		Deadline: "the pass deadline", DeadlineSetting: PassTimeoutSetting,
	}
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

// RedactURL removes the user information of a URL and the values of query parameters named
// like credentials (api_key, key, token, password, secret, …; see Redactor) so that it can be
// logged or put in an error. Redactor.URL also removes the secrets registered with it.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable url)"
	}
	u.User = nil
	q := u.Query()
	changed := false
	for k := range q {
		if sensitiveName(k) {
			q.Set(k, Redacted)
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
