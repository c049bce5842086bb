package estimate

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestHealthIsReadyOnlyAfterTheRebuildAndWithinTheLagBound(t *testing.T) {
	lag := int64(0)
	h := NewHealth(func(context.Context) (int64, error) { return lag, nil }, 100)
	ctx := context.Background()
	if err := h.Ready(ctx); err == nil || !strings.Contains(err.Error(), "rebuilt") {
		t.Fatalf("before the rebuild: %v, want not ready", err)
	}
	h.recordFlush(nil)
	h.recordRebuilt()
	if err := h.Ready(ctx); err != nil {
		t.Fatalf("after the rebuild with no lag: %v", err)
	}
	lag = 101
	if err := h.Ready(ctx); err == nil || !strings.Contains(err.Error(), "101 input messages behind") {
		t.Fatalf("lag above the bound: %v, want not ready", err)
	}
	lag = 0
	h.recordFlush(errors.New("clickhouse: connection refused"))
	if err := h.Ready(ctx); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("after a failed flush: %v, want not ready", err)
	}
	h.recordFlush(nil)
	if err := h.Ready(ctx); err != nil {
		t.Fatalf("after a good flush: %v", err)
	}
}
