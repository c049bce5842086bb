package ingest

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type fakeCollector struct {
	calls atomic.Int32
	err   error
	panic bool
}

func (f *fakeCollector) Name() string { return "fake" }
func (f *fakeCollector) Collect(ctx context.Context) error {
	f.calls.Add(1)
	if f.panic {
		panic("boom")
	}
	return f.err
}

func TestRunOnceRecordsSuccessAndFailure(t *testing.T) {
	reg := prometheus.NewRegistry()
	r, err := NewRunner(nil, reg, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := &fakeCollector{}
	if err := r.RunOnce(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if v := testutil.ToFloat64(r.success.WithLabelValues("fake")); v != 1 {
		t.Fatalf("success gauge %v after a good pass, want 1", v)
	}
	if v := testutil.ToFloat64(r.lastSuccess.WithLabelValues("fake")); v <= 0 {
		t.Fatalf("last success timestamp %v, want set", v)
	}
	c.err = errors.New("source said no")
	err = r.RunOnce(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "collector fake: source said no") {
		t.Fatalf("err = %v", err)
	}
	if v := testutil.ToFloat64(r.success.WithLabelValues("fake")); v != 0 {
		t.Fatalf("success gauge %v after a failed pass, want 0", v)
	}
	if v := testutil.ToFloat64(r.runsTotal.WithLabelValues("fake", "error")); v != 1 {
		t.Fatalf("error runs %v, want 1", v)
	}
}

func TestScheduleRunsPassesAndSurvivesPanics(t *testing.T) {
	r, _ := NewRunner(nil, nil, 0)
	c := &fakeCollector{panic: true}
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	if err := r.Schedule(ctx, "@every 1s", c); err != nil {
		t.Fatal(err)
	}
	if n := c.calls.Load(); n < 2 {
		t.Fatalf("%d passes in 2.5 s on @every 1s, want at least 2 (a panic must not stop the schedule)", n)
	}
	if err := r.Schedule(context.Background(), "every minute", c); err == nil {
		t.Fatal("an invalid schedule was accepted")
	}
}
