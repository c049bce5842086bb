package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// defaultShutdownTimeout is --shutdown.timeout: well inside the estimator Deployment's
// terminationGracePeriodSeconds (deploy/k8s, 120 s; a test keeps the two in step).
const defaultShutdownTimeout = 30 * time.Second

// The shutdown budget is spent in three parts, each a share of --shutdown.timeout from the first
// SIGINT or SIGTERM: the command's own last work (the estimator's final flush and offset commit,
// after the collectors of `run` stopped) until drainShare; closing the stores, writers and
// connections until closeShare; and at the whole budget the process exits whatever is still
// running. Input not committed by then is delivered again at the next start.
const (
	drainShare = 0.7
	closeShare = 0.9
)

// errShutdownBudget is the cause of the shutdown contexts when their share of the budget is spent.
var errShutdownBudget = errors.New("the shutdown budget (--shutdown.timeout, env HASHATLAS_SHUTDOWN_TIMEOUT) is spent")

// shutdown holds the deadlines of a command that was asked to stop. Before the signal its
// contexts never end; after it they end at their share of the budget.
type shutdown struct {
	budget time.Duration
	// drain ends at drainShare of the budget after the signal: the deadline of the command's
	// last work (the estimator's final flush and commit).
	drain context.Context
	// closing ends at closeShare of the budget after the signal: the deadline for closing stores
	// and writers (what they still hold then is not written, and its input not committed).
	closing context.Context
	// expired is closed when the whole budget after the signal is spent.
	expired chan struct{}

	mu       sync.Mutex
	timers   []*time.Timer
	released bool
	cancels  []context.CancelCauseFunc
	unwatch  func() bool
}

// watchShutdown starts the budget when stop ends (the signal). release stops the timers and
// ends the contexts; call it when the command has ended.
func watchShutdown(stop context.Context, budget time.Duration) *shutdown {
	drain, cancelDrain := context.WithCancelCause(context.Background())
	closing, cancelClosing := context.WithCancelCause(context.Background())
	sd := &shutdown{budget: budget, drain: drain, closing: closing, expired: make(chan struct{}),
		cancels: []context.CancelCauseFunc{cancelDrain, cancelClosing}}
	sd.unwatch = context.AfterFunc(stop, func() {
		sd.mu.Lock()
		defer sd.mu.Unlock()
		if sd.released {
			return
		}
		share := func(f float64) time.Duration { return time.Duration(f * float64(budget)) }
		sd.timers = append(sd.timers,
			time.AfterFunc(share(drainShare), func() { cancelDrain(errShutdownBudget) }),
			time.AfterFunc(share(closeShare), func() { cancelClosing(errShutdownBudget) }),
			time.AfterFunc(budget, func() { close(sd.expired) }))
	})
	return sd
}

// release stops the budget's timers and ends its contexts.
func (sd *shutdown) release() {
	sd.unwatch()
	sd.mu.Lock()
	defer sd.mu.Unlock()
	sd.released = true
	for _, t := range sd.timers {
		t.Stop()
	}
	for _, cancel := range sd.cancels {
		cancel(context.Canceled)
	}
}

// shutdownBudget returns the command's shutdown deadlines: those run started for it, or for a
// command run without run (tests), contexts that never end.
func (c *cli) shutdownBudget() *shutdown {
	if c.shutdown == nil {
		return &shutdown{budget: c.shutdownTimeout, drain: context.Background(), closing: context.Background(), expired: make(chan struct{})}
	}
	return c.shutdown
}

// withDeadlineOf returns ctx, also cancelled when bound ends.
func withDeadlineOf(ctx, bound context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(bound, func() { cancel(context.Cause(bound)) })
	return ctx, func() {
		stop()
		cancel(context.Canceled)
	}
}

func (c *cli) validateShutdown() error {
	if c.shutdownTimeout < 100*time.Millisecond {
		return flagErr("shutdown.timeout", c.shutdownTimeout.String(), "must be at least 100ms")
	}
	return nil
}

// budgetExceeded is the one line printed when the process exits at the end of its budget.
func budgetExceeded(name string, budget time.Duration) string {
	return fmt.Sprintf("hashatlas %s: still running %s after the stop signal (--shutdown.timeout, env HASHATLAS_SHUTDOWN_TIMEOUT): exiting now; input not committed is delivered again at the next start", name, budget)
}
