// Package bitcoind is the Bitcoin Core JSON-RPC chain source: a Client (the I/O) that
// implements ingest.BlockSource with getblockchaininfo, getblockhash and getblock at
// verbosity 2, and pure parsers of bitcoind's responses (the part that is table-tested,
// golden-tested and fuzzed).
//
// Requests are JSON-RPC 1.0 style, as bitcoin-cli sends them. For those bitcoind reports an
// RPC error with an HTTP error status (500, or 404 for an unknown method) and a JSON-RPC
// error body, so the body, not the status, decides what went wrong.
package bitcoind

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/ingest/backoff"
	"github.com/sirupsen/logrus"
	"golang.org/x/time/rate"
)

// SourceName is the name of this source in messages, logs and errors.
const SourceName = "bitcoind"

// ErrHeightOutOfRange is ingest.ErrHeightOutOfRange, kept here for callers of this package.
var ErrHeightOutOfRange = ingest.ErrHeightOutOfRange

// Client reads blocks from one bitcoind over JSON-RPC. Every call has the configured timeout
// and is retried with backoff on network errors, HTTP 408/425/429/5xx without an RPC error
// body, and RPC error -28 (still loading); other RPC errors, 401 and 403 fail at once. With
// cookie authentication a 401 makes the client re-read the cookie file and, if the cookie
// changed (bitcoind restarted), try once more with it. The credentials (the password, the
// cookie, and user:secret in base64 as the Authorization header carries them) are registered
// with an ingest.Redactor that every error and log line goes through, so that a server echoing
// the request leaks none of them. A Client is safe for concurrent use.
type Client struct {
	cfg      Config
	url      string
	shown    string // url without secrets, for errors and logs
	password string // user/password auth: Password or the content of PasswordFile
	http     *http.Client
	limiter  *rate.Limiter
	log      logrus.FieldLogger
	redact   *ingest.Redactor
	sleep    func(ctx context.Context, d time.Duration) error // nil: wait (tests record instead)
	nextID   atomic.Uint64

	mu     sync.Mutex
	cookie string // "user:secret" from CookieFile; empty until read
}

var _ ingest.BlockSource = (*Client)(nil)

// New makes a Client. cfg is validated; a PasswordFile is read now, a CookieFile at the first
// call (bitcoind may not have started yet). transport may be nil (http.DefaultTransport); a
// nil log discards.
func New(cfg Config, transport http.RoundTripper, log logrus.FieldLogger) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	log = ingest.OrDiscard(log)
	c := &Client{
		cfg:     cfg,
		url:     cfg.URL,
		shown:   ingest.RedactURL(cfg.URL),
		http:    &http.Client{Timeout: cfg.HTTP.Timeout, Transport: transport},
		limiter: rate.NewLimiter(rate.Inf, 1),
		log:     log.WithField("source", SourceName),
		redact:  ingest.NewRedactor(),
	}
	if cfg.HTTP.RequestsPerSecond > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(cfg.HTTP.RequestsPerSecond), 1)
	}
	if cfg.User != "" {
		c.password = cfg.Password
		if c.password == "" {
			p, err := readPasswordFile(cfg.PasswordFile)
			if err != nil {
				return nil, err
			}
			c.password = p
		}
		c.redact.AddBasicAuth(cfg.User, c.password)
	}
	return c, nil
}

// String names the client's endpoint; it exists so that printing a Client shows no secret.
func (c *Client) String() string { return SourceName + " client of " + c.shown }

// Name returns "bitcoind".
func (c *Client) Name() string { return SourceName }

// TipHeight returns the height of bitcoind's active chain tip (getblockchaininfo "blocks").
// While bitcoind is in initial block download that tip lags the network; it is returned all
// the same, with a warning logged.
func (c *Client) TipHeight(ctx context.Context) (int64, error) {
	const label = "getblockchaininfo []"
	res, err := c.call(ctx, label, "getblockchaininfo")
	if err != nil {
		return 0, err
	}
	info, err := parseBlockchainInfo(res)
	if err != nil {
		return 0, fmt.Errorf("%s: %s: %w", SourceName, label, err)
	}
	if info.IBD {
		c.log.WithFields(logrus.Fields{"height": info.Blocks, "headers": info.Headers, "chain": info.Chain}).
			Warn("bitcoind is in initial block download, its tip lags the network")
	}
	return info.Blocks, nil
}

// BlockAt returns the active-chain block at height: getblockhash, then getblock <hash> 2.
// A height above the tip gives an error matching ErrHeightOutOfRange. Errors name the source,
// the RPC method with its parameters, the height and the fault.
func (c *Client) BlockAt(ctx context.Context, height int64) (ingest.ChainBlock, error) {
	if height < 0 {
		return ingest.ChainBlock{}, fmt.Errorf("%s: block at height %d: negative height", SourceName, height)
	}
	label := fmt.Sprintf("getblockhash [%d]", height)
	res, err := c.call(ctx, label, "getblockhash", height)
	if err != nil {
		var re *RPCError
		if errors.As(err, &re) && re.Code == codeInvalidParameter {
			return ingest.ChainBlock{}, fmt.Errorf("%w (block at height %d: %w)", err, height, ErrHeightOutOfRange)
		}
		return ingest.ChainBlock{}, err
	}
	hash, err := parseBlockHash(res)
	if err != nil {
		return ingest.ChainBlock{}, fmt.Errorf("%s: %s: %w", SourceName, label, err)
	}
	label = fmt.Sprintf("getblock [%q,2] (block at height %d)", hash, height)
	res, err = c.call(ctx, label, "getblock", hash, 2)
	if err != nil {
		return ingest.ChainBlock{}, err
	}
	b, err := parseBlock(res, height)
	if err != nil {
		return ingest.ChainBlock{}, fmt.Errorf("%s: %s: %w", SourceName, label, err)
	}
	if b.Hash != hash {
		return ingest.ChainBlock{}, fmt.Errorf("%s: %s: the response is block %s", SourceName, label, b.Hash)
	}
	return b, nil
}

type rpcRequest struct {
	JSONRPC string `json:"jsonrpc"`
	ID      uint64 `json:"id"`
	Method  string `json:"method"`
	Params  []any  `json:"params"`
}

// call makes one JSON-RPC call, with retries, and returns its result. label (method and
// parameters, and the height where useful) starts every error after the source name. Errors
// have the credentials removed.
//
// Every method this package calls only reads, so a POST may be repeated safely.
func (c *Client) call(ctx context.Context, label, method string, params ...any) (json.RawMessage, error) {
	res, err := c.callRetrying(ctx, label, method, params...)
	return res, c.redact.Error(err)
}

func (c *Client) callRetrying(ctx context.Context, label, method string, params ...any) (json.RawMessage, error) {
	id := c.nextID.Add(1)
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(rpcRequest{JSONRPC: "1.0", ID: id, Method: method, Params: params})
	if err != nil {
		return nil, fmt.Errorf("%s: %s: encode request: %w", SourceName, label, err)
	}
	reauthed := false
	var result json.RawMessage
	err = c.cfg.HTTP.RetryPolicy().Retry(ctx, func(int) error {
		for { // a new cookie starts over: it is not a retry of a failure
			if err := c.limiter.Wait(ctx); err != nil {
				return backoff.Permanent(fmt.Errorf("%s: %s: %w", SourceName, label, err))
			}
			auth, err := c.credentials()
			if err != nil {
				return backoff.Permanent(fmt.Errorf("%s: %s: %w", SourceName, label, err))
			}
			res, retryAfter, err := c.post(ctx, body, id, auth, c.maxAnswer(method))
			if err == nil {
				result = res
				return nil
			}
			failed := c.redact.Error(fmt.Errorf("%s: %s: %w", SourceName, label, err))
			var se *statusError
			if errors.As(err, &se) && se.code == http.StatusUnauthorized {
				if c.cfg.CookieFile == "" || reauthed {
					return backoff.Permanent(failed)
				}
				reauthed = true
				changed, rerr := c.reloadCookie(auth)
				if rerr != nil {
					return backoff.Permanent(fmt.Errorf("%w (then: %v)", failed, rerr))
				}
				if !changed {
					return backoff.Permanent(failed)
				}
				c.log.WithField("method", method).Info("cookie file changed, retrying with the new cookie")
				continue
			}
			if ctx.Err() != nil || !retryable(err) {
				return backoff.Permanent(failed)
			}
			return backoff.RetryAfter(failed, retryAfter)
		}
	}, backoff.Hooks{
		Sleep: c.sleep,
		OnRetry: func(attempt int, wait time.Duration, err error) {
			c.log.WithFields(logrus.Fields{"method": method, "attempt": attempt, "wait_seconds": wait.Seconds(), "err": err}).
				Warn("rpc call failed, retrying after backoff")
		},
	})
	if err != nil {
		return nil, err
	}
	return result, nil
}

// smallAnswerBytes bounds the answer of every call but getblock: getblockchaininfo and
// getblockhash answer with a few hundred bytes.
const smallAnswerBytes = 1 << 20

// maxAnswer is the most read of the answer to method: MaxBodyBytes for getblock (a block at
// verbosity 2 is megabytes of JSON), smallAnswerBytes for the rest.
func (c *Client) maxAnswer(method string) int64 {
	if method == "getblock" {
		return c.cfg.HTTP.MaxBodyBytes
	}
	return min(c.cfg.HTTP.MaxBodyBytes, smallAnswerBytes)
}

// post sends one request and reads its response, of at most max bytes.
func (c *Client) post(ctx context.Context, body []byte, id uint64, auth string, max int64) (json.RawMessage, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, 0, fmt.Errorf("POST %s: %w", c.shown, err)
	}
	user, pass, _ := strings.Cut(auth, ":")
	req.SetBasicAuth(user, pass)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", c.cfg.HTTP.UserAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		// url.Error repeats the URL: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, 0, &transportError{fmt.Errorf("POST %s: %w", c.shown, err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		raw, err := ingest.ReadBody(resp.Body, resp.ContentLength, max)
		var tl *ingest.BodyTooLargeError
		switch {
		case errors.As(err, &tl) && max < c.cfg.HTTP.MaxBodyBytes:
			return nil, 0, fmt.Errorf("POST %s: %w (far more than this call's answer can be)", c.shown, err)
		case errors.As(err, &tl):
			return nil, 0, fmt.Errorf("POST %s: %w (raise MaxBodyBytes)", c.shown, err)
		case err != nil:
			return nil, 0, &transportError{fmt.Errorf("POST %s: read body: %w", c.shown, err)}
		}
		res, err := decodeResponse(raw, id)
		return res, 0, c.redactRPC(err)
	}
	// An error answer is a JSON-RPC error object or a line of text: its start is all that is
	// needed, whatever the server sends. The status decides; a body cut short still explains.
	raw, _ := ingest.ReadBody(resp.Body, -1, errorBodyBytes)
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
		// Legacy requests get their RPC errors with HTTP 500 (404 for an unknown method, 400
		// for a malformed request): the JSON-RPC error in the body is the real answer.
		var re *RPCError
		if _, err := decodeResponse(raw, id); errors.As(err, &re) {
			return nil, 0, c.redactRPC(re)
		}
	}
	ra := ingest.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	return nil, ra, &statusError{url: c.shown, code: resp.StatusCode, body: c.redact.Snippet(raw)}
}

// errorBodyBytes is how much of a non-200 answer is read.
const errorBodyBytes = 64 << 10

// redactRPC removes credentials from the message of an RPC error (the server writes it), so
// that the error is safe to print even where errors.As finds it.
func (c *Client) redactRPC(err error) error {
	var re *RPCError
	if errors.As(err, &re) {
		re.Message = c.redact.String(re.Message)
	}
	return err
}

// credentials returns "user:password" for the next request.
func (c *Client) credentials() (string, error) {
	if c.cfg.User != "" {
		return c.cfg.User + ":" + c.password, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cookie == "" {
		ck, err := readCookie(c.cfg.CookieFile)
		if err != nil {
			return "", err
		}
		c.setCookie(ck)
	}
	return c.cookie, nil
}

// reloadCookie re-reads the cookie file after bitcoind refused failed, and reports whether it
// now holds a different cookie. Another goroutine may have reloaded it already: that counts.
func (c *Client) reloadCookie(failed string) (bool, error) {
	ck, err := readCookie(c.cfg.CookieFile)
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setCookie(ck)
	return ck != failed, nil
}

// setCookie makes ck the credentials of the next requests and registers it with the redactor
// (earlier cookies stay registered). c.mu is held.
func (c *Client) setCookie(ck string) {
	user, secret, _ := strings.Cut(ck, ":")
	c.redact.AddBasicAuth(user, secret)
	c.cookie = ck
}

// readCookie reads bitcoind's cookie file: "__cookie__:<secret>". Errors name the file, never
// its content.
func readCookie(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read cookie file (is bitcoind running with this datadir?): %w", err)
	}
	ck := strings.TrimSpace(string(b))
	user, secret, ok := strings.Cut(ck, ":")
	if !ok || user == "" || secret == "" {
		return "", fmt.Errorf("cookie file %s is not user:secret", path)
	}
	return ck, nil
}

// statusError is an HTTP response without a JSON-RPC answer in it. Its retry semantics are
// those of ingest.StatusError.
type statusError struct {
	url  string
	code int
	body string
}

func (e *statusError) Error() string {
	msg := fmt.Sprintf("POST %s: HTTP %d", e.url, e.code)
	switch e.code {
	case http.StatusUnauthorized:
		msg += " (bitcoind refused the credentials: check CookieFile, or User and Password)"
	case http.StatusForbidden:
		msg += " (bitcoind refused this client: check its rpcallowip and rpcwhitelist)"
	}
	if e.body != "" {
		msg += ": " + e.body
	}
	return msg
}

func (e *statusError) retryable() bool {
	switch e.code {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return true
	}
	// 503 is bitcoind's "Work queue depth exceeded".
	return e.code >= 500
}

// transportError is a request that got no complete response: worth retrying.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// retryable reports whether a failed call may succeed if made again.
func retryable(err error) bool {
	var te *transportError
	var se *statusError
	var re *RPCError
	switch {
	case errors.As(err, &te):
		return true
	case errors.As(err, &se):
		return se.retryable()
	case errors.As(err, &re):
		return re.Code == codeInWarmup
	}
	// A malformed or truncated answer is not a passing fault: the run ends and says so.
	return false
}
