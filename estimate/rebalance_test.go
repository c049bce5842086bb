package estimate

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hashatlas/hashatlas/schemas"
)

// groupLog is a GroupLog holding what the group committed.
type groupLog struct {
	parts     map[string][]int
	committed []schemas.Message
	partsErr  error
	replayErr error
	replays   int
}

func (l *groupLog) Partitions(context.Context) (map[string][]int, error) { return l.parts, l.partsErr }

func (l *groupLog) ReplayCommitted(ctx context.Context, fn func(schemas.Message) error) (int, error) {
	l.replays++
	if l.replayErr != nil {
		return 0, l.replayErr
	}
	for i, m := range l.committed {
		if err := fn(m); err != nil {
			return i, err
		}
	}
	return len(l.committed), nil
}

// TestAssignedWritesRawOnlyWhileSharingAndRebuildsFromTheCommitsWhenWholeAgain: a member given
// part of the partitions goes partial (raw inputs only); given them all again, it rebuilds its
// state from what the group committed — others' blocks included — keeps its own unwritten raw
// inputs and does not write the rebuilt ones again.
func TestAssignedWritesRawOnlyWhileSharingAndRebuildsFromTheCommitsWhenWholeAgain(t *testing.T) {
	ctx := context.Background()
	store := &recordingStore{}
	s := newTestService(store, nil)
	log := &groupLog{parts: map[string][]int{schemas.TopicBlocks: {0, 1, 2}, schemas.TopicDifficulty: {0}}}
	for h := int64(1000); h < 1003; h++ {
		log.committed = append(log.committed, block(t, h, int(h-1000)*10, "alpha"))
	}
	for h := int64(1003); h < 1006; h++ { // consumed by the other member and committed
		log.committed = append(log.committed, block(t, h, int(h-1000)*10, "beta"))
	}

	// The whole assignment at the start: nothing to do.
	if err := s.Assigned(ctx, log, map[string][]int{schemas.TopicBlocks: {0, 1, 2}, schemas.TopicDifficulty: {0}}); err != nil || s.Partial() || log.replays != 0 {
		t.Fatalf("whole assignment: err %v, partial %v, %d replays; want nothing done", err, s.Partial(), log.replays)
	}
	for _, m := range log.committed[:3] {
		if err := s.Apply(m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// A second member joins: this one keeps partition 0 of the blocks.
	if err := s.Assigned(ctx, log, map[string][]int{schemas.TopicBlocks: {0}, schemas.TopicDifficulty: {0}}); err != nil || !s.Partial() {
		t.Fatalf("part of the partitions: err %v, partial %v; want partial", err, s.Partial())
	}
	own := block(t, 1006, 60, "alpha") // applied here, not written yet
	if err := s.Apply(own); err != nil {
		t.Fatal(err)
	}
	// A topic missing from the assignment is part of it too.
	if err := s.Assigned(ctx, log, map[string][]int{schemas.TopicBlocks: {0, 1, 2}}); err != nil || !s.Partial() || log.replays != 0 {
		t.Fatalf("without the difficulty topic: err %v, partial %v, %d replays; want still partial", err, s.Partial(), log.replays)
	}

	// It leaves: this member holds everything again.
	if err := s.Assigned(ctx, log, map[string][]int{schemas.TopicBlocks: {0, 1, 2}, schemas.TopicDifficulty: {0}}); err != nil {
		t.Fatal(err)
	}
	if s.Partial() || log.replays != 1 {
		t.Fatalf("whole again: partial %v after %d replays; want whole after 1", s.Partial(), log.replays)
	}
	if n, tip := s.Chain().Len(), s.Chain().Tip(); n != 6 || tip != 1005 {
		t.Errorf("rebuilt chain: %d blocks up to %d, want the 6 committed, 1000–1005", n, tip)
	}
	if n := s.RawPending(); n != 1 {
		t.Errorf("%d raw inputs pending, want only the one applied before the rebuild (the rebuilt ones are stored)", n)
	}
}

func TestAssignedFailures(t *testing.T) {
	ctx := context.Background()
	s := newTestService(&recordingStore{}, nil)
	boom := errors.New("broker away")
	log := &groupLog{partsErr: boom}
	if err := s.Assigned(ctx, log, nil); !errors.Is(err, boom) {
		t.Fatalf("Assigned with the partitions unknown = %v, want %v", err, boom)
	}
	log = &groupLog{parts: map[string][]int{schemas.TopicBlocks: {0, 1}}}
	if err := s.Assigned(ctx, log, map[string][]int{schemas.TopicBlocks: {1}}); err != nil || !s.Partial() {
		t.Fatalf("partial: %v", err)
	}
	log.replayErr = boom
	err := s.Assigned(ctx, log, map[string][]int{schemas.TopicBlocks: {0, 1}})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "rebuild the estimator state") || !s.Partial() {
		t.Fatalf("a failed rebuild = %v, partial %v; want its error and still partial", err, s.Partial())
	}
}
