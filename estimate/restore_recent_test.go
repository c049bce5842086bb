package estimate

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
	"github.com/sirupsen/logrus"
)

// hourlyHistory runs days of blocks, one an hour from t0 and pools taking turns, through a
// service and returns the blocks and the whole checkpoint a store holding its results would
// give back.
func hourlyHistory(t *testing.T, days int) ([]schemas.Block, *Checkpoint) {
	t.Helper()
	first := newTestService(&recordingStore{}, nil)
	var blocks []schemas.Block
	for h := range days * 24 {
		b := block(t, int64(h), h*60, []string{"alpha", "beta", "gamma"}[h%3])
		blocks = append(blocks, b)
		if err := first.Apply(b); err != nil {
			t.Fatal(err)
		}
	}
	r, err := first.Flush(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return blocks, checkpointOf(first, r.Network)
}

// recentOf is what a store holding whole gives back from from on (CheckpointStore.Checkpoint).
func recentOf(whole *Checkpoint, from time.Time) *Checkpoint {
	cp := &Checkpoint{From: from, Stored: map[Window]StoredWindow{}}
	for _, b := range whole.Blocks {
		if !b.Time.Before(from) {
			cp.Blocks = append(cp.Blocks, b)
		}
	}
	for w, sw := range whole.Stored {
		if !w.Start.Before(from) {
			cp.Stored[w] = sw
		}
	}
	return cp
}

// cloneCheckpoint is a copy of cp a restore may reorder.
func cloneCheckpoint(cp *Checkpoint) *Checkpoint {
	c := *cp
	c.Blocks = slices.Clone(cp.Blocks)
	return &c
}

// afterWholeRestore is what a service restored from the whole checkpoint writes after input.
func afterWholeRestore(t *testing.T, whole *Checkpoint, input schemas.Block) Results {
	t.Helper()
	ref := newTestService(&recordingStore{}, nil)
	if _, err := ref.Restore(cloneCheckpoint(whole)); err != nil {
		t.Fatal(err)
	}
	if err := ref.Apply(input); err != nil {
		t.Fatal(err)
	}
	want, err := ref.Flush(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// sameWindows fails unless got and want computed the same windows with the same inputs and
// hashrate, and the same chain-stress rows.
func sameWindows(t *testing.T, got, want Results) {
	t.Helper()
	g, w := windowsOf(got.Network), windowsOf(want.Network)
	if len(g) != len(w) || len(g) == 0 {
		t.Fatalf("%d windows recomputed, want %d (non-zero)", len(g), len(w))
	}
	for k, n := range w {
		if o, ok := g[k]; !ok || o.InputsDigest != n.InputsDigest || o.Hashrate != n.Hashrate || o.Final != n.Final {
			t.Errorf("window %s: %+v, want %+v", k, o, n)
		}
	}
	if len(got.ChainStress) != len(want.ChainStress) || len(got.Countries) != len(want.Countries) {
		t.Errorf("%d chain-stress and %d country rows, want %d and %d", len(got.ChainStress), len(got.Countries), len(want.ChainStress), len(want.Countries))
	}
}

// TestRestoreRecentLoadsTheHistoryOnlyWhenAnInputChangesTheState (issue 17, restart in O(1) of
// the history): restored from the recent weeks of a 130-day history, a service holds only those
// blocks; inputs it holds already (the uncommitted tail a restart replays) change nothing and
// load nothing. A new block, and a replaced block older than the recent part, each load the
// whole history first — once — and give exactly the results of a service restored whole.
func TestRestoreRecentLoadsTheHistoryOnlyWhenAnInputChangesTheState(t *testing.T) {
	blocks, whole := hourlyHistory(t, 130)
	last := blocks[len(blocks)-1]
	from := RestoreHorizon(last.Time)
	if d := last.Time.Sub(from); d < RecentDays*24*time.Hour || d > 7*7*24*time.Hour {
		t.Fatalf("horizon %s is %s before the last block, want 7 days to 7 weeks", from, d)
	}
	if WindowOf(Month, from).Start.Equal(from) {
		t.Fatalf("horizon %s starts a month: the history should end where the recent part holds the end of a month only", from)
	}
	for _, tc := range []struct {
		name  string
		input schemas.Block
	}{
		{"a new block", block(t, last.Height+1, int(last.Height+1)*60, "alpha")},
		{"an old block replaced", block(t, 5, 5*60, "delta")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loads := 0
			svc := newTestService(&recordingStore{}, nil)
			st, err := svc.RestoreRecent(recentOf(whole, from), func() (*Checkpoint, error) {
				loads++
				return cloneCheckpoint(whole), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if st.Stale != 0 || st.Blocks == 0 || st.Blocks >= len(blocks)/2 || svc.Chain().Len() != st.Blocks {
				t.Fatalf("recent restore: %+v, %d blocks held; want the recent part of %d, none stale", st, svc.Chain().Len(), len(blocks))
			}
			for _, b := range blocks[len(blocks)-48:] {
				if err := svc.Apply(b); err != nil {
					t.Fatal(err)
				}
			}
			if r, err := svc.Flush(context.Background()); err != nil || !r.Empty() || loads != 0 {
				t.Fatalf("replaying blocks the state holds: wrote %d windows, %d raw (err %v), loaded the history %d times", len(r.Network), len(r.Raw), err, loads)
			}

			if err := svc.Apply(tc.input); err != nil {
				t.Fatal(err)
			}
			if loads != 1 || svc.Chain().Len() < len(blocks) {
				t.Fatalf("after %s: loaded the history %d times, %d blocks held", tc.name, loads, svc.Chain().Len())
			}
			got, err := svc.Flush(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := afterWholeRestore(t, whole, tc.input)
			sameWindows(t, got, want)
			if len(got.Raw) != 1 || len(got.Orphans) != len(want.Orphans) {
				t.Errorf("%d raw inputs and %d orphans written, want 1 and %d", len(got.Raw), len(got.Orphans), len(want.Orphans))
			}
			if err := svc.Apply(block(t, last.Height+2, int(last.Height+2)*60, "beta")); err != nil || loads != 1 {
				t.Errorf("a second change loaded the history again (%d loads, err %v)", loads, err)
			}
		})
	}
}

// TestRestoreRecentWithAStaleWindowLoadsTheHistoryAtOnce: when a recent window's stored
// estimate does not match its blocks (a write cut short), RestoreRecent loads the whole history
// before returning — that window is recomputed at the next Flush, with the signals and chain
// stress of all days — and the Flush recomputes that window alone. A failed load is returned.
func TestRestoreRecentWithAStaleWindowLoadsTheHistoryAtOnce(t *testing.T) {
	blocks, whole := hourlyHistory(t, 130)
	from := RestoreHorizon(blocks[len(blocks)-1].Time)
	recent := recentOf(whole, from)
	stale := WindowOf(Day, from.AddDate(0, 0, 3))
	whole.Stored[stale] = StoredWindow{Digest: "cut short", Final: whole.Stored[stale].Final}
	recent.Stored[stale] = whole.Stored[stale]

	if _, err := newTestService(&recordingStore{}, nil).RestoreRecent(cloneCheckpoint(recent), func() (*Checkpoint, error) {
		return nil, errors.New("store away")
	}); err == nil {
		t.Fatal("a failed load of the history was not returned")
	}
	loads := 0
	svc := newTestService(&recordingStore{}, nil)
	st, err := svc.RestoreRecent(recent, func() (*Checkpoint, error) { loads++; return cloneCheckpoint(whole), nil })
	if err != nil {
		t.Fatal(err)
	}
	if loads != 1 || st.Stale != 1 || st.Blocks != len(blocks) {
		t.Fatalf("restore with a stale recent window: %d loads, %+v; want the whole history loaded, 1 stale", loads, st)
	}
	r, err := svc.Flush(context.Background())
	if err != nil || len(r.Network) != 1 || r.Network[0].Window != stale {
		t.Fatalf("recomputed %d windows (err %v), want the stale day %s", len(r.Network), err, stale)
	}
}

// TestGridStateChangesIsWhatAddWouldChange: Changes is true exactly for the hourly demand and
// emergency observations Add would store anew.
func TestGridStateChangesIsWhatAddWouldChange(t *testing.T) {
	g := NewGridState()
	o := schemas.GridObservation{Region: "ERCO", Country: "US", Time: t0, IntervalSeconds: 3600, Metric: schemas.GridDemand, Value: 40000}
	daily := o
	daily.IntervalSeconds = 86400
	other := o
	other.Value = 41000
	for _, c := range []struct {
		o    schemas.GridObservation
		want bool
	}{{o, true}, {daily, false}} {
		if got := g.Changes(c.o); got != c.want || g.Add(c.o) != c.want {
			t.Errorf("Changes(%+v) = %v, want %v as Add", c.o, got, c.want)
		}
	}
	if g.Changes(o) || !g.Changes(other) {
		t.Errorf("after Add: Changes of the same observation %v, of another value %v", g.Changes(o), g.Changes(other))
	}
}

// checkpointingStore holds a whole checkpoint and gives back what a store would (Checkpoint,
// BlockSpan), recording where each checkpoint it gave started.
type checkpointingStore struct {
	recordingStore
	whole *Checkpoint
	froms []time.Time
}

func (s *checkpointingStore) Checkpoint(_ context.Context, _ string, from time.Time) (*Checkpoint, error) {
	s.froms = append(s.froms, from)
	if from.IsZero() {
		return cloneCheckpoint(s.whole), nil
	}
	return recentOf(s.whole, from), nil
}

func (s *checkpointingStore) BlockSpan(context.Context) (first, last time.Time, ok bool, err error) {
	for i, b := range s.whole.Blocks {
		if i == 0 || b.Time.Before(first) {
			first = b.Time
		}
		if b.Time.After(last) {
			last = b.Time
		}
	}
	return first, last, len(s.whole.Blocks) > 0, nil
}

// resumableLog is a ResumableSource over messages of which the first committed are committed;
// CheckCheckpoint accepts a checkpoint holding the last committed block.
type resumableLog struct {
	msgs      []schemas.Message
	committed int
}

func (l *resumableLog) Replay(_ context.Context, fn func(schemas.Message) error) (int, error) {
	return l.from(0, fn)
}

func (l *resumableLog) ReplayUncommitted(_ context.Context, fn func(schemas.Message) error) (int, error) {
	return l.from(l.committed, fn)
}

func (l *resumableLog) from(i int, fn func(schemas.Message) error) (int, error) {
	for _, m := range l.msgs[i:] {
		if err := fn(m); err != nil {
			return 0, err
		}
	}
	return len(l.msgs) - i, nil
}

func (l *resumableLog) Follow(context.Context, func(schemas.Message) error, func(context.Context) error) error {
	return errors.New("not followed")
}

func (l *resumableLog) CheckCheckpoint(_ context.Context, cp *Checkpoint) error {
	b := l.msgs[l.committed-1].(schemas.Block)
	for _, h := range cp.Blocks {
		if h.Height == b.Height && h.Hash == b.Hash {
			return nil
		}
	}
	return errors.New("the last committed block is not in the checkpoint")
}

// TestRunRestartsFromTheRecentCheckpoint: Run reads the store's recent checkpoint (from
// RestoreHorizon) and no other when nothing new came; the whole one when the recent one lacks
// the last committed block, or when a new block arrives (the history is loaded before it is
// applied) — and with a new block it writes what a whole restore writes.
func TestRunRestartsFromTheRecentCheckpoint(t *testing.T) {
	blocks, whole := hourlyHistory(t, 130)
	horizon := RestoreHorizon(blocks[len(blocks)-1].Time)
	msgs := make([]schemas.Message, len(blocks))
	for i, b := range blocks {
		msgs[i] = b
	}
	next := block(t, int64(len(blocks)), len(blocks)*60, "alpha")
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	for _, tc := range []struct {
		name      string
		msgs      []schemas.Message
		committed int
		froms     []time.Time
	}{
		{"nothing new", msgs, len(msgs) - 10, []time.Time{horizon}},
		{"committed before the recent weeks", msgs, 24, []time.Time{horizon, {}}},
		{"a new block", append(slices.Clone(msgs), next), len(msgs), []time.Time{horizon, {}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &checkpointingStore{whole: whole}
			svc := newTestService(store, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := Run(ctx, svc, &resumableLog{msgs: tc.msgs, committed: tc.committed}, true, nil, log); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(store.froms, tc.froms) {
				t.Fatalf("checkpoints read from %v, want %v", store.froms, tc.froms)
			}
			if len(tc.msgs) == len(msgs) {
				if len(store.writes) != 0 {
					t.Fatalf("wrote %d results with nothing new", len(store.writes))
				}
				return
			}
			if len(store.writes) != 1 {
				t.Fatalf("%d writes, want 1", len(store.writes))
			}
			sameWindows(t, store.writes[0], afterWholeRestore(t, whole, next))
		})
	}
}

// TestAFailedLoadOfTheHistoryIsTriedAgain: when loading the whole history fails — the store
// away, or a checkpoint the chain refuses — the input that needed it is refused with the error
// (not as invalid input: it is retried) and nothing is computed; the next try loads it afresh
// and gives a whole restore's results.
func TestAFailedLoadOfTheHistoryIsTriedAgain(t *testing.T) {
	blocks, whole := hourlyHistory(t, 130)
	last := blocks[len(blocks)-1]
	bad := cloneCheckpoint(whole)
	bad.Blocks[len(bad.Blocks)/2].Work = 0
	loads := []func() (*Checkpoint, error){
		func() (*Checkpoint, error) { return nil, errors.New("store away") },
		func() (*Checkpoint, error) { return bad, nil },
		func() (*Checkpoint, error) { return cloneCheckpoint(whole), nil },
	}
	n := 0
	svc := newTestService(&recordingStore{}, nil)
	if _, err := svc.RestoreRecent(recentOf(whole, RestoreHorizon(last.Time)), func() (*Checkpoint, error) { n++; return loads[n-1]() }); err != nil {
		t.Fatal(err)
	}
	next := block(t, last.Height+1, int(last.Height+1)*60, "alpha")
	for i := range 2 {
		var inv *InvalidInput
		if err := svc.Apply(next); err == nil || errors.As(err, &inv) {
			t.Fatalf("load %d failed, Apply returned %v; want the load's error", i+1, err)
		}
		if r, err := svc.Flush(context.Background()); err == nil && len(r.Network) > 0 {
			t.Fatalf("after failed load %d, a Flush computed %d windows", i+1, len(r.Network))
		}
	}
	if err := svc.Apply(next); err != nil || n != 3 {
		t.Fatalf("the third load: %v after %d loads", err, n)
	}
	got, err := svc.Flush(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sameWindows(t, got, afterWholeRestore(t, whole, next))
}
