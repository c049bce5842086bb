package main

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/sinks/kafka"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// pushRequest is one request a Pushgateway stand-in received, its body decoded.
type pushRequest struct {
	method, path, auth string
	families           map[string]*dto.MetricFamily
}

// pushgatewayStandIn answers like a Pushgateway (200 on a push, or status) and records what it
// was sent.
func pushgatewayStandIn(t *testing.T, status int) (*httptest.Server, func() []pushRequest) {
	t.Helper()
	var mu sync.Mutex
	var got []pushRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := pushRequest{method: r.Method, path: r.URL.Path, auth: r.Header.Get("Authorization"), families: map[string]*dto.MetricFamily{}}
		dec := expfmt.NewDecoder(r.Body, expfmt.ResponseFormat(r.Header))
		for {
			mf := &dto.MetricFamily{}
			if err := dec.Decode(mf); err != nil {
				if !errors.Is(err, io.EOF) {
					t.Errorf("undecodable push body: %v", err)
				}
				break
			}
			req.families[mf.GetName()] = mf
		}
		mu.Lock()
		got = append(got, req)
		mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []pushRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]pushRequest(nil), got...)
	}
}

// gaugeOf returns the value of the family's only metric and its labels.
func gaugeOf(t *testing.T, req pushRequest, name string) (float64, map[string]string) {
	t.Helper()
	mf, ok := req.families[name]
	if !ok {
		t.Fatalf("push has no %s; it has %v", name, familyNames(req))
	}
	if len(mf.GetMetric()) != 1 {
		t.Fatalf("%s has %d metrics, want 1", name, len(mf.GetMetric()))
	}
	m := mf.GetMetric()[0]
	labels := map[string]string{}
	for _, l := range m.GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	return m.GetGauge().GetValue(), labels
}

func familyNames(req pushRequest) []string {
	var names []string
	for n := range req.families {
		names = append(names, n)
	}
	return names
}

// gridCSVArgs are the arguments of a `collect grid-csv --once` run of file on broker.
func gridCSVArgs(broker, file string) []string {
	return []string{"collect", "grid-csv", "--once", "--log.level=warn", "--kafka.brokers=" + broker,
		"--gridcsv.file=" + file, "--gridcsv.metric=demand", "--gridcsv.unit=MW", "--gridcsv.region=KZ"}
}

// TestCollectOncePushesTheRunsOutcomeGroupedByCollector runs `collect grid-csv --once` on an
// embedded broker with --metrics.pushgateway pointing at a stand-in: a good pass pushes (POST,
// so the group's other metrics survive) success 1 and a last-success time within the run under
// job hashatlas-collect grouped by collector grid-csv; a failing pass pushes success 0 and no
// last-success time (the one from the earlier run stays in the Pushgateway) and still exits 1.
func TestCollectOncePushesTheRunsOutcomeGroupedByCollector(t *testing.T) {
	broker, err := kafka.StartEmbedded(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	csv := filepath.Join(t.TempDir(), "kz.csv")
	if err := os.WriteFile(csv, []byte("time,value\n2024-01-01T00:00:00Z,12000\n2024-01-01T01:00:00Z,11800\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, pushes := pushgatewayStandIn(t, http.StatusOK)

	start := time.Now()
	code, _, stderr := runCmd(t, nil, append(gridCSVArgs(broker.Addr(), csv), "--metrics.pushgateway="+srv.URL)...)
	end := time.Now()
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got := pushes()
	if len(got) != 1 {
		t.Fatalf("%d pushes, want 1", len(got))
	}
	p := got[0]
	if p.method != http.MethodPost || p.path != "/metrics/job/hashatlas-collect/collector/grid-csv" {
		t.Fatalf("push %s %s, want POST /metrics/job/hashatlas-collect/collector/grid-csv", p.method, p.path)
	}
	if v, labels := gaugeOf(t, p, "hashatlas_collector_last_run_success"); v != 1 || len(labels) != 0 {
		t.Fatalf("last_run_success %v with labels %v, want 1 with none (the collector is the grouping key)", v, labels)
	}
	ts, _ := gaugeOf(t, p, "hashatlas_collector_last_success_timestamp_seconds")
	if ts < float64(start.Unix()) || ts > float64(end.Unix()) {
		t.Fatalf("last success at %v, want within the run [%d, %d]", ts, start.Unix(), end.Unix())
	}
	for name := range p.families {
		if !strings.HasPrefix(name, "hashatlas_") {
			t.Errorf("pushed %s: only the command's own hashatlas_* metrics belong in the Pushgateway", name)
		}
	}

	missing := filepath.Join(t.TempDir(), "missing.csv")
	code, _, stderr = runCmd(t, nil, append(gridCSVArgs(broker.Addr(), missing), "--metrics.pushgateway="+srv.URL)...)
	if code != exitFailed {
		t.Fatalf("a pass over a missing file: exit %d, want %d; stderr %s", code, exitFailed, stderr)
	}
	got = pushes()
	if len(got) != 2 {
		t.Fatalf("%d pushes after the failed run, want 2", len(got))
	}
	p = got[1]
	if v, _ := gaugeOf(t, p, "hashatlas_collector_last_run_success"); v != 0 {
		t.Fatalf("failed run pushed last_run_success %v, want 0", v)
	}
	if _, ok := p.families["hashatlas_collector_last_success_timestamp_seconds"]; ok {
		t.Fatal("a failed run pushed a last-success time; it must leave the earlier one in place")
	}
}

// TestAFailedPushIsLoggedAndDoesNotChangeTheExitCode: a Pushgateway answering 500 and one that
// is not there both leave a good run's exit code 0, with one warning naming the push.
func TestAFailedPushIsLoggedAndDoesNotChangeTheExitCode(t *testing.T) {
	broker, err := kafka.StartEmbedded(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	csv := filepath.Join(t.TempDir(), "kz.csv")
	if err := os.WriteFile(csv, []byte("time,value\n2024-01-01T00:00:00Z,12000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	failing, pushes := pushgatewayStandIn(t, http.StatusInternalServerError)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close() // nothing listens there any more

	for _, target := range []string{failing.URL, gone.URL} {
		code, _, stderr := runCmd(t, nil, append(gridCSVArgs(broker.Addr(), csv), "--metrics.pushgateway="+target)...)
		if code != exitOK {
			t.Fatalf("push to %s: exit %d, want 0: %s", target, code, stderr)
		}
		if !strings.Contains(stderr, "metrics not pushed") {
			t.Fatalf("push to %s: stderr %q, want a warning that the metrics were not pushed", target, stderr)
		}
	}
	if n := len(pushes()); n != 1 {
		t.Fatalf("the failing Pushgateway saw %d pushes, want 1", n)
	}
}

// TestPushgatewayFlag: the flag exists on the one-shot commands only, refuses what is not an
// http(s) URL and a scheduled collector, reads HASHATLAS_METRICS_PUSHGATEWAY, and never prints
// a password in the URL; a password in the URL is sent as basic auth.
func TestPushgatewayFlag(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string // in stdout (exit 0) or stderr
	}{
		{"a URL from the environment is accepted for migrate",
			map[string]string{"HASHATLAS_METRICS_PUSHGATEWAY": "http://pushgateway.monitoring:9091"},
			[]string{"migrate", "--check-config"}, exitOK,
			"metrics.pushgateway=http://pushgateway.monitoring:9091\t# env HASHATLAS_METRICS_PUSHGATEWAY"},
		{"a password in the URL is masked by --check-config",
			nil, []string{"migrate", "--metrics.pushgateway=https://ops:hunter2@pgw.example:9091", "--check-config"}, exitOK,
			"metrics.pushgateway=https://ops:***@pgw.example:9091"},
		{"a URL without a scheme is refused naming the flag and variable",
			nil, []string{"migrate", "--metrics.pushgateway=pushgateway:9091", "--check-config"}, exitUsage,
			"HASHATLAS_METRICS_PUSHGATEWAY"},
		{"a scheduled collector is refused",
			nil, []string{"collect", "esplora", "--schedule=@every 10m", "--metrics.pushgateway=http://pgw:9091", "--check-config"}, exitUsage,
			"--once"},
		{"the long-running estimator has no such flag",
			nil, []string{"estimate", "--metrics.pushgateway=http://pgw:9091", "--check-config"}, exitUsage,
			"unknown flag --metrics.pushgateway"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, tc.env, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, tc.code, stdout, stderr)
			}
			out := stderr
			if code == exitOK {
				out = stdout
			}
			if !strings.Contains(out, tc.want) {
				t.Fatalf("output %q lacks %q", out, tc.want)
			}
			if strings.Contains(stdout+stderr, "hunter2") {
				t.Fatal("the password was printed")
			}
		})
	}

	srv, pushes := pushgatewayStandIn(t, http.StatusOK)
	c := newCLI("migrate", io.Discard, io.Discard)
	withUser := strings.Replace(srv.URL, "http://", "http://ops:hunter2@", 1)
	if err := c.parse([]string{"--metrics.pushgateway=" + withUser}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.metrics(); err != nil {
		t.Fatal(err)
	}
	c.close()
	got := pushes()
	if len(got) != 1 || got[0].path != "/metrics/job/hashatlas-migrate" || !strings.HasPrefix(got[0].auth, "Basic ") {
		t.Fatalf("pushes %+v, want one to /metrics/job/hashatlas-migrate with basic auth", got)
	}
}
