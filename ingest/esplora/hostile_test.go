package esplora

// Leaky and hostile servers: credentials stay out of errors and logs, and a pass ends within
// its deadline and its memory bound.

import (
	"bytes"
	"context"
	"errors"
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

// pass is a collector pass of a Client: the tip, then a block.
type pass struct{ c *Client }

func (p pass) Name() string { return SourceName }
func (p pass) Collect(ctx context.Context) error {
	if _, err := p.c.TipHeight(ctx); err != nil {
		return err
	}
	_, err := p.c.BlockAt(ctx, 900123)
	return err
}

// hostileClient is a client of h with the configuration's defaults but for hc (fast retries,
// no rate limit, say), its base URL given userinfo, counting the body bytes it reads.
func hostileClient(t *testing.T, h http.Handler, userinfo string, logs *ingesttest.Logs, hc ingest.HTTPConfig) (*Client, *ingesttest.CountingTransport) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	base := srv.URL + "/api"
	if userinfo != "" {
		base = strings.Replace(base, "http://", "http://"+userinfo+"@", 1)
	}
	rt := &ingesttest.CountingTransport{}
	var log logrus.FieldLogger
	if logs != nil {
		log = logs
	}
	c, err := New(Config{BaseURL: base, HTTP: hc}, rt, log)
	if err != nil {
		t.Fatal(err)
	}
	return c, rt
}

// fast are HTTP settings for tests: quick retries, no rate limit.
var fast = ingest.HTTPConfig{BaseBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, RequestsPerSecond: -1, MaxAttempts: 2}

// TestCredentialsInTheURLNeverReachErrorsOrLogs: the base URL carries user:password, which Go
// sends as Authorization: Basic; a server echoing the request back (retried 500s, logged each
// time, and a 401) must not get it into an error or a log line, in any form.
func TestCredentialsInTheURLNeverReachErrorsOrLogs(t *testing.T) {
	const user, password = "esplorauser", "pw-3sPl0ra-s3cret"
	for _, status := range []int{http.StatusInternalServerError, http.StatusUnauthorized} {
		for _, format := range ingesttest.EchoFormats {
			t.Run(fmt.Sprintf("%d/%s", status, format), func(t *testing.T) {
				logs := ingesttest.NewLogs()
				c, _ := hostileClient(t, ingesttest.Echo(status, format), user+":"+password, logs, fast)
				err := pass{c}.Collect(context.Background())
				if err == nil {
					t.Fatal("no error")
				}
				if status == http.StatusInternalServerError && !strings.Contains(logs.String(), "retrying") {
					t.Fatalf("the retry was not logged:\n%s", logs)
				}
				ingesttest.NoSecret(t, "the error", err.Error(), password, user+":"+password)
				ingesttest.NoSecret(t, "the logs", logs.String(), password, user+":"+password)
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
			// The default backoff (up to a minute), as in production.
			c, _ := hostileClient(t, tc.h, "", nil, ingest.HTTPConfig{RequestsPerSecond: -1})
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

// TestAnEndlessAnswerIsRefusedAfterReadingLittle: with the default bounds, a never-ending answer
// to any request is refused after about a MiB read; before anything is parsed.
func TestAnEndlessAnswerIsRefusedAfterReadingLittle(t *testing.T) {
	for _, path := range []string{"/api/blocks/tip/height", "/api/blocks/900123", "/api/block/" + hash900123 + "/txs/0"} {
		t.Run(path, func(t *testing.T) {
			api := newFakeAPI(t)
			endless := ingesttest.EndlessBody(http.StatusOK, false)
			api.answer = func(n int, p string, w http.ResponseWriter, r *http.Request) bool {
				if p != path {
					return false
				}
				endless(w, r)
				return true
			}
			rt := &ingesttest.CountingTransport{}
			c, err := New(Config{BaseURL: api.srv.URL + "/api", HTTP: ingest.HTTPConfig{RequestsPerSecond: -1}}, rt, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = pass{c}.Collect(context.Background())
			if err == nil || !strings.Contains(err.Error(), "bytes") || !strings.Contains(err.Error(), "refused") {
				t.Fatalf("err = %v, want the answer refused for its size", err)
			}
			// The fixtures of the other requests are a few KB; the endless one is cut at
			// maxHeldBytes, give or take a read buffer.
			if n := rt.BodyBytes(); n > maxHeldBytes+64<<10 {
				t.Errorf("read %d bytes, want at most about %d", n, maxHeldBytes)
			}
			if n := len(api.recorded()); n > 3 {
				t.Errorf("%d requests: an answer over the bound is not asked again", n)
			}
		})
	}
}

// TestTheTransactionsOfALargeBlockAreReadKeepingOnlyTheCoinbase: an answer of several MB (the
// coinbase, then a large transaction) is read through and parsed, although it is larger than
// what the client holds of an answer.
func TestTheTransactionsOfALargeBlockAreReadKeepingOnlyTheCoinbase(t *testing.T) {
	api := newFakeAPI(t)
	fixture := ingesttest.Fixture(t, "block_txs_900123.json")
	end := bytes.LastIndexByte(fixture, ']')
	big := fmt.Sprintf(`,{"txid":"%064x","vin":[{"is_coinbase":false,"witness":["%s"]}],"vout":[]}`, 1, strings.Repeat("ab", 2*maxHeldBytes))
	body := append(append(append([]byte{}, fixture[:end]...), big...), fixture[end:]...)
	api.answer = func(n int, p string, w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(p, "/txs/0") {
			return false
		}
		_, _ = w.Write(body)
		return true
	}
	b, err := api.client(t).BlockAt(context.Background(), 900123)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "block_900123.golden.json", golden(b))
}

func TestFirstTransaction(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{` [ {"a":"]}\"x"} , {"b":[1,2]} ] `, ` [ {"a":"]}\"x"}]`, ""},
		{`[[1,[2]],3]`, `[[1,[2]]]`, ""},
		{`["s,]",3]`, `["s,]"]`, ""},
		{`[12 , 3]`, `[12]`, ""},
		{`[true]`, `[true]`, ""},
		{`[]`, `[]`, ""},
		{`{"error":"x"}`, `{"error":"x"}`, ""},
		{`[{"a":1`, `[{"a":1`, ""},         // cut inside the first: the parser says so
		{`[{"a":1},{"b"`, ``, "truncated"}, // cut after it: said here
	} {
		got, err := firstTransaction(strings.NewReader(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("firstTransaction(%q) = %q, %v; want an error saying %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("firstTransaction(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	cut := errors.New("connection reset")
	if _, err := firstTransaction(&failingReader{data: `[{"a":1},{"b":`, err: cut}); !errors.Is(err, cut) {
		t.Errorf("a read failure gives %v, want it passed on", err)
	}
}

type failingReader struct {
	data string
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.data == "" {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}
