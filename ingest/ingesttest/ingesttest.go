// Package ingesttest holds test doubles and helpers shared by the collectors' tests.
package ingesttest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/hashatlas/hashatlas/schemas"
)

// PoolStatsTopic is the pool-stats topic in memory: a recording ingest.Publisher that
// validates what it is given, and the ingest.PoolStatsLog that reads it back. Safe for
// concurrent use.
type PoolStatsTopic struct {
	mu       sync.Mutex
	msgs     []schemas.PoolStats
	batches  int
	failNext error
}

// Publish records the messages (all must be valid schemas.PoolStats) as one batch, or returns
// the error set by FailNext.
func (m *PoolStatsTopic) Publish(_ context.Context, msgs ...schemas.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failNext != nil {
		err := m.failNext
		m.failNext = nil
		return err
	}
	m.batches++
	for _, x := range msgs {
		s, ok := x.(schemas.PoolStats)
		if !ok {
			return errors.New("not a pool-stats message")
		}
		if err := s.Validate(); err != nil {
			return err
		}
		m.msgs = append(m.msgs, s)
	}
	return nil
}

// PoolStats returns the latest message of every key published with source.
func (m *PoolStatsTopic) PoolStats(_ context.Context, source string) ([]schemas.PoolStats, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	latest := map[string]schemas.PoolStats{}
	for _, s := range m.msgs {
		if s.Source == source {
			latest[s.Key()] = s
		}
	}
	out := make([]schemas.PoolStats, 0, len(latest))
	for _, s := range latest {
		out = append(out, s)
	}
	return out, nil
}

// FailNext makes the next Publish return err without recording anything.
func (m *PoolStatsTopic) FailNext(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failNext = err
}

// Batches is the number of successful Publish calls.
func (m *PoolStatsTopic) Batches() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.batches
}

// All returns every message published, in order.
func (m *PoolStatsTopic) All() []schemas.PoolStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]schemas.PoolStats(nil), m.msgs...)
}

// Keys returns the keys of every message published, sorted (repeats included).
func (m *PoolStatsTopic) Keys() []string {
	var out []string
	for _, s := range m.All() {
		out = append(out, s.Key())
	}
	sort.Strings(out)
	return out
}

// Fixture returns the content of testdata/name of the calling package's directory.
func Fixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// ErrorCase checks err against want, a case's expected error: one containing want, or none when
// want is "". It reports whether the case is over (an expected error).
func ErrorCase(t *testing.T, err error, want string) bool {
	t.Helper()
	if want != "" {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("err = %v, want one containing %q", err, want)
		}
		return true
	}
	if err != nil {
		t.Fatal(err)
	}
	return false
}
