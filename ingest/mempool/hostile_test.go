package mempool

// Leaky and hostile servers: credentials stay out of errors and logs, and a pass ends within
// its deadline and its memory bound.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/ingest/ingesttest"
	"github.com/hashatlas/hashatlas/ingest/pools"
	"github.com/sirupsen/logrus"
)

// hostileCollector is a collector of h (ranking 24h and the weekly history) with the
// configuration's defaults but for hc, its base URL given userinfo, counting the body bytes it
// reads.
func hostileCollector(t *testing.T, h http.Handler, userinfo string, logs *ingesttest.Logs, hc ingest.HTTPConfig) (*Collector, *ingesttest.CountingTransport) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cfg := DefaultConfig()
	cfg.BaseURL = srv.URL + "/api"
	if userinfo != "" {
		cfg.BaseURL = strings.Replace(cfg.BaseURL, "http://", "http://"+userinfo+"@", 1)
	}
	cfg.HTTP = hc
	var log logrus.FieldLogger
	if logs != nil {
		log = logs
	}
	rt := &ingesttest.CountingTransport{}
	client, err := NewClient(cfg, rt, log)
	if err != nil {
		t.Fatal(err)
	}
	topic := &memTopic{}
	c, err := New(cfg, client, pools.Default(), topic, topic, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, rt
}

var fast = ingest.HTTPConfig{BaseBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, RequestsPerSecond: -1, MaxAttempts: 2}

// TestCredentialsInTheURLNeverReachErrorsOrLogs: a self-hosted instance behind a proxy, its base
// URL carrying a key as user (http://KEY@host) or a user and password; a server echoing the
// request back (retried 500s, logged each time, and a 401) must not get them into an error or a
// log line, in any form.
func TestCredentialsInTheURLNeverReachErrorsOrLogs(t *testing.T) {
	for _, cred := range []struct{ userinfo, secret string }{
		{"mk-0a1b2c3d4e5f6789", "mk-0a1b2c3d4e5f6789:"},
		{"poolwatch:pw-m3mp00l-s3cret", "pw-m3mp00l-s3cret"},
	} {
		for _, status := range []int{http.StatusInternalServerError, http.StatusUnauthorized} {
			for _, format := range ingesttest.EchoFormats {
				t.Run(fmt.Sprintf("%s/%d/%s", cred.userinfo, status, format), func(t *testing.T) {
					logs := ingesttest.NewLogs()
					c, _ := hostileCollector(t, ingesttest.Echo(status, format), cred.userinfo, logs, fast)
					err := c.Collect(context.Background())
					if err == nil {
						t.Fatal("no error")
					}
					if status == http.StatusInternalServerError && !strings.Contains(logs.String(), "retrying") {
						t.Fatalf("the retry was not logged:\n%s", logs)
					}
					user, _, _ := strings.Cut(cred.userinfo, ":")
					ingesttest.NoSecret(t, "the error", err.Error(), cred.secret, cred.userinfo, user)
					ingesttest.NoSecret(t, "the logs", logs.String(), cred.secret, cred.userinfo)
				})
			}
		}
	}
}

// TestAHostileSourceEndsThePassWithinItsDeadline: a slow-loris is cut by the pass deadline (1 s
// here), for both steps at once; a Retry-After of 28 hours ends the pass at once instead of
// sleeping, and the history step does not ask the instance again.
func TestAHostileSourceEndsThePassWithinItsDeadline(t *testing.T) {
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
			c, _ := hostileCollector(t, tc.h, "", nil, ingest.HTTPConfig{RequestsPerSecond: -1})
			r, _ := ingest.NewRunner(nil, nil, tc.deadline)
			start := time.Now()
			err := r.RunOnce(context.Background(), c)
			if took := time.Since(start); took > tc.within {
				t.Errorf("the pass took %v, want at most %v", took, tc.within)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "HASHATLAS_PASS_TIMEOUT") {
				t.Errorf("err = %v, want one saying %q and naming the setting", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("err %q is not one line", err)
			}
			if err != nil && strings.Contains(err.Error(), "hashrate history") {
				t.Errorf("err %q: the history step asked the instance again", err)
			}
		})
	}
}

// TestAnEndlessAnswerIsRefusedAfterReadingAtMostTheBound: with the default bound, a
// never-ending answer is refused after DefaultMaxBodyBytes (and the byte that tells) of each
// of the pass's two requests; one that declares its 1 GiB is refused unread.
func TestAnEndlessAnswerIsRefusedAfterReadingAtMostTheBound(t *testing.T) {
	for _, declare := range []bool{false, true} {
		t.Run(fmt.Sprintf("Content-Length declared %v", declare), func(t *testing.T) {
			c, rt := hostileCollector(t, ingesttest.EndlessBody(http.StatusOK, declare), "", nil, fast)
			err := c.Collect(context.Background())
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("body larger than %d bytes", DefaultMaxBodyBytes)) {
				t.Fatalf("err = %v, want the answers refused for their size", err)
			}
			max := int64(2 * (DefaultMaxBodyBytes + 1))
			if declare {
				max = 0
			}
			if n := rt.BodyBytes(); n > max {
				t.Errorf("read %d bytes of the bodies, want at most %d", n, max)
			}
		})
	}
}
