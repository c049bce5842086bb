package bitcoind

// Leaky and hostile servers: the credentials stay out of errors and logs, and a pass ends
// within its deadline and its memory bound.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/ingest/ingesttest"
	"github.com/sirupsen/logrus"
)

// pass is a collector pass of a Client: reading the tip.
type pass struct{ c *Client }

func (p pass) Name() string { return SourceName }
func (p pass) Collect(ctx context.Context) error {
	_, err := p.c.TipHeight(ctx)
	return err
}

// hostileClient is a client of h with cfg's credentials, the configuration's defaults but for
// hc, counting the body bytes it reads.
func hostileClient(t *testing.T, h http.Handler, cfg Config, logs *ingesttest.Logs, hc ingest.HTTPConfig) (*Client, *ingesttest.CountingTransport) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cfg.URL, cfg.HTTP = srv.URL, hc
	var log logrus.FieldLogger
	if logs != nil {
		log = logs
	}
	rt := &ingesttest.CountingTransport{}
	c, err := New(cfg, rt, log)
	if err != nil {
		t.Fatal(err)
	}
	return c, rt
}

var fast = ingest.HTTPConfig{BaseBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, MaxAttempts: 2}

// TestCredentialsNeverReachErrorsOrLogsWhenTheRequestIsEchoed: a server (a proxy in front of
// the node, say) that echoes the whole request back — Authorization: Basic with user:password
// or the cookie in base64 — in a retried 500 (each failure logged) or a 401, must not get the
// password, the cookie or their base64 into an error or a log line.
func TestCredentialsNeverReachErrorsOrLogsWhenTheRequestIsEchoed(t *testing.T) {
	cookieFile := filepath.Join(t.TempDir(), ".cookie")
	const cookieSecret = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	writeCookie(t, cookieFile, cookieSecret)
	for _, auth := range []struct {
		name    string
		cfg     Config
		secrets []string
	}{
		{"user and password", Config{User: "alice", Password: "s3cret-rpc-pw"}, []string{"s3cret-rpc-pw", "alice:s3cret-rpc-pw"}},
		{"cookie file", Config{CookieFile: cookieFile}, []string{cookieSecret, "__cookie__:" + cookieSecret}},
	} {
		for _, status := range []int{http.StatusInternalServerError, http.StatusUnauthorized} {
			for _, format := range ingesttest.EchoFormats {
				t.Run(fmt.Sprintf("%s/%d/%s", auth.name, status, format), func(t *testing.T) {
					logs := ingesttest.NewLogs()
					c, _ := hostileClient(t, ingesttest.Echo(status, format), auth.cfg, logs, fast)
					err := pass{c}.Collect(context.Background())
					if err == nil {
						t.Fatal("no error")
					}
					if status == http.StatusInternalServerError && !strings.Contains(logs.String(), "retrying") {
						t.Fatalf("the retry was not logged:\n%s", logs)
					}
					ingesttest.NoSecret(t, "the error", err.Error(), auth.secrets...)
					ingesttest.NoSecret(t, "the logs", logs.String(), auth.secrets...)
				})
			}
		}
	}
}

// TestAnRPCErrorEchoingThePasswordIsRedacted: the message of an RPC error is the server's; one
// that quotes the credentials is redacted too, where errors.As finds it included.
func TestAnRPCErrorEchoingThePasswordIsRedacted(t *testing.T) {
	node := newFakeNode(t)
	node.answer = func(n int, c rpcCall) (reply, bool) {
		return reply{status: http.StatusInternalServerError,
			body: []byte(`{"result":null,"error":{"code":-1,"message":"bad auth alice:s3cret"},"id":1}`), raw: true}, true
	}
	_, err := node.client(t).TipHeight(context.Background())
	ingesttest.NoSecret(t, "the error", fmt.Sprint(err), "s3cret", "alice:s3cret")
	var re *RPCError
	if !errors.As(err, &re) || strings.Contains(re.Error(), "s3cret") {
		t.Fatalf("the RPCError in %v shows the password or is missing", err)
	}
}

// TestAHostileNodeEndsThePassWithinItsDeadline: a slow-loris is cut by the pass deadline (1 s
// here); a Retry-After of 28 hours ends the pass at once instead of sleeping.
func TestAHostileNodeEndsThePassWithinItsDeadline(t *testing.T) {
	for _, tc := range []struct {
		name     string
		h        http.Handler
		deadline time.Duration
		within   time.Duration
		want     string
	}{
		{"slow-loris", ingesttest.SlowLoris(50 * time.Millisecond), time.Second, 2 * time.Second, "pass deadline of 1s reached (--pass-timeout"},
		{"429 with Retry-After: 100000", ingesttest.TooManyRequests(100000), 3 * time.Second, time.Second, "27h46m40s (Retry-After), past the pass deadline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The default timeout and backoff (30 s, up to a minute), as in production.
			c, _ := hostileClient(t, tc.h, Config{User: "alice", Password: "s3cret"}, nil, ingest.HTTPConfig{})
			r, _ := ingest.NewRunner(nil, nil, tc.deadline)
			start := time.Now()
			err := r.RunOnce(context.Background(), pass{c})
			if took := time.Since(start); took > tc.within {
				t.Errorf("the pass took %v, want at most %v", took, tc.within)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "HASHATLAS_PASS_TIMEOUT") {
				t.Errorf("err = %v, want one saying %q and naming the setting", err, tc.want)
			}
		})
	}
}

// TestAnEndlessAnswerIsBounded: the answer to a call other than getblock is refused after
// smallAnswerBytes (at once when its Content-Length says it is longer); an error answer that
// never ends is read only as far as its explanation needs (64 KiB).
func TestAnEndlessAnswerIsBounded(t *testing.T) {
	for _, tc := range []struct {
		name   string
		h      http.Handler
		want   string
		atMost int64
	}{
		{"200, chunked", ingesttest.EndlessBody(http.StatusOK, false), "body larger than 1048576 bytes: refused", smallAnswerBytes + 1},
		{"200 with Content-Length 1 GiB", ingesttest.EndlessBody(http.StatusOK, true), "body larger than 1048576 bytes (Content-Length 1073741824): refused unread", 0},
		{"500", ingesttest.EndlessBody(http.StatusInternalServerError, false), "HTTP 500", int64(fast.MaxAttempts * (errorBodyBytes + 1))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, rt := hostileClient(t, tc.h, Config{User: "alice", Password: "s3cret"}, nil, fast)
			err := pass{c}.Collect(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
			if n := rt.BodyBytes(); n > tc.atMost {
				t.Errorf("read %d bytes of the answers, want at most %d", n, tc.atMost)
			}
		})
	}
}

// TestAGetblockAnswerMayBeLarge: getblock's answer is bounded by MaxBodyBytes, not by the small
// bound of the other calls.
func TestAGetblockAnswerMayBeLarge(t *testing.T) {
	node := newFakeNode(t)
	node.answer = func(n int, c rpcCall) (reply, bool) {
		if c.Method != "getblock" {
			return reply{}, false
		}
		var m map[string]any
		if err := json.Unmarshal(node.fixture("getblock_900123.json"), &m); err != nil {
			t.Fatal(err)
		}
		m["padding"] = strings.Repeat("x", 2*smallAnswerBytes)
		b, _ := json.Marshal(m)
		return reply{body: b}, true
	}
	if _, err := node.client(t).BlockAt(context.Background(), 900123); err != nil {
		t.Fatal(err)
	}
}
