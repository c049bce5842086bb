package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body))
}

// TestProbesReportLivenessAndTheCommandsReadiness serves the probe handlers and checks /healthz
// always answers and /readyz follows the readiness check the command installed.
func TestProbesReportLivenessAndTheCommandsReadiness(t *testing.T) {
	c := newCLI("estimate", io.Discard, io.Discard)
	mux := http.NewServeMux()
	c.probeHandler(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	notConnected := errors.New("not ready: connecting to Kafka and ClickHouse")
	c.setReadiness(func(context.Context) error { return notConnected })
	if code, body := get(t, srv.URL+"/healthz"); code != 200 || body != "ok" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, body := get(t, srv.URL+"/readyz"); code != 503 || !strings.Contains(body, "connecting") {
		t.Fatalf("/readyz before connections: %d %q, want 503", code, body)
	}
	c.setReadiness(func(context.Context) error { return nil })
	if code, _ := get(t, srv.URL+"/readyz"); code != 200 {
		t.Fatalf("/readyz once ready: %d, want 200", code)
	}
	c.setReadiness(func(context.Context) error {
		return errors.New("not ready: 20001 input messages behind, more than the bound of 10000")
	})
	if code, body := get(t, srv.URL+"/readyz"); code != 503 || !strings.Contains(body, "behind") {
		t.Fatalf("/readyz when lagging: %d %q, want 503", code, body)
	}
}
