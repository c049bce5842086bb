package braiins

// Leaky and hostile servers: the token stays out of errors and logs, and a pass ends within its
// deadline and its memory bound.

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
	"github.com/sirupsen/logrus"
)

// hostileCollector is a collector of h with the configuration's defaults but for hc, counting
// the body bytes it reads.
func hostileCollector(t *testing.T, h http.Handler, logs *ingesttest.Logs, hc ingest.HTTPConfig) (*Collector, *ingesttest.CountingTransport) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cfg := Config{BaseURL: srv.URL, Token: testToken, HTTP: hc}
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
	c, err := New(cfg, client, topic, topic, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, rt
}

var fast = ingest.HTTPConfig{BaseBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, RequestsPerSecond: -1, MaxAttempts: 2}

// TestTheTokenNeverReachesErrorsOrLogsWhenEchoed: a server that echoes the request back, the
// Pool-Auth-Token header included (retried 500s, logged each time, and a 401), must not
// get the token into an error or a log line, in any form.
func TestTheTokenNeverReachesErrorsOrLogsWhenEchoed(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusUnauthorized} {
		for _, format := range ingesttest.EchoFormats {
			t.Run(fmt.Sprintf("%d/%s", status, format), func(t *testing.T) {
				logs := ingesttest.NewLogs()
				c, _ := hostileCollector(t, ingesttest.Echo(status, format), logs, fast)
				err := c.Collect(context.Background())
				if err == nil {
					t.Fatal("no error")
				}
				if status == http.StatusInternalServerError && !strings.Contains(logs.String(), "retrying") {
					t.Fatalf("the retry was not logged:\n%s", logs)
				}
				ingesttest.NoSecret(t, "the error", err.Error(), testToken)
				ingesttest.NoSecret(t, "the logs", logs.String(), testToken)
			})
		}
	}
}

// TestAHostileSourceEndsThePassWithinItsDeadline: a slow-loris is cut by the pass deadline (1 s
// here); a Retry-After of 28 hours ends the pass at once instead of sleeping.
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
			c, _ := hostileCollector(t, tc.h, nil, ingest.HTTPConfig{RequestsPerSecond: -1})
			r, _ := ingest.NewRunner(nil, nil, tc.deadline)
			start := time.Now()
			err := r.RunOnce(context.Background(), c)
			if took := time.Since(start); took > tc.within {
				t.Errorf("the pass took %v, want at most %v", took, tc.within)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "HASHATLAS_PASS_TIMEOUT") {
				t.Errorf("err = %v, want one saying %q and naming the setting", err, tc.want)
			}
		})
	}
}

// TestAnEndlessAnswerIsRefusedAfterReadingAtMostTheBound: with the default bound, a
// never-ending answer is refused after DefaultMaxBodyBytes and the byte that tells.
func TestAnEndlessAnswerIsRefusedAfterReadingAtMostTheBound(t *testing.T) {
	c, rt := hostileCollector(t, ingesttest.EndlessBody(http.StatusOK, false), nil, fast)
	err := c.Collect(context.Background())
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("body larger than %d bytes", DefaultMaxBodyBytes)) {
		t.Fatalf("err = %v, want the answer refused for its size", err)
	}
	if n := rt.BodyBytes(); n > DefaultMaxBodyBytes+1 {
		t.Errorf("read %d bytes of the body, want at most %d", n, DefaultMaxBodyBytes+1)
	}
}
