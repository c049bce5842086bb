package estimate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
	"github.com/sirupsen/logrus"
)

// GroupLog is the input log as the estimator's consumer group sees it, what Assigned needs.
type GroupLog interface {
	// Partitions lists the partitions of every input topic, in order.
	Partitions(ctx context.Context) (map[string][]int, error)
	// ReplayCommitted calls fn with every input message up to the offsets the group has
	// committed on each partition, in order, and returns how many it read. Messages that
	// cannot be decoded are not passed to fn. fn's error stops the replay.
	ReplayCommitted(ctx context.Context, fn func(schemas.Message) error) (int, error)
}

// Assigned keeps the service's state whole when its consumer group has other members; the
// Source's Follow calls it each time the group assigns this member its partitions (assigned:
// the partitions of each input topic, in order). Holding only part of the input partitions,
// the service writes raw inputs only (SetPartial: its windows would lack the other members'
// new blocks). Holding them all again after that, it rebuilds its state from what the group
// committed (log.ReplayCommitted) before it writes estimates again: what the group committed
// is durable, since raw inputs are written before every commit, and the rest is consumed as a
// member, as new input.
func (s *Service) Assigned(ctx context.Context, log GroupLog, assigned map[string][]int) error {
	all, err := log.Partitions(ctx)
	if err != nil {
		return err
	}
	switch {
	case !holdsAll(all, assigned):
		if !s.Partial() {
			s.log.WithField("assigned", assigned).Warn("this estimator holds only part of the input partitions (another instance shares its group): writing raw inputs only until it holds them all again")
		}
		s.SetPartial(true)
	case s.Partial():
		start := time.Now()
		s.Reset()
		n, err := log.ReplayCommitted(ctx, func(m schemas.Message) error {
			if err := s.Apply(m); err != nil && !errors.As(err, new(*InvalidInput)) {
				return err
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("rebuild the estimator state: %w", err)
		}
		s.DropRebuiltRaw()
		s.SetPartial(false)
		s.log.WithFields(logrus.Fields{"messages": n, "duration_seconds": time.Since(start).Seconds()}).Info("holding every input partition again: state rebuilt from the input topics")
	}
	return nil
}

// holdsAll reports whether assigned is every partition of every topic in all.
func holdsAll(all, assigned map[string][]int) bool {
	for t, parts := range all {
		if !slices.Equal(parts, assigned[t]) {
			return false
		}
	}
	for t, parts := range assigned {
		if _, ok := all[t]; !ok && len(parts) > 0 {
			return false
		}
	}
	return true
}
