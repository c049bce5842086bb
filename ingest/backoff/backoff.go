// Package backoff is hashatlas's one retry policy: every client that retries a failed call —
// the HTTP collectors (ingest), the bitcoind RPC client, the Kafka consumer's handler, the
// ClickHouse writer and the estimator's writes — waits by it and retries through Retry.
//
// The policy: the wait after failed attempt n is Initial·2^(n−1), at most Max, of which the
// upper half is drawn at random ("equal jitter", uniform in [d/2, d]): clients that failed
// together do not come back together, no wait is shorter than half its step, and none exceeds
// Max. A server's Retry-After replaces the step, capped at Max like any wait. MaxAttempts bounds
// the attempts (0: none but the context's end). With Deadline set, a wait that would reach the
// context's deadline is not slept: Retry gives up at once with a *DeadlineError, since asking
// again after the deadline is impossible and asking before the server said to is pointless.
//
// Why not a library: github.com/cenkalti/backoff (v4 and v5), the well-kept one, was the first
// choice, and it does not fit three of the five uses. Its MaxInterval caps the step before the
// randomisation, so a wait can exceed the cap by the randomisation factor (the collectors
// promise that MaxBackoff caps every wait, Retry-After included); v5's Retry-After
// (RetryAfterError) is not capped at all and is never checked against the context's deadline —
// v5 only knows a MaxElapsedTime counted from the first attempt, 15 minutes unless disabled —
// so a collector would sleep into its pass deadline instead of ending the pass with the
// reason; and a wait ends only with the context, whereas the Kafka consumer must drop a
// record's retries as soon as its group rebalances without cancelling the context the handler
// runs in. github.com/sethvargo/go-retry and github.com/avast/retry-go cannot refuse a wait
// that would pass the deadline either. What the five need is small enough to own: this file.
//
// It lives under ingest (the collectors are most of its users) because the repository's top level
// is fixed (cmd, ingest, estimate, sinks, schemas, deploy): a top-level internal/ is not among
// them. It imports nothing of hashatlas, so sinks and estimate may import it without a cycle.
package backoff

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Policy is how a caller retries. Its zero Initial retries at once; its zero Max caps nothing.
type Policy struct {
	// Initial is the step after the first failed attempt; it doubles after each further one.
	Initial time.Duration
	// Max caps every wait, a server's Retry-After included (0: no cap).
	Max time.Duration
	// MaxAttempts is how many attempts are made in all, the first included (0: no limit; Retry
	// goes on until the call succeeds, fails permanently or the context ends).
	MaxAttempts int
	// Deadline, when not empty, names the context's deadline in errors ("the pass deadline"),
	// and makes Retry give up with a *DeadlineError instead of sleeping into it. Empty: waits
	// are slept until the context ends, whatever its deadline.
	Deadline string
	// DeadlineSetting names the setting that bounds that deadline ("--pass-timeout, env
	// HASHATLAS_PASS_TIMEOUT"), for the error.
	DeadlineSetting string
}

// Step is the wait after failed attempt n (n ≥ 1) before jitter: Initial·2^(n−1), at most Max.
func (p Policy) Step(attempt int) time.Duration {
	d := max(p.Initial, 0)
	for i := 1; i < attempt && d > 0 && (p.Max <= 0 || d < p.Max); i++ {
		if d > math.MaxInt64/2 {
			d = math.MaxInt64
			break
		}
		d *= 2
	}
	if p.Max > 0 {
		d = min(d, p.Max)
	}
	return d
}

// Delay is the wait after failed attempt n (n ≥ 1): Step(n) less a random part of up to half
// of it, uniformly in [Step/2, Step].
func (p Policy) Delay(attempt int) time.Duration {
	d := p.Step(attempt)
	if d <= 0 {
		return 0
	}
	return d - rand.N(d/2+1)
}

// Wait is the wait after failed attempt n, whose failure came with the server's retryAfter (0:
// none): retryAfter capped at Max, or else Delay(n). With Deadline set and a deadline on ctx,
// a wait that would reach the deadline, or a retryAfter (uncapped: the server's own word) that
// is past it, is refused with a *DeadlineError wrapping failure.
func (p Policy) Wait(ctx context.Context, attempt int, retryAfter time.Duration, failure error) (time.Duration, error) {
	wait := p.Delay(attempt)
	if retryAfter > 0 {
		wait = retryAfter
		if p.Max > 0 {
			wait = min(wait, p.Max)
		}
	}
	if p.Deadline == "" {
		return wait, nil
	}
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		switch {
		case retryAfter > 0 && retryAfter >= left:
			return 0, &DeadlineError{Err: failure, Wait: retryAfter, RetryAfter: true, Left: left, Deadline: p.Deadline, Setting: p.DeadlineSetting}
		case wait >= left:
			return 0, &DeadlineError{Err: failure, Wait: wait, Left: left, Deadline: p.Deadline, Setting: p.DeadlineSetting}
		}
	}
	return wait, nil
}

// Hooks are what one Retry call does besides calling and waiting; every field is optional.
type Hooks struct {
	// OnRetry is called before each wait with the attempt that failed, the wait and its error
	// (to log it, count it).
	OnRetry func(attempt int, wait time.Duration, err error)
	// Abort, when closed during a wait, ends Retry with ErrAborted (the Kafka consumer: its
	// group rebalanced) without ending the context the call runs in.
	Abort <-chan struct{}
	// Sleep replaces the wait (tests record the waits instead); Abort is then not watched.
	Sleep func(ctx context.Context, d time.Duration) error
}

// ErrAborted is Retry's error when Hooks.Abort closed during a wait.
var ErrAborted = errors.New("retry aborted")

// Retry calls op with attempt = 1, 2, … until it returns nil, and then returns nil. op marks an
// error that retrying cannot cure with Permanent, and passes a server's Retry-After with
// RetryAfter. Retry gives up and returns:
//   - err, when op returned Permanent(err);
//   - op's last error, when it was attempt MaxAttempts or ctx had ended when op returned;
//   - a *DeadlineError (Deadline set) when the next wait would reach ctx's deadline;
//   - an *AbandonedError holding op's last error and ctx's, when ctx ended during a wait;
//   - ErrAborted, when Hooks.Abort closed during a wait.
func (p Policy) Retry(ctx context.Context, op func(attempt int) error, h Hooks) error {
	for attempt := 1; ; attempt++ {
		err := op(attempt)
		if err == nil {
			return nil
		}
		var retryAfter time.Duration
		if ra, ok := err.(*retryAfterError); ok {
			err, retryAfter = ra.err, ra.wait
		}
		if pe, ok := err.(*permanentError); ok {
			return pe.err
		}
		if ctx.Err() != nil || p.MaxAttempts > 0 && attempt >= p.MaxAttempts {
			return err
		}
		wait, derr := p.Wait(ctx, attempt, retryAfter, err)
		if derr != nil {
			return derr
		}
		if h.OnRetry != nil {
			h.OnRetry(attempt, wait, err)
		}
		var serr error
		if h.Sleep != nil {
			serr = h.Sleep(ctx, wait)
		} else {
			serr = Sleep(ctx, wait, h.Abort)
		}
		switch {
		case errors.Is(serr, ErrAborted):
			return ErrAborted
		case serr != nil:
			return &AbandonedError{Err: err, Cause: serr}
		}
	}
}

// Sleep waits d, or until ctx ends (ctx's error) or abort closes (ErrAborted); abort may be nil.
func Sleep(ctx context.Context, d time.Duration, abort <-chan struct{}) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-abort:
		return ErrAborted
	case <-t.C:
		return nil
	}
}

// Permanent marks err as one that retrying cannot cure: Retry returns it (unmarked) at once.
// Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// RetryAfter passes, with err, the server's word on how long to wait before asking again (its
// Retry-After; 0 or less: none, and err is returned as it is). Retry waits that long, capped at
// Max, and returns err unmarked if it gives up.
func RetryAfter(err error, wait time.Duration) error {
	if err == nil || wait <= 0 {
		return err
	}
	return &retryAfterError{err, wait}
}

type retryAfterError struct {
	err  error
	wait time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// AbandonedError is a retry given up because the context ended during the wait before it. It
// matches both the last failure and the context's error (errors.Is, errors.As).
type AbandonedError struct {
	Err   error // the last failure
	Cause error // the context's error
}

func (e *AbandonedError) Error() string {
	return fmt.Sprintf("%v (retry abandoned: %v)", e.Err, e.Cause)
}

func (e *AbandonedError) Unwrap() []error { return []error{e.Err, e.Cause} }

// DeadlineError is a retryable failure that is not retried because the wait before the next
// attempt would reach the context's deadline: a Retry-After longer than what is left, or a
// backoff that is. It matches context.DeadlineExceeded (errors.Is), like a call cut off by its
// deadline, and unwraps to the failure.
type DeadlineError struct {
	Err        error         // the last failure
	Wait       time.Duration // the wait that did not fit
	RetryAfter bool          // Wait is the server's Retry-After
	Left       time.Duration // what was left until the deadline
	Deadline   string        // what the deadline is ("the pass deadline")
	Setting    string        // the setting that bounds it, if any
}

func (e *DeadlineError) Error() string {
	left := e.Left.Round(time.Millisecond)
	name := e.Deadline
	if name == "" {
		name = "the deadline"
	}
	setting := ""
	if e.Setting != "" {
		setting = " (" + e.Setting + ")"
	}
	if e.RetryAfter {
		return fmt.Sprintf("%v; not retried: the server asks to wait %v (Retry-After), past %s %v away%s",
			e.Err, e.Wait, name, left, setting)
	}
	return fmt.Sprintf("%v; not retried: the next attempt, %v from now, would start past %s %v away%s",
		e.Err, e.Wait.Round(time.Millisecond), name, left, setting)
}

func (e *DeadlineError) Unwrap() error { return e.Err }

// Is makes a DeadlineError match context.DeadlineExceeded.
func (e *DeadlineError) Is(target error) bool { return target == context.DeadlineExceeded }
