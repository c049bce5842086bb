package estimate

import (
	"context"
	"errors"
	"time"

	"github.com/hashatlas/hashatlas/ingest/backoff"
	"github.com/hashatlas/hashatlas/schemas"
	"github.com/sirupsen/logrus"
)

// Source is the estimator's input log (the blocks and difficulty topics).
type Source interface {
	// Replay calls fn with every input message from the start of the log up to its end as it
	// is when the call begins, and returns how many it read. Messages that cannot be decoded
	// are not passed to fn (the live consumer dead-letters them). fn's error stops the replay.
	Replay(ctx context.Context, fn func(schemas.Message) error) (int, error)
	// Follow consumes the log as a member of the estimator's consumer group from its committed
	// offsets, calling apply for every message in order. Before committing offsets it calls
	// flush, and commits only if flush returned nil. An apply error wrapping *InvalidInput is
	// permanent (dead-letter the message); others are retried. Follow returns when ctx ends.
	Follow(ctx context.Context, apply func(schemas.Message) error, flush func(context.Context) error) error
}

// Run is the estimator's life: rebuild the state by replaying the whole input log, write
// every estimate that results, then (unless untilIdle) follow the log as a consumer-group
// member, flushing estimates before each offset commit. With untilIdle it returns once the
// replayed inputs' estimates are written. Failed flushes are retried with backoff until ctx
// ends: nothing is lost while ClickHouse or Kafka is away.
//
// health (nil: none) records progress for readiness probes.
func Run(ctx context.Context, svc *Service, src Source, untilIdle bool, health *Health, log logrus.FieldLogger) error {
	if health == nil {
		health = NewHealth(nil, 0)
	}
	start := time.Now()
	skipped := 0
	n, err := resumeOrReplay(ctx, svc, src, log)(ctx, func(m schemas.Message) error {
		err := svc.Apply(m)
		var inv *InvalidInput
		if errors.As(err, &inv) {
			skipped++
			return nil
		}
		if err != nil {
			return err
		}
		if svc.RawPending() >= rawFlushEvery {
			return flushRawRetrying(ctx, svc, log)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := flushRetrying(ctx, svc, health, log); err != nil {
		return err
	}
	health.recordRebuilt()
	log.WithFields(logrus.Fields{
		"messages": n, "unusable": skipped, "blocks": svc.Chain().Len(), "tip": svc.Chain().Tip(),
		"duration_seconds": time.Since(start).Seconds(),
	}).Info("state rebuilt from the input topics and estimates written")
	if untilIdle {
		if c, ok := src.(interface{ CommitReplayed(context.Context) error }); ok {
			// Everything replayed is durable now: commit it, so that the next start restores
			// from the store and reads only what follows.
			if err := c.CommitReplayed(ctx); err != nil {
				log.WithError(err).Warn("could not commit the replayed offsets (is an estimator of this group running?): the next start replays the whole input log")
			}
		}
		return nil
	}
	return src.Follow(ctx, svc.Apply, func(ctx context.Context) error {
		_, err := svc.Flush(ctx)
		health.recordFlush(err)
		return err
	})
}

// rawFlushEvery bounds the raw inputs held during a replay: they are written in chunks of this
// many while the state is rebuilt, and the estimates once at the end.
const rawFlushEvery = 50000

// writeRetry is how a failed write is retried: 200 ms after the first failure, doubling up to
// 30 s (each wait drawn from the upper half of its step), until it succeeds or ctx ends.
var writeRetry = backoff.Policy{Initial: 200 * time.Millisecond, Max: 30 * time.Second}

// flushRawRetrying hands the raw inputs to the store in the background (Service.FlushRaw); when
// the previous background write failed (its inputs were taken back), it waits and tries again
// until ctx ends, so that a ClickHouse outage during the rebuild delays the start instead of
// failing it (a restart during an outage would otherwise crash-loop).
func flushRawRetrying(ctx context.Context, svc *Service, log logrus.FieldLogger) error {
	return writeRetry.Retry(ctx, func(int) error { return svc.FlushRaw(ctx) }, backoff.Hooks{
		OnRetry: func(_ int, wait time.Duration, err error) {
			log.WithFields(logrus.Fields{"err": err, "wait_seconds": wait.Seconds()}).Warn("writing raw inputs during the rebuild failed, retrying")
		},
	})
}

func flushRetrying(ctx context.Context, svc *Service, health *Health, log logrus.FieldLogger) error {
	return writeRetry.Retry(ctx, func(int) error {
		_, err := svc.Flush(ctx)
		health.recordFlush(err)
		return err
	}, backoff.Hooks{
		OnRetry: func(_ int, wait time.Duration, err error) {
			log.WithFields(logrus.Fields{"err": err, "wait_seconds": wait.Seconds()}).Warn("writing estimates failed, retrying")
		},
	})
}
