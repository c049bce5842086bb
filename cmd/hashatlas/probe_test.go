package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
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

// lockedBuffer is a bytes.Buffer safe for a command writing while the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestEstimateIsLiveButNotReadyWhileConnecting runs the real estimate command (not a readiness
// check installed by the test) against a broker address that accepts connections and never
// answers: while it is connecting, /healthz answers 200 and /readyz 503 naming the connection;
// the command then fails once the dial timeout passes.
func TestEstimateIsLiveButNotReadyWhileConnecting(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		var held []net.Conn // open, never answered, until the listener closes
		defer func() {
			for _, c := range held {
				_ = c.Close()
			}
		}()
		for {
			conn, err := silent.Accept()
			if err != nil {
				return
			}
			held = append(held, conn)
		}
	}()

	var stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"estimate", "--log.format=json", "--metrics.listen=127.0.0.1:0",
			"--kafka.brokers=" + silent.Addr().String(), "--kafka.dial-timeout=2s"}, io.Discard, &stderr)
	}()

	var addr string
	deadline := time.Now().Add(5 * time.Second)
	for addr == "" && time.Now().Before(deadline) {
		for _, line := range strings.Split(stderr.String(), "\n") {
			var entry struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "serving metrics" {
				addr = entry.Addr
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if addr == "" {
		t.Fatalf("the estimator did not log its metrics address; stderr:\n%s", stderr.String())
	}
	if code, body := get(t, "http://"+addr+"/healthz"); code != 200 || body != "ok" {
		t.Fatalf("/healthz while connecting: %d %q, want 200 ok", code, body)
	}
	if code, body := get(t, "http://"+addr+"/readyz"); code != 503 || !strings.Contains(body, "connecting to Kafka and ClickHouse") {
		t.Fatalf("/readyz while connecting: %d %q, want 503 naming the connection", code, body)
	}
	select {
	case code := <-done:
		if code != exitFailed {
			t.Fatalf("exit %d once the broker did not answer, want %d; stderr:\n%s", code, exitFailed, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the estimator did not give up on a broker that never answers")
	}
}

// gaugeValue returns the value of the gauge name with label group=group gathered from reg, and
// whether there is one.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name, group string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "group" && l.GetValue() == group {
					return m.GetGauge().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

// TestLagGaugeAsksAtEveryScrapeAndIsNaNWhenKafkaCannotBeAsked: the estimator's lag gauge
// carries its group, reads the lag anew at each scrape, and is NaN (with a warning logged) when
// asking fails.
func TestLagGaugeAsksAtEveryScrapeAndIsNaNWhenKafkaCannotBeAsked(t *testing.T) {
	reg := prometheus.NewRegistry()
	var logs lockedBuffer
	log := logrus.New()
	log.SetOutput(&logs)
	lag, fail := int64(20001), false
	if err := registerLagGauge(reg, "g1", func(context.Context) (int64, error) {
		if fail {
			return 0, errors.New("broker unreachable")
		}
		return lag, nil
	}, log); err != nil {
		t.Fatal(err)
	}
	if v, ok := gaugeValue(t, reg, "hashatlas_estimator_lag_messages", "g1"); !ok || v != 20001 {
		t.Fatalf("lag gauge = %v (present %v), want 20001", v, ok)
	}
	lag = 0
	if v, _ := gaugeValue(t, reg, "hashatlas_estimator_lag_messages", "g1"); v != 0 {
		t.Fatalf("lag gauge after catching up = %v, want 0", v)
	}
	fail = true
	if v, _ := gaugeValue(t, reg, "hashatlas_estimator_lag_messages", "g1"); !math.IsNaN(v) {
		t.Fatalf("lag gauge when Kafka cannot be asked = %v, want NaN", v)
	}
	if !strings.Contains(logs.String(), "broker unreachable") {
		t.Fatalf("the failure was not logged: %q", logs.String())
	}
}
