package ingest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/ingest/ingesttest"
)

// sequenceServer answers the i-th request with responses[i] (the last one repeats).
func sequenceServer(t *testing.T, responses ...func(w http.ResponseWriter)) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		if i >= len(responses) {
			i = len(responses) - 1
		}
		responses[i](w)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func status(code int, header ...string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte(`{"error":"nope"}`))
	}
}

func ok(body string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) { _, _ = w.Write([]byte(body)) }
}

// recordingClient returns a client whose waits are recorded instead of slept.
func recordingClient(cfg HTTPConfig) (*HTTPClient, *[]time.Duration) {
	c := NewHTTPClient("testsource", cfg, nil, nil)
	var waits []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	return c, &waits
}

func TestGetRetries429HonouringRetryAfter(t *testing.T) {
	srv, n := sequenceServer(t, status(429, "Retry-After", "7"), status(503), ok(`{"fine":true}`))
	c, waits := recordingClient(HTTPConfig{BaseBackoff: 100 * time.Millisecond})
	body, err := c.Get(context.Background(), srv.URL+"/x", nil)
	if err != nil || string(body) != `{"fine":true}` {
		t.Fatalf("Get = %q, %v", body, err)
	}
	if n.Load() != 3 {
		t.Fatalf("%d requests, want 3", n.Load())
	}
	if (*waits)[0] != 7*time.Second {
		t.Errorf("first wait %v, want the 7 s Retry-After", (*waits)[0])
	}
	if w := (*waits)[1]; w < 100*time.Millisecond || w > 200*time.Millisecond {
		t.Errorf("second wait %v, want the backoff of attempt 2 (100–200 ms)", w)
	}
}

func TestGetDoesNotRetryUnauthorized(t *testing.T) {
	srv, n := sequenceServer(t, status(401))
	c, _ := recordingClient(HTTPConfig{})
	_, err := c.Get(context.Background(), srv.URL+"/series?api_key=SECRET123&start=1", nil)
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 401 {
		t.Fatalf("err = %v, want a 401 StatusError", err)
	}
	if n.Load() != 1 {
		t.Fatalf("%d requests for a 401, want exactly 1 (no retry storm)", n.Load())
	}
	msg := err.Error()
	if strings.Contains(msg, "SECRET123") {
		t.Fatalf("the API key leaked into the error: %s", msg)
	}
	for _, want := range []string{"testsource", "/series", "HTTP 401", "API key"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
}

func TestGetGivesUpAfterMaxAttempts(t *testing.T) {
	srv, n := sequenceServer(t, status(500))
	c, waits := recordingClient(HTTPConfig{MaxAttempts: 3})
	if _, err := c.Get(context.Background(), srv.URL, nil); err == nil {
		t.Fatal("Get succeeded against a failing server")
	}
	if n.Load() != 3 || len(*waits) != 2 {
		t.Fatalf("%d requests and %d waits, want 3 and 2", n.Load(), len(*waits))
	}
}

func TestGetTimesOut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer srv.Close()
	c, _ := recordingClient(HTTPConfig{Timeout: 50 * time.Millisecond, MaxAttempts: 2})
	start := time.Now()
	_, err := c.Get(context.Background(), srv.URL, nil)
	if err == nil {
		t.Fatal("a hanging server did not time out")
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("took %v despite a 50 ms timeout", time.Since(start))
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"12", 12 * time.Second}, {"-3", 0}, {"soon", 0},
		{"Wed, 25 Nov 2026 12:01:30 GMT", 90 * time.Second},
		{"Wed, 25 Nov 2026 11:00:00 GMT", 0},
	} {
		if got := ParseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestGetDoesNotRetryABodyOverTheLimit(t *testing.T) {
	srv, n := sequenceServer(t, ok(strings.Repeat("x", 2000)))
	c, _ := recordingClient(HTTPConfig{MaxBodyBytes: 1000})
	_, err := c.Get(context.Background(), srv.URL, nil)
	if err == nil || !strings.Contains(err.Error(), "larger than 1000 bytes") {
		t.Fatalf("err = %v", err)
	}
	if n.Load() != 1 {
		t.Fatalf("%d requests for an oversized body, want 1", n.Load())
	}
}

func TestGetRetriesRefusedConnections(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	c, waits := recordingClient(HTTPConfig{MaxAttempts: 3})
	if _, err := c.Get(context.Background(), url, nil); err == nil {
		t.Fatal("Get succeeded against a closed port")
	}
	if len(*waits) != 2 {
		t.Fatalf("%d waits, want 2 (refused connections are retried)", len(*waits))
	}
}

// getCollector is a collector whose pass is one Get of url.
type getCollector struct {
	c   *HTTPClient
	url string
}

func (g getCollector) Name() string { return "get" }
func (g getCollector) Collect(ctx context.Context) error {
	_, err := g.c.Get(ctx, g.url, nil)
	return err
}

// TestARetryAfterPastThePassDeadlineEndsThePassAtOnce: a 429 with Retry-After: 100000 (28 h)
// in a pass with 5 s left is not slept on (not even MaxBackoff's minute): the pass ends at once,
// saying why and which setting bounds it.
func TestARetryAfterPastThePassDeadlineEndsThePassAtOnce(t *testing.T) {
	srv := httptest.NewServer(ingesttest.TooManyRequests(100000))
	defer srv.Close()
	c := NewHTTPClient("testsource", HTTPConfig{}, nil, nil)
	r, _ := NewRunner(nil, nil, 5*time.Second)
	start := time.Now()
	err := r.RunOnce(context.Background(), getCollector{c, srv.URL})
	if took := time.Since(start); took > time.Second {
		t.Fatalf("the pass took %v; want it to end at once, not to sleep into its deadline", took)
	}
	var de *DeadlineError
	if !errors.As(err, &de) || !de.RetryAfter {
		t.Fatalf("err = %v, want a DeadlineError for the Retry-After", err)
	}
	for _, want := range []string{"HTTP 429", "27h46m40s (Retry-After)", "past the pass deadline", "--pass-timeout", "HASHATLAS_PASS_TIMEOUT"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q is not one line", err)
	}
}

// TestABackoffPastTheDeadlineIsNotSlept: a failure whose next attempt would come after the
// deadline ends the call at once.
func TestABackoffPastTheDeadlineIsNotSlept(t *testing.T) {
	srv, n := sequenceServer(t, status(503))
	c := NewHTTPClient("testsource", HTTPConfig{BaseBackoff: 10 * time.Second, MaxBackoff: 10 * time.Second}, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := c.Get(ctx, srv.URL, nil)
	if took := time.Since(start); took > time.Second {
		t.Fatalf("took %v, want at once", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "HTTP 503") || !strings.Contains(err.Error(), "--pass-timeout") {
		t.Fatalf("err = %v", err)
	}
	if n.Load() != 1 {
		t.Fatalf("%d requests, want 1", n.Load())
	}
}

// TestASlowLorisEndsWithThePassDeadlineNamingIt: a body trickling a byte every 50 ms, under a
// per-request timeout of 30 s, is cut by the pass deadline of 1 s, and the error says that the
// pass deadline did it and which setting that is.
func TestASlowLorisEndsWithThePassDeadlineNamingIt(t *testing.T) {
	srv := httptest.NewServer(ingesttest.SlowLoris(50 * time.Millisecond))
	defer srv.Close()
	c := NewHTTPClient("testsource", HTTPConfig{}, nil, nil)
	r, _ := NewRunner(nil, nil, time.Second)
	start := time.Now()
	err := r.RunOnce(context.Background(), getCollector{c, srv.URL})
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the pass took %v, want its 1 s deadline and little more", took)
	}
	if err == nil || !strings.Contains(err.Error(), "pass deadline of 1s reached (--pass-timeout, env HASHATLAS_PASS_TIMEOUT)") {
		t.Fatalf("err = %v, want one naming the pass deadline", err)
	}
}

// TestAnEndlessBodyIsRefusedAfterReadingAtMostTheBound: with the body chunked, at most the bound
// (and the one byte that tells it is over) is read; with a Content-Length over it, nothing.
func TestAnEndlessBodyIsRefusedAfterReadingAtMostTheBound(t *testing.T) {
	const bound = 64 << 10
	for _, declare := range []bool{false, true} {
		srv := httptest.NewServer(ingesttest.EndlessBody(http.StatusOK, declare))
		rt := &ingesttest.CountingTransport{}
		c := NewHTTPClient("testsource", HTTPConfig{MaxBodyBytes: bound}, rt, nil)
		_, err := c.Get(context.Background(), srv.URL, nil)
		srv.Close()
		var tl *BodyTooLargeError
		if !errors.As(err, &tl) || !strings.Contains(err.Error(), "larger than 65536 bytes") {
			t.Fatalf("declared %v: err = %v, want a BodyTooLargeError", declare, err)
		}
		max := int64(bound + 1)
		if declare {
			max = 0
		}
		if n := rt.BodyBytes(); n > max {
			t.Errorf("declared %v: read %d bytes of the body, want at most %d", declare, n, max)
		}
	}
}

// TestGetFuncReadsOnlyWhatItNeeds: read may stop early; the rest of the body is not read, and a
// cut connection under read is retried like any transport failure.
func TestGetFuncReadsOnlyWhatItNeeds(t *testing.T) {
	srv := httptest.NewServer(ingesttest.EndlessBody(http.StatusOK, false))
	defer srv.Close()
	rt := &ingesttest.CountingTransport{}
	c := NewHTTPClient("testsource", HTTPConfig{}, rt, nil)
	got, err := c.GetFunc(context.Background(), srv.URL, nil, func(r io.Reader) ([]byte, error) {
		b := make([]byte, 12)
		_, err := io.ReadFull(r, b)
		return b, err
	})
	if err != nil || string(got) != `[{"result":"` {
		t.Fatalf("GetFunc = %q, %v", got, err)
	}
	if n := rt.BodyBytes(); n > 1<<20 {
		t.Errorf("read %d bytes of an endless body to use 12", n)
	}
}

// TestAnEndlessErrorAnswerIsReadOnlyForItsExplanation: a 500 whose body never ends is read as far
// as its explanation needs (64 KiB), and still retried as a 500.
func TestAnEndlessErrorAnswerIsReadOnlyForItsExplanation(t *testing.T) {
	srv := httptest.NewServer(ingesttest.EndlessBody(http.StatusInternalServerError, false))
	defer srv.Close()
	rt := &ingesttest.CountingTransport{}
	c := NewHTTPClient("testsource", HTTPConfig{MaxAttempts: 2, BaseBackoff: time.Millisecond}, rt, nil)
	_, err := c.Get(context.Background(), srv.URL, nil)
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 500 || len(se.Body) > 210 {
		t.Fatalf("err = %v, want the 500 with the start of its body", err)
	}
	if n, max := rt.BodyBytes(), int64(2*(errorBodyBytes+1)); n > max {
		t.Errorf("read %d bytes of two error answers, want at most %d", n, max)
	}
}
