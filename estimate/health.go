package estimate

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Health tracks whether the estimator is ready to serve: its state rebuilt from the input log,
// its last flush successful, and its consumer lag within a bound. It is safe for concurrent
// use: Run records into it, probes read it.
type Health struct {
	mu       sync.Mutex
	rebuilt  bool
	flushErr error
	flushAt  time.Time
	lag      func(ctx context.Context) (int64, error)
	maxLag   int64
}

// NewHealth returns a Health whose readiness requires lag(ctx) <= maxLag, where lag is the
// number of input messages not yet reflected in written estimates. lag may be nil (no bound).
func NewHealth(lag func(ctx context.Context) (int64, error), maxLag int64) *Health {
	return &Health{lag: lag, maxLag: maxLag}
}

func (h *Health) recordRebuilt() {
	h.mu.Lock()
	h.rebuilt = true
	h.mu.Unlock()
}

func (h *Health) recordFlush(err error) {
	h.mu.Lock()
	h.flushErr, h.flushAt = err, time.Now()
	h.mu.Unlock()
}

// Ready returns nil when the estimator is ready, else why not (one line).
func (h *Health) Ready(ctx context.Context) error {
	h.mu.Lock()
	rebuilt, flushErr := h.rebuilt, h.flushErr
	h.mu.Unlock()
	if !rebuilt {
		return fmt.Errorf("not ready: the state is still being rebuilt from the input topics")
	}
	if flushErr != nil {
		return fmt.Errorf("not ready: the last write of estimates failed: %v", flushErr)
	}
	if h.lag == nil {
		return nil
	}
	lag, err := h.lag(ctx)
	if err != nil {
		return fmt.Errorf("not ready: cannot read the consumer lag: %v", err)
	}
	if lag > h.maxLag {
		return fmt.Errorf("not ready: %d input messages behind, more than the bound of %d", lag, h.maxLag)
	}
	return nil
}
