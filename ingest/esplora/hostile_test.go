package esplora

// Leaky and hostile servers: credentials stay out of errors and logs, and a pass ends within
// its deadline and its memory bound. The shared cases are ingesttest's; what is esplora's is how
// a client is built and what a pass of it is.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/ingest/ingesttest"
)

// pass is a collector pass of c: the tip, then a block.
func pass(c *Client) ingesttest.Pass {
	return ingesttest.PassFunc(SourceName, func(ctx context.Context) error {
		if _, err := c.TipHeight(ctx); err != nil {
			return err
		}
		_, err := c.BlockAt(ctx, 900123)
		return err
	})
}

// hostilePass builds a client of a hostile server with the configuration's defaults but for the
// HTTP settings (Production: the default backoff, up to a minute), its base URL given userinfo.
func hostilePass(userinfo string) ingesttest.NewPass {
	return func(to ingesttest.Target) (ingesttest.Pass, error) {
		c, err := New(Config{BaseURL: ingesttest.WithUserinfo(to.URL+"/api", userinfo),
			HTTP: ingesttest.Either(to.Settings, fast, ingest.HTTPConfig{RequestsPerSecond: -1})}, to.Transport, to.Log)
		return pass(c), err
	}
}

// fast are HTTP settings for tests: quick retries, no rate limit.
var fast = ingest.HTTPConfig{BaseBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, RequestsPerSecond: -1, MaxAttempts: 2}

// TestCredentialsInTheURLNeverReachErrorsOrLogs: the base URL carries user:password, which Go
// sends as Authorization: Basic; a server echoing the request back (retried 500s, logged each
// time, and a 401) must not get it into an error or a log line, in any form.
func TestCredentialsInTheURLNeverReachErrorsOrLogs(t *testing.T) {
	const user, password = "esplorauser", "pw-3sPl0ra-s3cret"
	ingesttest.EchoedCredentials(t, ingesttest.Credential{New: hostilePass(user + ":" + password),
		Secrets: []string{password, user + ":" + password}})
}

// TestAHostileSourceEndsThePassWithinItsDeadline: a slow-loris is cut by the pass deadline (1 s
// here); a Retry-After of 28 hours ends the pass at once instead of sleeping.
func TestAHostileSourceEndsThePassWithinItsDeadline(t *testing.T) {
	ingesttest.PassDeadlines(t, hostilePass(""), ingest.NewRunner)
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
			err = pass(c).Collect(context.Background())
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
