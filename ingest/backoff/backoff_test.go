package backoff

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

var errFlaky = errors.New("flaky")

func TestStepDoublesFromInitialUpToMax(t *testing.T) {
	p := Policy{Initial: 100 * time.Millisecond, Max: time.Second}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000, 1000}
	for i, w := range want {
		if got := p.Step(i + 1); got != w*time.Millisecond {
			t.Errorf("Step(%d) = %v, want %v", i+1, got, w*time.Millisecond)
		}
	}
	if got := p.Step(1_000_000); got != time.Second {
		t.Errorf("Step(1e6) = %v, want the cap", got)
	}
	// No cap: doubling stops at the largest duration instead of overflowing.
	if got := (Policy{Initial: time.Second}).Step(200); got <= 0 {
		t.Errorf("uncapped Step(200) = %v, want no overflow", got)
	}
	if got := (Policy{Max: time.Second}).Delay(3); got != 0 {
		t.Errorf("Delay with no Initial = %v, want 0 (retry at once)", got)
	}
}

// TestDelayIsTheUpperHalfOfItsStepAndNeverAboveMax: every wait lies in [step/2, step], never
// above Max, and the draws spread over that range (jitter, not a constant).
func TestDelayIsTheUpperHalfOfItsStepAndNeverAboveMax(t *testing.T) {
	p := Policy{Initial: 100 * time.Millisecond, Max: 30 * time.Second}
	for attempt := 1; attempt <= 12; attempt++ {
		step := p.Step(attempt)
		lo, hi := step, time.Duration(0)
		for range 2000 {
			d := p.Delay(attempt)
			if d < step/2 || d > step || d > p.Max {
				t.Fatalf("Delay(%d) = %v, want within [%v, %v] and at most %v", attempt, d, step/2, step, p.Max)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		if lo > step*6/10 || hi < step*9/10 {
			t.Errorf("attempt %d: 2000 draws spread over [%v, %v] only, want most of [%v, %v]", attempt, lo, hi, step/2, step)
		}
	}
}

func TestWaitHonoursRetryAfterCappedAtMax(t *testing.T) {
	p := Policy{Initial: time.Millisecond, Max: 10 * time.Second}
	ctx := context.Background()
	if w, err := p.Wait(ctx, 1, 7*time.Second, errFlaky); err != nil || w != 7*time.Second {
		t.Errorf("Wait with Retry-After 7s = %v, %v; want 7s", w, err)
	}
	if w, err := p.Wait(ctx, 1, time.Hour, errFlaky); err != nil || w != 10*time.Second {
		t.Errorf("Wait with Retry-After 1h = %v, %v; want the 10s cap", w, err)
	}
	if w, err := p.Wait(ctx, 3, 0, errFlaky); err != nil || w < 2*time.Millisecond || w > 4*time.Millisecond {
		t.Errorf("Wait(3) without Retry-After = %v, %v; want the backoff, 2–4 ms", w, err)
	}
}

// TestWaitPastTheDeadline: with Deadline set, a Retry-After past the context's deadline (even
// one Max would cap below it) or a backoff reaching it is refused with a DeadlineError; without,
// the wait is returned.
func TestWaitPastTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p := Policy{Initial: time.Second, Max: 2 * time.Second, Deadline: "the pass deadline", DeadlineSetting: "--pass-timeout"}
		_, err := p.Wait(ctx, 1, 100000*time.Second, errFlaky)
		var de *DeadlineError
		if !errors.As(err, &de) || !de.RetryAfter || de.Wait != 100000*time.Second || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errFlaky) {
			t.Fatalf("Wait with Retry-After past the deadline = %v, want a DeadlineError for it", err)
		}
		for _, want := range []string{"flaky", "27h46m40s (Retry-After)", "past the pass deadline 5s away (--pass-timeout)"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%q does not say %q", err, want)
			}
		}
		if w, err := p.Wait(ctx, 1, 3*time.Second, errFlaky); err != nil || w != 2*time.Second {
			t.Errorf("Wait with Retry-After 3s, 5s left = %v, %v; want the 2s cap", w, err)
		}
		long := Policy{Initial: 10 * time.Second, Max: 10 * time.Second, Deadline: "the pass deadline"}
		if _, err := long.Wait(ctx, 1, 0, errFlaky); !errors.As(err, &de) || de.RetryAfter || !strings.Contains(err.Error(), "would start past the pass deadline") {
			t.Errorf("a backoff of 5–10s with 5s left = %v, want a DeadlineError", err)
		}
		long.Deadline = ""
		if w, err := long.Wait(ctx, 1, 0, errFlaky); err != nil || w < 5*time.Second {
			t.Errorf("without Deadline = %v, %v; want the wait", w, err)
		}
	})
}

func TestRetryStopsAtMaxAttemptsWithTheLastError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := Policy{Initial: 100 * time.Millisecond, Max: time.Second, MaxAttempts: 4}
		var attempts []int
		var waits []time.Duration
		start := time.Now()
		err := p.Retry(context.Background(), func(attempt int) error {
			attempts = append(attempts, attempt)
			return errFlaky
		}, Hooks{OnRetry: func(attempt int, wait time.Duration, err error) {
			if attempt != len(attempts) || err != errFlaky {
				t.Errorf("OnRetry(%d, %v, %v) after attempt %d", attempt, wait, err, len(attempts))
			}
			waits = append(waits, wait)
		}})
		if err != errFlaky || len(attempts) != 4 || len(waits) != 3 {
			t.Fatalf("Retry = %v after attempts %v and waits %v; want errFlaky after 4 attempts and 3 waits", err, attempts, waits)
		}
		var slept time.Duration
		for i, w := range waits {
			if step := p.Step(i + 1); w < step/2 || w > step {
				t.Errorf("wait %d = %v, want within [%v, %v]", i+1, w, step/2, step)
			}
			slept += w
		}
		if took := time.Since(start); took != slept {
			t.Errorf("took %v, want the %v of waits", took, slept)
		}
	})
}

func TestRetrySucceedsAfterFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := 0
		err := Policy{Initial: time.Second, Max: time.Second}.Retry(context.Background(), func(int) error {
			if n++; n < 3 {
				return errFlaky
			}
			return nil
		}, Hooks{})
		if err != nil || n != 3 {
			t.Fatalf("Retry = %v after %d attempts, want nil after 3", err, n)
		}
	})
}

func TestRetryPermanentAndRetryAfterAreUnmarked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := 0
		err := Policy{MaxAttempts: 5}.Retry(context.Background(), func(int) error { n++; return Permanent(errFlaky) }, Hooks{})
		if err != errFlaky || n != 1 {
			t.Fatalf("Retry of a permanent error = %v after %d attempts, want errFlaky after 1", err, n)
		}
		var waits []time.Duration
		n = 0
		err = Policy{Initial: time.Millisecond, Max: time.Minute, MaxAttempts: 2}.Retry(context.Background(), func(int) error {
			n++
			return RetryAfter(errFlaky, 7*time.Second)
		}, Hooks{Sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }})
		if err != errFlaky || n != 2 || len(waits) != 1 || waits[0] != 7*time.Second {
			t.Fatalf("Retry with Retry-After = %v, %d attempts, waits %v; want errFlaky, 2, [7s]", err, n, waits)
		}
		if Permanent(nil) != nil || RetryAfter(nil, time.Second) != nil || RetryAfter(errFlaky, 0) != errFlaky {
			t.Error("Permanent(nil), RetryAfter(nil, …) or RetryAfter(err, 0) marks something")
		}
	})
}

// TestRetryWithoutMaxAttemptsGoesOnUntilTheContextEnds (the estimator's writes): the context's
// end during a wait abandons the retry with both errors; a context ended by the time op returns
// gives op's error.
func TestRetryWithoutMaxAttemptsGoesOnUntilTheContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		n := 0
		start := time.Now()
		err := Policy{Initial: 200 * time.Millisecond, Max: 30 * time.Second}.Retry(ctx, func(int) error { n++; return errFlaky }, Hooks{})
		var ab *AbandonedError
		if !errors.As(err, &ab) || !errors.Is(err, errFlaky) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Retry = %v, want an AbandonedError matching errFlaky and the deadline", err)
		}
		if took := time.Since(start); took != 10*time.Minute || n < 20 {
			t.Errorf("gave up after %v and %d attempts, want at the deadline, 10 min, after 20 or more (30 s apart at most)", took, n)
		}
		if !strings.Contains(err.Error(), "flaky (retry abandoned: context deadline exceeded)") {
			t.Errorf("error %q", err)
		}

		ctx, cancel = context.WithCancel(context.Background())
		n = 0
		err = Policy{Initial: time.Second}.Retry(ctx, func(int) error { n++; cancel(); return errFlaky }, Hooks{})
		if err != errFlaky || n != 1 {
			t.Fatalf("Retry whose context ended during op = %v after %d attempts, want errFlaky after 1", err, n)
		}
	})
}

func TestRetryCancelledDuringAWaitReturnsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		go func() { time.Sleep(1500 * time.Millisecond); cancel() }()
		start := time.Now()
		err := Policy{Initial: time.Hour, Max: time.Hour}.Retry(ctx, func(int) error { return errFlaky }, Hooks{})
		if !errors.Is(err, context.Canceled) || !errors.Is(err, errFlaky) {
			t.Fatalf("Retry = %v, want it abandoned with the cancellation", err)
		}
		if took := time.Since(start); took != 1500*time.Millisecond {
			t.Errorf("returned after %v, want when cancelled (1.5 s), not after the hour's wait", took)
		}
	})
}

func TestRetryAbortedDuringAWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		abort := make(chan struct{})
		go func() { time.Sleep(time.Second); close(abort) }()
		start := time.Now()
		err := Policy{Initial: time.Hour}.Retry(context.Background(), func(int) error { return errFlaky }, Hooks{Abort: abort})
		if err != ErrAborted || time.Since(start) != time.Second {
			t.Fatalf("Retry = %v after %v, want ErrAborted after 1s", err, time.Since(start))
		}
	})
}

func TestRetryGivesUpBeforeADeadlineItCannotMeet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p := Policy{Initial: time.Second, Max: time.Minute, MaxAttempts: 10, Deadline: "the pass deadline"}
		n := 0
		start := time.Now()
		err := p.Retry(ctx, func(int) error { n++; return errFlaky }, Hooks{})
		var de *DeadlineError
		if !errors.As(err, &de) || de.Err != errFlaky {
			t.Fatalf("Retry = %v, want a DeadlineError", err)
		}
		if took := time.Since(start); took >= 5*time.Second || n < 2 {
			t.Errorf("gave up after %v and %d attempts, want before the deadline, after the waits that fit", took, n)
		}
	})
}

func TestSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if err := Sleep(context.Background(), time.Minute, nil); err != nil || time.Since(start) != time.Minute {
			t.Fatalf("Sleep = %v after %v", err, time.Since(start))
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := Sleep(ctx, time.Minute, nil); err != context.Canceled || time.Since(start) != time.Minute {
			t.Fatalf("Sleep on an ended context = %v, want context.Canceled at once", err)
		}
	})
}
