//go:build !chdb

package clickhouse

import (
	"context"
)

// EmbeddedEngine describes the embedded engine linked into this binary: here, none.
func EmbeddedEngine() string { return "none (built without -tags chdb)" }

func openEmbedded(context.Context, Config) (backend, error) {
	return nil, ErrNoEmbeddedEngine
}
