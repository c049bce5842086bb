//go:build !chdb

package clickhouse

import (
	"context"
	"errors"
	"testing"
)

func TestOpenEmbeddedWithoutTheChdbTagSaysHowToGetIt(t *testing.T) {
	cfg := DefaultConfig()
	cfg.EmbeddedDir = t.TempDir()
	_, err := Open(context.Background(), cfg, nil, nil)
	if !errors.Is(err, ErrNoEmbeddedEngine) {
		t.Fatalf("Open() = %v, want ErrNoEmbeddedEngine", err)
	}
}
