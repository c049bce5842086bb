package ingest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
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
